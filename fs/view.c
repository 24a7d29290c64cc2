/*
 * view.c - the grammar of view names.
 *
 * A view is a hidden, read-only file beside a partition that streams the
 * partition from a chosen record on and, at the end, blocks for more.  It
 * is never listed by readdir; it exists when its name parses:
 *
 *   view  := PART "@" from [ ".." to ] [ ".json" ]
 *          | PART "@group=" NAME [ ".json" ]  a consumer group's view
 *   PART  := "0" | [1-9][0-9]*                 the partition index
 *   from  := "earliest"                        the log start
 *          | "latest"                          the end: only new records
 *          | DIGITS                            an offset
 *          | "-" DIGITS                        the last N records
 *          | DIGITS "ms"                       a time, ms since the epoch
 *          | DATE [ ("T"|"t") TIME [ ZONE ] ]  an ISO 8601 time
 *   DATE  := YYYY "-" MM "-" DD                (midnight UTC when alone)
 *   TIME  := hh ":" mm [ ":" ss [ "." 1-9 digits ] ]
 *   ZONE  := "Z" | "z" | ("+"|"-") hh [":"] mm  (no zone means UTC)
 *   to    := DIGITS                            an exclusive end offset
 *
 * Examples: 0@earliest, 0@latest, 0@1500, 0@-10, 0@1763780000000ms,
 * 0@2026-11-22, 0@2026-11-22T05:00:00Z, 0@2026-11-22T07:00:00.250+02:00,
 * 0@100..200 (offsets 100 to 199), 0@earliest..50.
 *
 * NAME is a group id in the file-name encoding of storage/groups.h
 * (group_name_encode: bytes outside [A-Za-z0-9._-] and ' ', and '%', as
 * %XX), and only its canonical encoding names it (group_name_decode), so
 * each group has one view name per partition.  It takes the rest of the
 * name: a group view has no "..to" (an id may hold "..").  Examples:
 * 0@group=billing, 3@group=team%2Fetl.
 *
 * THE RECORD VIEW.  Any view name followed by ".json" is the same view
 * rendered as JSON lines (fs/records.c): 0@earliest.json, 0@-10.json,
 * 0@100..200.json, 0@2026-11-22T05:00:00.250Z.json, 0@group=billing.json.
 * A final ".json" is always this suffix.  So that a group whose id ends
 * in ".json" still has exactly one name per view, its NAME in a view
 * (only there, not in .groups) writes that last '.' as "%2E": the values
 * of group "x.json" are 0@group=x%2Ejson, its records 0@group=x%2Ejson.json;
 * "0@group=x.json" is group "x" as JSON, and "0@group=x.json.json" is no
 * name at all (a NAME ending in an unencoded ".json" is not canonical).
 * fsv_view_group_name writes the view spelling of an id.
 *
 * Anything else is not a view: -ENOENT, so a bad name simply does not exist.
 * Pure functions, thread-safe.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "parse.h"

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;                                /* 0..399 */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0..365 */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;        /* 0..146096 */
	return era * 146097 + doe - 719468;
}

static bool leap_year(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Read exactly n digits at *p into *out, advancing *p. */
static bool take_digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* Parse an ISO 8601 time (the subset in the grammar above) into ms since
 * the epoch.  0 or -EINVAL. */
static int parse_iso8601(const char *s, int64_t *out)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, zone_min = 0;

	if (!take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) ||
	    *p++ != '-' || !take_digits(&p, 2, &d))
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap_year(y)))
		return -EINVAL;
	if (*p == 'T' || *p == 't') {
		p++;
		if (!take_digits(&p, 2, &h) || *p++ != ':' || !take_digits(&p, 2, &mi))
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (!take_digits(&p, 2, &sec))
				return -EINVAL;
			if (*p == '.') {
				int digits = 0, scale = 100;
				p++;
				while (isdigit((unsigned char)*p)) {
					if (digits < 3)
						ms += (*p - '0') * scale;
					scale /= 10;
					digits++;
					p++;
				}
				if (digits == 0 || digits > 9)
					return -EINVAL;
			}
		}
		if (h > 23 || mi > 59 || sec > 60)
			return -EINVAL;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p == '-' ? -1 : 1, zh, zm;
			p++;
			if (!take_digits(&p, 2, &zh))
				return -EINVAL;
			if (*p == ':')
				p++;
			if (!take_digits(&p, 2, &zm) || zh > 23 || zm > 59)
				return -EINVAL;
			zone_min = sign * (zh * 60 + zm);
		}
	}
	if (*p)
		return -EINVAL;
	int64_t days = days_from_civil(y, mo, d);
	*out = ((days * 24 + h) * 60 + mi - zone_min) * 60000LL + sec * 1000LL + ms;
	return 0;
}

/* Canonical decimal: "0" or no leading zero. */
static int parse_canonical(const char *s, int64_t *out)
{
	if (s[0] == '0' && s[1])
		return -EINVAL;
	return tfs_parse_u64(s, out);
}

