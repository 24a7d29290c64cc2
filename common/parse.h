/*
 * parse.h - strict number parsing shared by the config reader, the view
 * grammar and the tools.
 *
 * tfs_parse_u64: a whole decimal number without sign, blanks or suffix
 * ("0".."9223372036854775807").  0 with *out set, -EINVAL for anything
 * else (empty, a sign, a non-digit), -ERANGE past INT64_MAX; *out is
 * unchanged on error.  Header-only; thread-safe.
 */
#ifndef TOPICFS_PARSE_H
#define TOPICFS_PARSE_H

#include <errno.h>
#include <stdint.h>

static inline int tfs_parse_u64(const char *s, int64_t *out)
{
	int64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		if (v > (INT64_MAX - (*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (*p - '0');
	}
	*out = v;
	return 0;
}

#endif /* TOPICFS_PARSE_H */
