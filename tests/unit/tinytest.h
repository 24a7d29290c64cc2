/*
 * tinytest.h - the smallest test harness that says what failed.
 *
 * CHECK(cond) records a failure with file:line and the expression and goes
 * on; REQUIRE(cond) also returns from the current test function.  Each test
 * is a void function run with RUN(fn).  TT_DONE() prints the closing line
 * "N passed, M failed" and yields the exit status.
 *
 * Choosing cases: main(int argc, char **argv) starts with TT_INIT(argc,
 * argv).  Case names on the command line (or in $TT_ONLY, separated by
 * spaces or commas) run only the cases they name; the rest are skipped and
 * counted neither as passed nor as failed.  A name is a case's function
 * name, with or without its "test_" prefix, or an fnmatch(3) pattern
 * ("test_recover_*").  A name that matches no case fails the run ("no such
 * case").  --list prints the case names and runs nothing.
 *   build/tests/unit/test_engine test_framing test_retention_time
 *   TT_ONLY=test_framing build/tests/unit/test_engine
 *   build/tests/unit/test_engine --list
 */
#ifndef TINYTEST_H
#define TINYTEST_H
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tt_failed_checks;
static int tt_tests_passed, tt_tests_failed, tt_tests_skipped;

#define TT_MAX_SELECT 64
static const char *tt_select[TT_MAX_SELECT];   /* names asked for */
static int tt_select_hits[TT_MAX_SELECT];      /* cases each one matched */
static int tt_nselect;
static int tt_list_only;
static char *tt_only_copy;                     /* $TT_ONLY, split in place */

static inline void tt_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [--list] [CASE...]   (or TT_ONLY=\"CASE...\")\n"
	        "  CASE: a test function name, with or without \"test_\", or a "
	        "fnmatch pattern\n", prog);
}

static inline void tt_add_select(const char *prog, const char *name)
{
	if (tt_nselect == TT_MAX_SELECT) {
		fprintf(stderr, "%s: more than %d case names\n", prog, TT_MAX_SELECT);
		exit(2);
	}
	tt_select[tt_nselect++] = name;
}

/* Reads the case names (argv[1..], else $TT_ONLY) and --list. */
static inline void tt_init(int argc, char **argv)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : "test";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--list") == 0 || strcmp(argv[i], "-l") == 0)
			tt_list_only = 1;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			tt_usage(prog);
			exit(0);
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "%s: unknown option %s\n", prog, argv[i]);
			tt_usage(prog);
			exit(2);
		} else
			tt_add_select(prog, argv[i]);
	}
	const char *env = getenv("TT_ONLY");
	if (tt_nselect == 0 && env && *env) {
		tt_only_copy = strdup(env);
		if (!tt_only_copy) {
			perror("strdup");
			exit(2);
		}
		char *save = NULL;
		for (char *t = strtok_r(tt_only_copy, " ,\t\n", &save); t;
		     t = strtok_r(NULL, " ,\t\n", &save))
			tt_add_select(prog, t);
	}
}

/* Whether case fn (its function name) is to run; counts the match. */
static inline int tt_selected(const char *fn)
{
	if (tt_nselect == 0)
		return 1;
	int any = 0;
	for (int i = 0; i < tt_nselect; i++) {
		const char *s = tt_select[i];
		int hit = fnmatch(s, fn, 0) == 0 ||
		          (strncmp(fn, "test_", 5) == 0 && fnmatch(s, fn + 5, 0) == 0);
		if (hit) {
			tt_select_hits[i]++;
			any = 1;
		}
	}
	return any;
}

static inline int tt_done(void)
{
	int unknown = 0;
	for (int i = 0; i < tt_nselect; i++)
		if (!tt_select_hits[i]) {
			fprintf(stderr, "no such case: %s\n", tt_select[i]);
			unknown++;
		}
	free(tt_only_copy);
	tt_only_copy = NULL;
	if (tt_list_only)
		return unknown ? 1 : 0;
	if (tt_tests_skipped)
		fprintf(stderr, "(%d not selected)\n", tt_tests_skipped);
	printf("%d passed, %d failed\n", tt_tests_passed, tt_tests_failed);
	return tt_tests_failed || unknown ? 1 : 0;
}

#define TT_INIT(argc, argv) tt_init((argc), (argv))

#define CHECK(cond) do { if (!(cond)) { \
	fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
	tt_failed_checks++; } } while (0)
#define CHECK_EQ_INT(a, b) do { long long tt_a = (long long)(a), tt_b = (long long)(b); \
	if (tt_a != tt_b) { fprintf(stderr, "  FAIL %s:%d: %s == %s (%lld != %lld)\n", \
	__FILE__, __LINE__, #a, #b, tt_a, tt_b); tt_failed_checks++; } } while (0)
#define REQUIRE(cond) do { if (!(cond)) { \
	fprintf(stderr, "  FAIL %s:%d: %s (required)\n", __FILE__, __LINE__, #cond); \
	tt_failed_checks++; return; } } while (0)
#define RUN(fn) do { \
	if (!tt_selected(#fn)) { tt_tests_skipped++; break; } \
	if (tt_list_only) { printf("%s\n", #fn); break; } \
	int tt_before = tt_failed_checks; \
	fprintf(stderr, "test %s\n", #fn); fn(); \
	if (tt_failed_checks == tt_before) tt_tests_passed++; \
	else { tt_tests_failed++; fprintf(stderr, "  -> %s FAILED\n", #fn); } } while (0)
#define TT_DONE() tt_done()
#endif
