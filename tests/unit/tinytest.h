/*
 * tinytest.h - the smallest test harness that says what failed.
 *
 * CHECK(cond) records a failure with file:line and the expression and goes
 * on; REQUIRE(cond) also returns from the current test function.  Each test
 * is a void function run with RUN(fn).  TT_DONE() prints the closing line
 * "N passed, M failed" and yields the exit status.
 */
#ifndef TINYTEST_H
#define TINYTEST_H
#include <stdio.h>
#include <string.h>

static int tt_failed_checks;
static int tt_tests_passed, tt_tests_failed;

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	tt_failed_checks++; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long tt_a = (long long)(a), tt_b = (long long)(b); \
	if (tt_a != tt_b) { fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", \
	__FILE__, __LINE__, #a, #b, tt_a, tt_b); tt_failed_checks++; } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { \
	fprintf(stderr, "  FAIL %s:%d: %s (required)\n", __FILE__, __LINE__, #cond); \
	tt_failed_checks++; return; } } while (0)
#define RUN(fn) do { int tt_before = tt_failed_checks; \
	fprintf(stderr, "test %s\n", #fn); fn(); \
	if (tt_failed_checks == tt_before) tt_tests_passed++; \
	else { tt_tests_failed++; fprintf(stderr, "  -> %s FAILED\n", #fn); } } while (0)
#define TT_DONE() (printf("%d passed, %d failed\n", tt_tests_passed, tt_tests_failed), \
	tt_tests_failed ? 1 : 0)
#endif
