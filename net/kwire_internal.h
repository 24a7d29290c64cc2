/*
 * kwire_internal.h - Kafka wire-protocol primitives shared by the server
 * (srv.c, srv_api.c), the client (kclient.c) and the tests.  Not part of
 * the public API (net.h).
 *
 * Two cursors over bytes, both big-endian as the protocol is:
 *
 *   struct kw_reader  reads from a borrowed buffer.  Every read checks
 *                     bounds; a read past the end sets rd->err, returns 0
 *                     and every later read fails too, so a parser can read
 *                     a whole structure and check rd->err once at the end.
 *   struct kw_writer  appends to an owned, growing buffer.  An allocation
 *                     failure sets w->err (later writes are ignored); the
 *                     caller checks w->err once before using the bytes.
 *
 * Neither is thread-safe; each belongs to one request or response.
 */
#ifndef TOPICFS_KWIRE_INTERNAL_H
#define TOPICFS_KWIRE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

/* API keys (docs/PROTOCOL.md). */
enum {
	KAPI_PRODUCE = 0,
	KAPI_FETCH = 1,
	KAPI_LIST_OFFSETS = 2,
	KAPI_METADATA = 3,
	KAPI_FIND_COORDINATOR = 10,
	/* config APIs (srv_configs.c) */
	KAPI_DESCRIBE_CONFIGS = 32,
	KAPI_ALTER_CONFIGS = 33,
	KAPI_INCREMENTAL_ALTER_CONFIGS = 44,
	/* admin APIs (srv_admin.c) */
	KAPI_CREATE_TOPICS = 19,
	KAPI_DELETE_TOPICS = 20,
	KAPI_DELETE_RECORDS = 21,
	KAPI_OFFSET_FOR_LEADER_EPOCH = 23,
	KAPI_CREATE_PARTITIONS = 37,
	KAPI_DESCRIBE_CLUSTER = 60,
	KAPI_INIT_PRODUCER_ID = 22,         /* srv_idem.c */
	/* consumer groups: membership (srv_group.c) */
	KAPI_JOIN_GROUP = 11,
	KAPI_HEARTBEAT = 12,
	KAPI_LEAVE_GROUP = 13,
	KAPI_SYNC_GROUP = 14,
	KAPI_DESCRIBE_GROUPS = 15,
	KAPI_LIST_GROUPS = 16,
	KAPI_DELETE_GROUPS = 42,
	/* consumer groups: offsets (srv_offsets.c) */
	KAPI_OFFSET_COMMIT = 8,
	KAPI_OFFSET_FETCH = 9,
	KAPI_OFFSET_DELETE = 47,
	KAPI_API_VERSIONS = 18,
	/* SASL (srv_sasl.c) */
	KAPI_SASL_HANDSHAKE = 17,
	KAPI_SASL_AUTHENTICATE = 36,
	/* ACLs (srv_acl.c) */
	KAPI_DESCRIBE_ACLS = 29,
	KAPI_CREATE_ACLS = 30,
	KAPI_DELETE_ACLS = 31,
};

