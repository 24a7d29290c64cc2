/*
 * kwire.c - Kafka wire-protocol primitives: bounds-checked big-endian
 * reading, growing-buffer writing, error code names and the one table that
 * maps storage errors (negative errno) to Kafka error codes.
 *
 * Invariants: a kw_reader never reads outside [p, p + len): every read
 * checks the bytes left first and, on a short buffer, sets err and yields
 * zero values from then on.  Array counts are checked against the bytes
 * left before any caller sizes anything by them.  A kw_writer's buf holds
 * exactly len valid bytes; after an allocation failure err stays set and
 * nothing more is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kwire_internal.h"

/* ============================ error codes ================================ */

static const struct {
	int code;
	const char *name;
} kw_err_names[] = {
	{ -1, "UNKNOWN_SERVER_ERROR" },
	{ 0, "NONE" },
	{ 1, "OFFSET_OUT_OF_RANGE" },
	{ 2, "CORRUPT_MESSAGE" },
	{ 3, "UNKNOWN_TOPIC_OR_PARTITION" },
	{ 4, "INVALID_FETCH_SIZE" },
	{ 5, "LEADER_NOT_AVAILABLE" },
	{ 6, "NOT_LEADER_OR_FOLLOWER" },
	{ 7, "REQUEST_TIMED_OUT" },
	{ 10, "MESSAGE_TOO_LARGE" },
	{ 15, "COORDINATOR_NOT_AVAILABLE" },
	{ 17, "INVALID_TOPIC_EXCEPTION" },
	{ 21, "INVALID_REQUIRED_ACKS" },
	{ 32, "INVALID_TIMESTAMP" },
	{ 35, "UNSUPPORTED_VERSION" },
	{ 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT" },
	{ 45, "OUT_OF_ORDER_SEQUENCE_NUMBER" },
	{ 47, "INVALID_PRODUCER_EPOCH" },
	{ 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED" },
	{ 56, "KAFKA_STORAGE_ERROR" },
	{ 76, "UNSUPPORTED_COMPRESSION_TYPE" },
	{ 87, "INVALID_RECORD" },
	{ 100, "UNKNOWN_TOPIC_ID" },
	/* admin APIs (srv_admin.c) */
	{ 36, "TOPIC_ALREADY_EXISTS" },
	{ 37, "INVALID_PARTITIONS" },
	{ 38, "INVALID_REPLICATION_FACTOR" },
	{ 39, "INVALID_REPLICA_ASSIGNMENT" },
	{ 40, "INVALID_CONFIG" },
	{ 42, "INVALID_REQUEST" },
	{ 44, "POLICY_VIOLATION" },
	{ 73, "TOPIC_DELETION_DISABLED" },
	{ 114, "MISMATCHED_ENDPOINT_TYPE" },
	/* authorization (srv_acl.c) */
	{ 29, "TOPIC_AUTHORIZATION_FAILED" },
	{ 30, "GROUP_AUTHORIZATION_FAILED" },
	{ 31, "CLUSTER_AUTHORIZATION_FAILED" },
};

const char *kw_err_name(int code)
{
	for (size_t i = 0; i < sizeof kw_err_names / sizeof kw_err_names[0]; i++)
		if (kw_err_names[i].code == code)
			return kw_err_names[i].name;
	return "UNKNOWN_ERROR_CODE";
}

/* The one errno -> Kafka code table, with a column for each direction: an
 * error while appending a producer's batch, and an error while reading for
 * a Fetch or ListOffsets (where a corrupt batch on disk is the broker's
 * storage problem, not the client's).  Anything not listed is a storage
 * error (56): ENOSPC, EIO and whatever the file system passes up. */
static const struct {
	int err;
	int produce_code;
	int read_code;
} kw_errno_map[] = {
	{ EBADMSG, KERR_CORRUPT_MESSAGE, KERR_KAFKA_STORAGE_ERROR },
	{ EMSGSIZE, KERR_MESSAGE_TOO_LARGE, KERR_KAFKA_STORAGE_ERROR },
	{ ENOTSUP, KERR_UNSUPPORTED_COMPRESSION_TYPE, KERR_KAFKA_STORAGE_ERROR },
	{ EINVAL, KERR_INVALID_RECORD, KERR_KAFKA_STORAGE_ERROR },
	{ ENOENT, KERR_UNKNOWN_TOPIC_OR_PARTITION, KERR_UNKNOWN_TOPIC_OR_PARTITION },
	{ ERANGE, KERR_KAFKA_STORAGE_ERROR, KERR_OFFSET_OUT_OF_RANGE },
	/* the idempotent producer's checks (storage.h STORE_ERR_*) */
	{ EILSEQ, KERR_OUT_OF_ORDER_SEQUENCE_NUMBER, KERR_KAFKA_STORAGE_ERROR },
	{ ESTALE, KERR_INVALID_PRODUCER_EPOCH, KERR_KAFKA_STORAGE_ERROR },
};

int kw_err_from_errno(int neg_errno, bool reading)
{
	if (neg_errno == 0)
		return KERR_NONE;
	for (size_t i = 0; i < sizeof kw_errno_map / sizeof kw_errno_map[0]; i++)
		if (-neg_errno == kw_errno_map[i].err)
			return reading ? kw_errno_map[i].read_code
			               : kw_errno_map[i].produce_code;
	return KERR_KAFKA_STORAGE_ERROR;
}

/* ============================== reader =================================== */

static const uint8_t *kw_take(struct kw_reader *r, size_t n)
{
	if (r->err || r->len - r->pos < n) {
		r->err = true;
		return NULL;
	}
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

int8_t kw_i8(struct kw_reader *r)
{
	const uint8_t *p = kw_take(r, 1);
	return p ? (int8_t)p[0] : 0;
}

int16_t kw_i16(struct kw_reader *r)
{
	const uint8_t *p = kw_take(r, 2);
	return p ? (int16_t)((uint16_t)p[0] << 8 | p[1]) : 0;
}

int32_t kw_i32(struct kw_reader *r)
{
	const uint8_t *p = kw_take(r, 4);
	return p ? (int32_t)be32_get(p) : 0;
}

int64_t kw_i64(struct kw_reader *r)
{
	const uint8_t *p = kw_take(r, 8);
	if (!p)
		return 0;
	return (int64_t)be64_get(p);
}

bool kw_str(struct kw_reader *r, const char **s, int *len)
{
	int16_t n = kw_i16(r);
	*s = NULL;
	*len = -1;
	if (r->err)
		return false;
	if (n < 0) {
		if (n != -1)
			r->err = true;
		return !r->err;
	}
	const uint8_t *p = kw_take(r, (size_t)n);
	if (!p)
		return false;
	*s = (const char *)p;
	*len = n;
	return true;
}

bool kw_bytes(struct kw_reader *r, const uint8_t **b, int32_t *len)
{
	int32_t n = kw_i32(r);
	*b = NULL;
	*len = -1;
	if (r->err)
		return false;
	if (n < 0) {
		if (n != -1)
			r->err = true;
		return !r->err;
	}
	const uint8_t *p = kw_take(r, (size_t)n);
	if (!p)
		return false;
	*b = p;
	*len = n;
	return true;
}

int32_t kw_array(struct kw_reader *r, size_t min_elem_bytes, bool allow_null)
{
	int32_t n = kw_i32(r);
	if (r->err)
		return 0;
	if (n == -1 && allow_null)
		return -1;
	if (n < 0 || (min_elem_bytes && (size_t)n > kw_remaining(r) / min_elem_bytes)) {
		r->err = true;
		return 0;
	}
	return n;
}

void kw_skip(struct kw_reader *r, size_t n)
{
	(void)kw_take(r, n);
}

/* ------------------------- flexible versions ----------------------------- */

uint32_t kw_uvarint(struct kw_reader *r)
{
	uint32_t v = 0;
	for (int i = 0; i < 5; i++) {
		const uint8_t *p = kw_take(r, 1);
		if (!p)
			return 0;
		if (i == 4 && (p[0] & 0xf0)) {
			r->err = true;              /* more than 32 bits */
			return 0;
		}
		v |= (uint32_t)(p[0] & 0x7f) << (7 * i);
		if (!(p[0] & 0x80))
			return v;
	}
	r->err = true;                          /* a sixth byte would follow */
	return 0;
}

bool kw_cstr(struct kw_reader *r, const char **s, int *len)
{
	uint32_t n = kw_uvarint(r);
	*s = NULL;
	*len = -1;
	if (r->err)
		return false;
	if (n == 0)
		return true;                    /* null */
	if (n - 1 > INT16_MAX) {
		r->err = true;
		return false;
	}
	const uint8_t *p = kw_take(r, n - 1);
	if (!p)
		return false;
	*s = (const char *)p;
	*len = (int)(n - 1);
	return true;
}

bool kw_cbytes(struct kw_reader *r, const uint8_t **b, int32_t *len)
{
	uint32_t n = kw_uvarint(r);
	*b = NULL;
	*len = -1;
	if (r->err)
		return false;
	if (n == 0)
		return true;
	if (n - 1 > INT32_MAX) {
		r->err = true;
		return false;
	}
	const uint8_t *p = kw_take(r, n - 1);
	if (!p)
		return false;
	*b = p;
	*len = (int32_t)(n - 1);
	return true;
}

int32_t kw_carray(struct kw_reader *r, size_t min_elem_bytes, bool allow_null)
{
	uint32_t n = kw_uvarint(r);
	if (r->err)
		return 0;
	if (n == 0) {
		if (allow_null)
			return -1;
		r->err = true;
		return 0;
	}
	n--;
	if (n > INT32_MAX ||
	    (min_elem_bytes && n > kw_remaining(r) / min_elem_bytes)) {
		r->err = true;
		return 0;
	}
	return (int32_t)n;
}

void kw_tags_skip(struct kw_reader *r)
{
	uint32_t n = kw_uvarint(r);
	/* each field takes at least 2 bytes (tag, size) */
	if (r->err || n > kw_remaining(r) / 2) {
		r->err = true;
		return;
	}
	for (uint32_t i = 0; i < n && !r->err; i++) {
		(void)kw_uvarint(r);            /* tag: none is known here */
		uint32_t size = kw_uvarint(r);
		if (r->err)
			return;
		kw_skip(r, size);
	}
}

void kw_uuid(struct kw_reader *r, uint8_t out[16])
{
	const uint8_t *p = kw_take(r, 16);
	if (p)
		memcpy(out, p, 16);
	else
		memset(out, 0, 16);
}

/* ============================== writer =================================== */

void kw_writer_init(struct kw_writer *w)
{
	memset(w, 0, sizeof *w);
}

void kw_writer_free(struct kw_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof *w);
}

bool kw_reserve(struct kw_writer *w, size_t n)
{
	if (w->err)
		return false;
	if (w->cap - w->len >= n)
		return true;
	size_t cap = w->cap ? w->cap : 256;
	while (cap - w->len < n) {
		if (cap > SIZE_MAX / 2) {
			w->err = true;
			return false;
		}
		cap *= 2;
	}
	uint8_t *nb = realloc(w->buf, cap);
	if (!nb) {
		w->err = true;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

void kw_put(struct kw_writer *w, const void *p, size_t n)
{
	if (!n || !kw_reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void kw_put_i8(struct kw_writer *w, int8_t v)
{
	uint8_t b = (uint8_t)v;
	kw_put(w, &b, 1);
}

void kw_put_i16(struct kw_writer *w, int16_t v)
{
	uint8_t b[2] = { (uint8_t)((uint16_t)v >> 8), (uint8_t)v };
	kw_put(w, b, 2);
}

void kw_put_i32(struct kw_writer *w, int32_t v)
{
	uint8_t b[4];
	be32_put(b, (uint32_t)v);
	kw_put(w, b, 4);
}

void kw_put_i64(struct kw_writer *w, int64_t v)
{
	uint8_t b[8];
	be64_put(b, (uint64_t)v);
	kw_put(w, b, 8);
}

void kw_put_str(struct kw_writer *w, const char *s, int len)
{
	if (!s || len < 0) {
		kw_put_i16(w, -1);
		return;
	}
	if (len > INT16_MAX)
		len = INT16_MAX;
	kw_put_i16(w, (int16_t)len);
	kw_put(w, s, (size_t)len);
}

void kw_put_cstr(struct kw_writer *w, const char *s)
{
	kw_put_str(w, s, s ? (int)strnlen(s, INT16_MAX) : -1);
}

void kw_patch_i32(struct kw_writer *w, size_t at, int32_t v)
{
	if (w->err || at + 4 > w->len)
		return;
	be32_put(w->buf + at, (uint32_t)v);
}

void kw_put_uvarint(struct kw_writer *w, uint32_t v)
{
	uint8_t b[5];
	size_t n = 0;
	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	kw_put(w, b, n);
}

void kw_put_cstr_compact(struct kw_writer *w, const char *s, int len)
{
	if (!s || len < 0) {
		kw_put_uvarint(w, 0);
		return;
	}
	if (len > INT16_MAX)
		len = INT16_MAX;
	kw_put_uvarint(w, (uint32_t)len + 1);
	kw_put(w, s, (size_t)len);
}

void kw_put_vcstr(struct kw_writer *w, bool flex, const char *s)
{
	kw_put_vstr(w, flex, s, s ? (int)strnlen(s, INT16_MAX) : -1);
}

void kw_put_carray(struct kw_writer *w, int32_t n)
{
	kw_put_uvarint(w, n < 0 ? 0 : (uint32_t)n + 1);
}

void kw_put_uuid(struct kw_writer *w, const uint8_t id[16])
{
	kw_put(w, id, 16);
}