static int parse_from(const char *s, struct fsv_view_spec *v)
{
	size_t n = strlen(s);
	int64_t x;

	if (!strcmp(s, "earliest")) {
		v->from = FSV_FROM_EARLIEST;
		return 0;
	}
	if (!strcmp(s, "latest")) {
		v->from = FSV_FROM_LATEST;
		return 0;
	}
	if (s[0] == '-') {
		if (tfs_parse_u64(s + 1, &x))
			return -EINVAL;
		v->from = FSV_FROM_LAST_N;
		v->arg = x;
		return 0;
	}
	if (tfs_parse_u64(s, &x) == 0) {
		v->from = FSV_FROM_OFFSET;
		v->arg = x;
		return 0;
	}
	if (n > 2 && !strcmp(s + n - 2, "ms")) {
		char digits[32];
		if (n - 2 >= sizeof digits)
			return -EINVAL;
		memcpy(digits, s, n - 2);
		digits[n - 2] = '\0';
		if (tfs_parse_u64(digits, &x))
			return -EINVAL;
		v->from = FSV_FROM_TIME;
		v->arg = x;
		return 0;
	}
	if (parse_iso8601(s, &x) == 0) {
		v->from = FSV_FROM_TIME;
		v->arg = x;
		return 0;
	}
	return -EINVAL;
}

#define JSON_SUFFIX ".json"
#define JSON_SUFFIX_LEN 5
#define ESCAPED_JSON "%2Ejson"          /* a group NAME's final ".json" */

static bool ends_with(const char *s, size_t n, const char *suffix, size_t sn)
{
	return n >= sn && !memcmp(s + n - sn, suffix, sn);
}

/* The group NAME of a view (the rest of the name, ".json" suffix already
 * taken off) into the id: a final "%2Ejson" is ".json", a final ".json"
 * is not canonical, the rest is group_name_decode's. */
static int parse_view_group(const char *name, size_t n, char *id, size_t idlen)
{
	char enc[256 + 8];
	int len;

	if (n >= sizeof enc || ends_with(name, n, JSON_SUFFIX, JSON_SUFFIX_LEN))
		return -ENOENT;
	memcpy(enc, name, n);
	enc[n] = '\0';
	if (ends_with(enc, n, ESCAPED_JSON, strlen(ESCAPED_JSON))) {
		n -= strlen(ESCAPED_JSON);
		memcpy(enc + n, JSON_SUFFIX, JSON_SUFFIX_LEN + 1);
	}
	/* decode checks that it is canonical, group_id_check that it is a
	 * possible id */
	len = group_name_decode(enc, id, idlen);
	if (len < 0 || group_id_check(id, (size_t)len))
		return -ENOENT;
	return 0;
}

int fsv_view_group_name(const char *id, size_t id_len, char *out, size_t out_len)
{
	char enc[256 + 1];
	int n = group_name_encode(id, id_len, enc, sizeof enc);

	if (n < 0)
		return n;
	if (ends_with(enc, (size_t)n, JSON_SUFFIX, JSON_SUFFIX_LEN)) {
		if ((size_t)n + 2 >= out_len)
			return -ENAMETOOLONG;
		n -= JSON_SUFFIX_LEN;
		enc[n] = '\0';
		n = snprintf(out, out_len, "%s%s", enc, ESCAPED_JSON);
		return n;
	}
	if ((size_t)n >= out_len)
		return -ENAMETOOLONG;
	memcpy(out, enc, (size_t)n + 1);
	return n;
}

int fsv_view_spec_parse(const char *name, struct fsv_view_spec *out)
{
	struct fsv_view_spec v = { 0 };
	char buf[256];
	const char *at = strchr(name, '@');
	size_t len = strlen(name);
	char *range;
	int64_t x;

	if (!at || len >= sizeof buf)
		return -ENOENT;
	memcpy(buf, name, (size_t)(at - name));
	buf[at - name] = '\0';
	if (parse_canonical(buf, &x) || x > INT32_MAX)
		return -ENOENT;
	v.partition = (int32_t)x;
	if (ends_with(name, len, JSON_SUFFIX, JSON_SUFFIX_LEN)) {
		v.json = true;
		len -= JSON_SUFFIX_LEN;
	}
	if (!strncmp(at + 1, "group=", 6)) {
		/* the whole rest is the group NAME (a group view has no range) */
		size_t start = (size_t)(at + 7 - name);
		if (len < start ||
		    parse_view_group(at + 7, len - start, v.group, sizeof v.group))
			return -ENOENT;
		v.from = FSV_FROM_GROUP;
		*out = v;
		return 0;
	}
	if (len <= (size_t)(at + 1 - name))
		return -ENOENT;
	memcpy(buf, at + 1, len - (size_t)(at + 1 - name));
	buf[len - (size_t)(at + 1 - name)] = '\0';
	range = strstr(buf, "..");
	if (range) {
		*range = '\0';
		if (tfs_parse_u64(range + 2, &x))
			return -ENOENT;
		v.bounded = true;
		v.to = x;
	}
	if (parse_from(buf, &v))
		return -ENOENT;
	*out = v;
	return 0;
}
