/*
 * test_view.c - the view-name grammar of the file view (fs/view.c):
 * `<p>@<from>[..<to>]` with offsets, earliest, latest, -N, epoch ms and
 * ISO 8601 times, `<p>@group=<name>` with encoded group ids, the record
 * view's ".json" suffix on both (and the %2Ejson spelling of a group id
 * ending in ".json"), and the names that must not parse.
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

/* The record view: any view name + ".json" (issue 17). */
static void test_json_views(void)
{
	static const struct {
		const char *name;
		int from;
		int64_t arg;
		bool bounded;
		int64_t to;
	} ok[] = {
		{ "0@earliest.json", FSV_FROM_EARLIEST, 0, false, 0 },
		{ "0@latest.json", FSV_FROM_LATEST, 0, false, 0 },
		{ "3@1500.json", FSV_FROM_OFFSET, 1500, false, 0 },
		{ "0@-10.json", FSV_FROM_LAST_N, 10, false, 0 },
		{ "0@1763780000000ms.json", FSV_FROM_TIME, 1763780000000LL, false, 0 },
		{ "0@2026-11-22T05:00:00.250Z.json", FSV_FROM_TIME, 1795323600250LL, false, 0 },
		{ "0@2026-11-22.json", FSV_FROM_TIME, 1795305600000LL, false, 0 },
		{ "12@100..200.json", FSV_FROM_OFFSET, 100, true, 200 },
		{ "0@earliest..5.json", FSV_FROM_EARLIEST, 0, true, 5 },
	};
	struct fsv_view_spec v;

	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		check_view(ok[i].name, ok[i].from, ok[i].arg, ok[i].bounded, ok[i].to);
		CHECK_EQ_INT(fsv_view_spec_parse(ok[i].name, &v), 0);
		CHECK(v.json);
	}
	/* without the suffix: not JSON */
	CHECK_EQ_INT(fsv_view_spec_parse("0@earliest", &v), 0);
	CHECK(!v.json);
	CHECK_EQ_INT(fsv_view_spec_parse("0@group=g", &v), 0);
	CHECK(!v.json);

	static const char *const bad[] = {
		"0@.json", "0@json", "0@earliest.JSON", "0@earliest.json.json",
		"0@1.json..2", "0@earliest..5.json.json", "0.json", "0@1..json",
		"0@group=.json", "0@earliestjson",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fsv_view_spec_parse(bad[i], &v) != -ENOENT) {
			fprintf(stderr, "  bad json view '%s' parsed\n", bad[i]);
			CHECK(0);
		}
	}
}

static void check_group_json(const char *name, const char *id, bool json)
{
	struct fsv_view_spec v;
	int rc = fsv_view_spec_parse(name, &v);
	if (rc || v.from != FSV_FROM_GROUP || strcmp(v.group, id) || v.json != json) {
		fprintf(stderr, "  group view '%s': rc %d group '%s' json %d\n", name,
		        rc, rc ? "" : v.group, rc ? -1 : (int)v.json);
		CHECK(0);
	}
}

/* Group views and ".json": a final ".json" is always the format suffix;
 * an id ending in ".json" writes that '.' as %2E in view names. */
static void test_group_json_views(void)
{
	struct fsv_view_spec v;
	char name[300];

	check_group_json("0@group=billing.json", "billing", true);
	check_group_json("0@group=team%2Fetl.json", "team/etl", true);
	check_group_json("0@group=a.b.json", "a.b", true);
	check_group_json("0@group=a..b.json", "a..b", true);
	check_group_json("0@group=x.json", "x", true);
	check_group_json("0@group=x%2Ejson", "x.json", false);
	check_group_json("0@group=x%2Ejson.json", "x.json", true);
	check_group_json("0@group=%2Ejson", ".json", false);
	check_group_json("0@group=%2E.json", ".", true);
	check_group_json("0@group=x.jsonl", "x.jsonl", false);
	check_group_json("0@group=x.json%2Ejson", "x.json.json", false);

	static const char *const bad[] = {
		"0@group=x.json.json",  /* group "x.json" must be x%2Ejson */
		"0@group=.json",        /* the empty id */
		"0@group=x%2Ejson%2Ejson", /* only the final ".json" is %2E */
		"0@group=x%2ejson",     /* lower-case hex */
		"0@group=a%2Eb.json",   /* %2E anywhere else is not canonical */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (fsv_view_spec_parse(bad[i], &v) != -ENOENT) {
			fprintf(stderr, "  bad group json view '%s' parsed\n", bad[i]);
			CHECK(0);
		}
	}

	/* fsv_view_group_name is the inverse, for values and .json alike */
	static const char *const ids[] = {
		"billing", "x.json", ".json", "a.json.json", "team/etl.json", ".",
		"..", "json", "x.JSON",
	};
	for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
		char enc[280];
		int n = fsv_view_group_name(ids[i], strlen(ids[i]), enc, sizeof enc);
		REQUIRE(n > 0);
		snprintf(name, sizeof name, "0@group=%s", enc);
		check_group_json(name, ids[i], false);
		snprintf(name, sizeof name, "0@group=%s.json", enc);
		check_group_json(name, ids[i], true);
	}
	char small[6];
	CHECK_EQ_INT(fsv_view_group_name("x.json", 6, small, sizeof small), -ENAMETOOLONG);
	CHECK_EQ_INT(fsv_view_group_name("", 0, small, sizeof small), -EINVAL);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	RUN(test_view_grammar);
	RUN(test_group_views);
	RUN(test_json_views);
	RUN(test_group_json_views);
	return TT_DONE();
}
