/*
 * base64.h - RFC 4648 section 4 base64 (standard alphabet, padded), the one
 * implementation: SCRAM's salts, nonces and proofs (net/sasl.c) and the
 * record view's {"base64": ...} fields (fs/recjson.c).
 *
 * Decoding is strict: the length is a multiple of 4, padding only at the
 * end, no whitespace, and the bits the padding drops are zero, so every
 * byte string has exactly one encoding.
 */
#ifndef TOPICFS_BASE64_H
#define TOPICFS_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters tfs_b64_encode writes for n bytes (without the NUL). */
static inline size_t tfs_b64_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

/* Encode in[0..n) into out, NUL-terminated.  Returns the length written,
 * or -ENOSPC when out_len < tfs_b64_len(n) + 1. */
int tfs_b64_encode(const uint8_t *in, size_t n, char *out, size_t out_len);

/* Decode in[0..n) into out.  out may be the same buffer as in (decoding in
 * place: the output never overtakes the input).  Returns the bytes written,
 * -EINVAL for anything but canonical padded base64, -ENOSPC when out_len is
 * too small. */
int tfs_b64_decode(const char *in, size_t n, uint8_t *out, size_t out_len);

#endif /* TOPICFS_BASE64_H */