/* Kafka error codes used here. */
enum {
	KERR_NONE = 0,
	KERR_OFFSET_OUT_OF_RANGE = 1,
	KERR_CORRUPT_MESSAGE = 2,
	KERR_UNKNOWN_TOPIC_OR_PARTITION = 3,
	KERR_MESSAGE_TOO_LARGE = 10,
	KERR_COORDINATOR_NOT_AVAILABLE = 15,
	KERR_INVALID_TOPIC_EXCEPTION = 17,
	KERR_INVALID_REQUIRED_ACKS = 21,
	KERR_INVALID_TIMESTAMP = 32,
	KERR_OUT_OF_ORDER_SEQUENCE_NUMBER = 45,
	KERR_INVALID_PRODUCER_EPOCH = 47,
	KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53,
	KERR_UNSUPPORTED_VERSION = 35,
	KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
	KERR_KAFKA_STORAGE_ERROR = 56,
	KERR_UNSUPPORTED_COMPRESSION_TYPE = 76,
	KERR_INVALID_RECORD = 87,
	KERR_UNKNOWN_TOPIC_ID = 100,
	/* admin APIs (srv_admin.c) */
	KERR_TOPIC_ALREADY_EXISTS = 36,
	KERR_INVALID_PARTITIONS = 37,
	KERR_INVALID_REPLICATION_FACTOR = 38,
	KERR_INVALID_REPLICA_ASSIGNMENT = 39,
	KERR_INVALID_CONFIG = 40,
	KERR_INVALID_REQUEST = 42,
	KERR_POLICY_VIOLATION = 44,
	KERR_TOPIC_DELETION_DISABLED = 73,
	KERR_MISMATCHED_ENDPOINT_TYPE = 114,
	/* consumer groups (srv_group.c, srv_offsets.c) */
	KERR_OFFSET_METADATA_TOO_LARGE = 12,
	KERR_COORDINATOR_LOAD_IN_PROGRESS = 14,
	KERR_NOT_COORDINATOR = 16,
	KERR_ILLEGAL_GENERATION = 22,
	KERR_INCONSISTENT_GROUP_PROTOCOL = 23,
	KERR_INVALID_GROUP_ID = 24,
	KERR_UNKNOWN_MEMBER_ID = 25,
	KERR_INVALID_SESSION_TIMEOUT = 26,
	KERR_REBALANCE_IN_PROGRESS = 27,
	KERR_INVALID_COMMIT_OFFSET_SIZE = 28,
	KERR_GROUP_AUTHORIZATION_FAILED = 30,
	KERR_NON_EMPTY_GROUP = 68,
	KERR_GROUP_ID_NOT_FOUND = 69,
	KERR_MEMBER_ID_REQUIRED = 79,
	KERR_GROUP_MAX_SIZE_REACHED = 81,
	KERR_FENCED_INSTANCE_ID = 82,
	KERR_GROUP_SUBSCRIBED_TO_TOPIC = 86,
	KERR_UNSTABLE_OFFSET_COMMIT = 88,
	/* SASL (srv_sasl.c) */
	KERR_UNSUPPORTED_SASL_MECHANISM = 33,
	KERR_ILLEGAL_SASL_STATE = 34,
	KERR_SASL_AUTHENTICATION_FAILED = 58,
	/* authorization (srv_acl.c) */
	KERR_TOPIC_AUTHORIZATION_FAILED = 29,
	KERR_CLUSTER_AUTHORIZATION_FAILED = 31,
	KERR_UNKNOWN_SERVER_ERROR = -1,
};

/* The upper-case Kafka name of an error code ("OFFSET_OUT_OF_RANGE"), or
 * "UNKNOWN_ERROR_CODE" for codes this table does not know. */
const char *kw_err_name(int code);

/* The one errno -> Kafka error code table (storage errors, negative errno
 * in, Kafka code out; 0 -> 0).  reading: the error came from a read path
 * (Fetch, ListOffsets) rather than from appending a producer's batch. */
int kw_err_from_errno(int neg_errno, bool reading);

/* ------------------------------- reader --------------------------------- */

struct kw_reader {
	const uint8_t *p;           /* borrowed */
	size_t len;
	size_t pos;
	bool err;                   /* a read ran past the end or was invalid */
};

static inline void kw_reader_init(struct kw_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->err = false;
}

static inline size_t kw_remaining(const struct kw_reader *r)
{
	return r->err ? 0 : r->len - r->pos;
}

int8_t kw_i8(struct kw_reader *r);
int16_t kw_i16(struct kw_reader *r);
int32_t kw_i32(struct kw_reader *r);
int64_t kw_i64(struct kw_reader *r);
/* STRING / nullable STRING: *s points into the buffer, *len is -1 for
 * null.  Returns false (and sets err) when truncated. */
bool kw_str(struct kw_reader *r, const char **s, int *len);
/* BYTES / RECORDS (int32 length). */
bool kw_bytes(struct kw_reader *r, const uint8_t **b, int32_t *len);
/* An ARRAY count, checked against the bytes left: each element takes at
 * least min_elem_bytes, so a count that cannot fit sets err.  -1 (null) is
 * returned as -1 when allow_null, else err. */
int32_t kw_array(struct kw_reader *r, size_t min_elem_bytes, bool allow_null);
/* Skip n bytes. */
void kw_skip(struct kw_reader *r, size_t n);

/* Flexible versions (KIP-482).  An unsigned varint of at most 5 bytes (a
 * 32-bit value: longer or overflowing sets err). */
uint32_t kw_uvarint(struct kw_reader *r);
/* COMPACT_STRING / COMPACT_NULLABLE_STRING: uvarint length + 1 (0 = null),
 * then the bytes.  As kw_str: *len -1 for null; a length over INT16_MAX
 * (Kafka's string limit) or past the end sets err. */
