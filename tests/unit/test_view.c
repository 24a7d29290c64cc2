/*
 * test_view.c - the view-name grammar of the file view (fs/view.c):
 * `<p>@<from>[..<to>]` with offsets, earliest, latest, -N, epoch ms and
 * ISO 8601 times, and the names that must not parse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "fs.h"
#include "tinytest.h"

static void check_view(const char *name, int from, int64_t arg, bool bounded, int64_t to)
{
	struct fsv_view_spec v;
	int rc = fsv_view_spec_parse(name, &v);
	if (rc) {
		fprintf(stderr, "  view '%s' did not parse\n", name);
		CHECK(rc == 0);
		return;
	}
	if ((int)v.from != from || v.arg != arg || v.bounded != bounded ||
	    (bounded && v.to != to)) {
		fprintf(stderr, "  view '%s': from %d arg %lld bounded %d to %lld\n", name,
		        (int)v.from, (long long)v.arg, v.bounded, (long long)v.to);
		CHECK(0);
	}
}

static void test_view_grammar(void)
{
	struct fsv_view_spec v;

	check_view("0@earliest", FSV_FROM_EARLIEST, 0, false, 0);
	check_view("0@latest", FSV_FROM_LATEST, 0, false, 0);
	check_view("0@1500", FSV_FROM_OFFSET, 1500, false, 0);
	check_view("0@-10", FSV_FROM_LAST_N, 10, false, 0);
	check_view("0@1763780000000ms", FSV_FROM_TIME, 1763780000000LL, false, 0);
	check_view("0@2026-11-22T05:00:00Z", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00Z", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00:00", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T07:00:00+02:00", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T04:30:00-0030", FSV_FROM_TIME, 1795323600000LL, false, 0);
	check_view("0@2026-11-22T05:00:00.250Z", FSV_FROM_TIME, 1795323600250LL, false, 0);
	check_view("0@2026-11-22T05:00:00.5Z", FSV_FROM_TIME, 1795323600500LL, false, 0);
	check_view("0@2026-11-22", FSV_FROM_TIME, 1795305600000LL, false, 0);
	check_view("0@2024-02-29", FSV_FROM_TIME, 1709164800000LL, false, 0);
	check_view("0@2000-01-01T00:00:00Z", FSV_FROM_TIME, 946684800000LL, false, 0);
	check_view("12@100..200", FSV_FROM_OFFSET, 100, true, 200);
	check_view("0@earliest..5", FSV_FROM_EARLIEST, 0, true, 5);
	check_view("0@2026-11-22T05:00:00.1Z..9", FSV_FROM_TIME, 1795323600100LL, true, 9);
	CHECK_EQ_INT(fsv_view_spec_parse("3@0", &v), 0);
	CHECK_EQ_INT(v.partition, 3);

	static const char *const bad[] = {
		"0", "@0", "0@", "00@1", "-1@0", "x@0", "0@x", "0@1..", "0@..1", "0@--1",
		"0@1.5", "0@+5", "0@1msx", "0@ms", "0@2023-02-29", "0@2026-13-01",
		"0@2026-11-22T25:00Z", "0@2026-11-22T05:00:00+24:00", "0@2026-11-22T05",
		"0@2026-11-22X", "0@12:00", "0@latest..x", "99999999999@0",
		"0@99999999999999999999",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fsv_view_spec_parse(bad[i], &v) != -ENOENT) {
			fprintf(stderr, "  bad view '%s' parsed\n", bad[i]);
			CHECK(0);
		}
	}
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	RUN(test_view_grammar);
	return TT_DONE();
}
