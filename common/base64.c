/*
 * base64.c - RFC 4648 base64, strict; see base64.h.
 */
#include <errno.h>

#include "base64.h"

static const char b64_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int tfs_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_len)
{
	size_t j = 0;

	if (tfs_b64_len(n) + 1 > out_len)
		return -ENOSPC;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[j++] = b64_alpha[(v >> 18) & 63];
		out[j++] = b64_alpha[(v >> 12) & 63];
		out[j++] = i + 1 < n ? b64_alpha[(v >> 6) & 63] : '=';
		out[j++] = i + 2 < n ? b64_alpha[v & 63] : '=';
	}
	out[j] = '\0';
	return (int)j;
}

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int tfs_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_len)
{
	size_t j = 0;

	if (n % 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		/* all four characters are read before anything is written, so
		 * decoding in place is safe (j <= i at every step) */
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -EINVAL;         /* "=" then a digit */
			v[k] = b64_val(in[i + k]);
			if (v[k] < 0)
				return -EINVAL;
		}
		uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		             (uint32_t)v[2] << 6 | (uint32_t)v[3];
		size_t bytes = 3 - (size_t)pad;
		/* canonical: the bits padding drops are zero */
		if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
			return -EINVAL;
		if (j + bytes > out_len)
			return -ENOSPC;
		out[j++] = (uint8_t)(x >> 16);
		if (bytes > 1)
			out[j++] = (uint8_t)(x >> 8);
		if (bytes > 2)
			out[j++] = (uint8_t)x;
	}
	return (int)j;
}
