/*
 * test_view.c - the view-name grammar of the file view (fs/view.c):
 * `<p>@<from>[..<to>]` with offsets, earliest, latest, -N, epoch ms and
 * ISO 8601 times, `<p>@group=<name>` with encoded group ids, and the
 * names that must not parse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

static void check_group(const char *name, int32_t part, const char *id)
{
	struct fsv_view_spec v;
	int rc = fsv_view_spec_parse(name, &v);
	if (rc || v.from != FSV_FROM_GROUP || v.partition != part ||
	    strcmp(v.group, id) || v.bounded) {
		fprintf(stderr, "  group view '%s': rc %d from %d part %d group '%s'\n",
		        name, rc, rc ? -1 : (int)v.from, rc ? -1 : (int)v.partition,
		        rc ? "" : v.group);
		CHECK(0);
	}
}

/* 0@group=NAME: NAME is the canonical file-name encoding of the id
 * (storage/groups.h); anything else is not a view. */
static void test_group_views(void)
{
	struct fsv_view_spec v;

	check_group("0@group=billing", 0, "billing");
	check_group("7@group=team%2Fetl", 7, "team/etl");
	check_group("0@group=my group", 0, "my group");
	check_group("0@group=a..b", 0, "a..b");         /* no range for groups */
	check_group("0@group=100..200", 0, "100..200");
	check_group("0@group=50%25", 0, "50%");
	check_group("0@group=%2E", 0, ".");
	check_group("0@group=%2E%2E", 0, "..");
	check_group("0@group=x.y_z-W9", 0, "x.y_z-W9");
	check_group("0@group=caf%C3%A9", 0, "caf\xc3\xa9");
	check_group("0@group=%3A%40%0A", 0, ":@\n");
	check_group("0@group=group%3Dx", 0, "group=x");

	static const char *const bad[] = {
		"0@group=",             /* an empty id */
		"0@group=a%2f",         /* lower-case hex is not canonical */
		"0@group=%41",          /* 'A' needs no encoding */
		"0@group=a%2",          /* truncated */
		"0@group=a%zz",         /* not hex */
		"0@group=50%",          /* a bare % */
		"0@group=a%00b",        /* NUL is not in an id */
		"0@group=.",            /* "." must be written %2E */
		"0@group=..",
		"0@group=a:b",          /* ':' must be written %3A */
		"0@group=group=x",      /* and '=' %3D */
		"00@group=a", "x@group=a", "@group=a", "0@group", "0@groups=a",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fsv_view_spec_parse(bad[i], &v) != -ENOENT) {
			fprintf(stderr, "  bad group view '%s' parsed\n", bad[i]);
			CHECK(0);
		}
	}
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	RUN(test_view_grammar);
	RUN(test_group_views);
	return TT_DONE();
}