bool kw_cstr(struct kw_reader *r, const char **s, int *len);
/* COMPACT_BYTES / COMPACT_RECORDS (nullable): uvarint length + 1. */
bool kw_cbytes(struct kw_reader *r, const uint8_t **b, int32_t *len);
/* COMPACT_ARRAY count (uvarint count + 1, 0 = null), checked against the
 * bytes left as kw_array does. */
int32_t kw_carray(struct kw_reader *r, size_t min_elem_bytes, bool allow_null);
/* A TAG_BUFFER: every tagged field is skipped (none is known to the
 * server).  Sizes are checked against the bytes left. */
void kw_tags_skip(struct kw_reader *r);
/* UUID: 16 raw bytes. */
void kw_uuid(struct kw_reader *r, uint8_t out[16]);

/* The same, classic or compact by the version's flexibility. */
static inline bool kw_vstr(struct kw_reader *r, bool flex, const char **s, int *len)
{
	return flex ? kw_cstr(r, s, len) : kw_str(r, s, len);
}
static inline bool kw_vbytes(struct kw_reader *r, bool flex, const uint8_t **b,
                             int32_t *len)
{
	return flex ? kw_cbytes(r, b, len) : kw_bytes(r, b, len);
}
static inline int32_t kw_varray(struct kw_reader *r, bool flex, size_t min_elem_bytes,
                                bool allow_null)
{
	return flex ? kw_carray(r, min_elem_bytes, allow_null)
	            : kw_array(r, min_elem_bytes, allow_null);
}
/* The tag buffer of a flexible structure; nothing otherwise. */
static inline void kw_vtags(struct kw_reader *r, bool flex)
{
	if (flex)
		kw_tags_skip(r);
}

/* ------------------------------- writer --------------------------------- */

struct kw_writer {
	uint8_t *buf;               /* owned; free with kw_writer_free */
	size_t len;
	size_t cap;
	bool err;                   /* an allocation failed */
};

void kw_writer_init(struct kw_writer *w);
void kw_writer_free(struct kw_writer *w);
/* Make room for n more bytes; false (and err) when out of memory. */
bool kw_reserve(struct kw_writer *w, size_t n);
void kw_put(struct kw_writer *w, const void *p, size_t n);
void kw_put_i8(struct kw_writer *w, int8_t v);
void kw_put_i16(struct kw_writer *w, int16_t v);
void kw_put_i32(struct kw_writer *w, int32_t v);
void kw_put_i64(struct kw_writer *w, int64_t v);
/* STRING from a C string (NULL writes a null string, length -1). */
void kw_put_cstr(struct kw_writer *w, const char *s);
/* STRING from bytes (len -1: null). */
void kw_put_str(struct kw_writer *w, const char *s, int len);
/* Overwrite an int32 already written at offset at. */
void kw_patch_i32(struct kw_writer *w, size_t at, int32_t v);

/* Flexible versions: unsigned varint; COMPACT_(NULLABLE_)STRING (len -1 /
 * s NULL: null); COMPACT_ARRAY count (n -1: null); an empty TAG_BUFFER;
 * UUID. */
void kw_put_uvarint(struct kw_writer *w, uint32_t v);
void kw_put_cstr_compact(struct kw_writer *w, const char *s, int len);
void kw_put_carray(struct kw_writer *w, int32_t n);
static inline void kw_put_tags0(struct kw_writer *w)
{
	kw_put_i8(w, 0);
}
void kw_put_uuid(struct kw_writer *w, const uint8_t id[16]);

/* Classic or compact by the version's flexibility. */
static inline void kw_put_vstr(struct kw_writer *w, bool flex, const char *s, int len)
{
	if (flex)
		kw_put_cstr_compact(w, s, len);
	else
		kw_put_str(w, s, len);
}
void kw_put_vcstr(struct kw_writer *w, bool flex, const char *s);
static inline void kw_put_varray(struct kw_writer *w, bool flex, int32_t n)
{
	if (flex)
		kw_put_carray(w, n);
	else
		kw_put_i32(w, n);
}
/* The length prefix of BYTES / RECORDS (len -1: null). */
static inline void kw_put_vbytes_len(struct kw_writer *w, bool flex, int32_t len)
{
	if (flex)
		kw_put_uvarint(w, len < 0 ? 0 : (uint32_t)len + 1);
	else
		kw_put_i32(w, len);
}
static inline void kw_put_vtags(struct kw_writer *w, bool flex)
{
	if (flex)
		kw_put_tags0(w);
}

#endif /* TOPICFS_KWIRE_INTERNAL_H */
