/*
 * fuzz_name.c - libFuzzer target for the name parsers (docs/TESTING.md R10):
 * topic_name_check (storage), the view grammar fsv_view_spec_parse and
 * tfs_parse_u64 (fs).  The input is one name (cut at the first NUL, as a
 * path component would be).  Invariants, checked with abort(): an accepted
 * topic name is 1..249 characters of [A-Za-z0-9._-] and not "." or "..";
 * an accepted view has a partition >= 0 and a bounded one an end >= 0; a
 * parsed number is >= 0 and prints back to the digits it came from (less
 * leading zeros).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "storage.h"
#include "fs.h"
#include "parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_topic(const char *s)
{
	size_t n = strlen(s);
	if (topic_name_check(s) != 0)
		return;
	if (n < 1 || n > 249 || !strcmp(s, ".") || !strcmp(s, ".."))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
		            s[i]))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct fsv_view_spec v;
	int64_t u;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	check_topic(s);
	if (fsv_view_spec_parse(s, &v) == 0) {
		if (v.partition < 0 || (v.bounded && v.to < 0))
			abort();
	}
	if (tfs_parse_u64(s, &u) == 0) {
		char back[32];
		const char *digits = s;
		if (u < 0)
			abort();
		while (digits[0] == '0' && digits[1])
			digits++;
		snprintf(back, sizeof(back), "%" PRId64, u);
		if (strcmp(back, digits) != 0)
			abort();
	}
	free(s);
	return 0;
}
