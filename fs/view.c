/*
 * view.c - the grammar of view names.
 *
 * A view is a hidden, read-only file beside a partition that streams the
 * partition from a chosen record on and, at the end, blocks for more.  It
 * is never listed by readdir; it exists when its name parses:
 *
 *   view  := PART "@" from [ ".." to ]
 *          | PART "@group=" NAME              a consumer group's view
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

int fsv_view_spec_parse(const char *name, struct fsv_view_spec *out)
{
	struct fsv_view_spec v = { 0 };
	char buf[256];
	const char *at = strchr(name, '@');
	char *range;
	int64_t x;

	if (!at || strlen(name) >= sizeof buf)
		return -ENOENT;
	memcpy(buf, name, (size_t)(at - name));
	buf[at - name] = '\0';
	if (parse_canonical(buf, &x) || x > INT32_MAX)
		return -ENOENT;
	v.partition = (int32_t)x;
	if (!strncmp(at + 1, "group=", 6)) {
		/* the whole rest is the encoded id; decode checks that it is
		 * canonical and group_id_check that it is a possible id */
		int n = group_name_decode(at + 7, v.group, sizeof v.group);
		if (n < 0 || group_id_check(v.group, n > 0 ? (size_t)n : strlen(v.group)))
			return -ENOENT;
		v.from = FSV_FROM_GROUP;
		*out = v;
		return 0;
	}
	snprintf(buf, sizeof buf, "%s", at + 1);
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
