/*
 * kclient_internal.h - a minimal blocking Kafka client for the topicfs
 * tools (topicfs-consume, the benchmark) and tests: connect, ListOffsets
 * v1, Fetch v11, a consume loop that decodes batches with storage's
 * batch_decode and hands each record to a callback, and a simple
 * consumer's committed offsets (OffsetFetch v3, OffsetCommit v2, no group
 * membership).  Not part of net.h.
 *
 * Link tfs_net (which links tfs_storage).  A struct kc_conn is one TCP
 * connection with one request in flight at a time; it is not thread-safe
 * (use one per thread).
 *
 * Errors: functions return 0 or a negative errno (-ECONNRESET, -ETIMEDOUT,
 * -EPROTO for a response that does not parse, ...).  A Kafka error code in
 * a response makes them return -EREMOTEIO with the code in *kerr.
 * kc_errmsg() says what went wrong last, in words.
 */
#ifndef TOPICFS_KCLIENT_INTERNAL_H
#define TOPICFS_KCLIENT_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

struct kc_conn;

/* Connect to "host:port" ("[v6addr]:port" for IPv6).  timeout_ms bounds the
 * connect and every later response wait beyond the fetch's own MaxWaitMs.
 * client_id may be NULL ("topicfs-consume").  The caller owns *out and
 * closes it with kc_close. */
int kc_connect(const char *host_port, const char *client_id, int timeout_ms,
               struct kc_conn **out);
void kc_close(struct kc_conn *c);

/* Text of the last error on c (never NULL). */
const char *kc_errmsg(const struct kc_conn *c);

/* One round trip: send a request with header v1 (api, version, correlation
 * id, client id) and this body, wait for the response and return its body
 * (after the correlation id).  *resp points into a buffer owned by c, valid
 * until the next call.  extra_wait_ms is added to the response timeout
 * (a fetch's MaxWaitMs). */
int kc_call(struct kc_conn *c, int16_t api_key, int16_t api_version,
            const void *body, size_t body_len, int extra_wait_ms,
            const uint8_t **resp, size_t *resp_len);

/* ListOffsets v1 for one partition: ts -1 latest (next offset), -2
 * earliest, else the first offset with timestamp >= ts (-1 if none). */
int kc_list_offset(struct kc_conn *c, const char *topic, int32_t partition,
                   int64_t ts, int64_t *offset, int *kerr);

/* One Fetch v11 for one partition.  On success the record bytes are in
 * res->records (borrowed from c, valid until the next call on c). */
struct kc_fetch_result {
	int16_t err;                /* the partition's Kafka error code */
	int64_t high_watermark;
	int64_t log_start_offset;
	const uint8_t *records;     /* RecordBatch bytes, maybe a truncated tail */
	size_t records_len;
};
int kc_fetch(struct kc_conn *c, const char *topic, int32_t partition,
             int64_t offset, int32_t max_wait_ms, int32_t min_bytes,
             int32_t max_bytes, struct kc_fetch_result *res);

/* The fetch loop.  Calls fn for every record with offset >= start_offset,
 * in order; fn returns 0 to go on, anything else to stop (kc_consume then
 * returns 0).  Without follow it stops at the high watermark seen in a
 * fetch; with follow it long-polls (max_wait_ms) for ever.  max_records
 * (> 0) stops after that many records.  *next_offset (may be NULL) gets
 * the offset after the last record delivered. */
typedef int (*kc_record_fn)(void *arg, const struct record *rec);
struct kc_consume_opts {
	int64_t start_offset;
	bool follow;
	int32_t max_wait_ms;        /* default 500 when 0 */
	int32_t max_bytes;          /* per fetch; default 1 MiB when 0 */
	int64_t max_records;        /* 0 = unlimited */
	size_t max_decompressed;    /* bound per batch; default 64 MiB when 0 */
	/* Called (if set) after each fetch response's records were handed to
	 * fn: a place to flush output while following. */
	void (*fetch_done)(void *arg);
	/* When set and non-zero (a signal handler sets it), the loop stops
	 * (kc_consume returns 0) before the next fetch and between records;
	 * a long poll in progress finishes first (at most max_wait_ms). */
	const volatile sig_atomic_t *stop;
};
int kc_consume(struct kc_conn *c, const char *topic, int32_t partition,
               const struct kc_consume_opts *opts, kc_record_fn fn, void *arg,
               int64_t *next_offset, int *kerr);

/* A simple consumer's committed offsets: a group id, no membership
 * (generation -1, member ""), as kafka-python and librdkafka commit after
 * assign().  The connection must be to the group's coordinator (topicfs:
 * any; a Kafka cluster answers NOT_COORDINATOR from another broker, which
 * comes back as -EREMOTEIO with the code in *kerr).
 *
 * kc_offset_fetch (OffsetFetch v3): *offset gets the committed offset of
 * one partition, -1 when the group has none.  kc_offset_commit
 * (OffsetCommit v2, no metadata, the broker's retention): commit offset
 * (the next record to consume) for one partition. */
int kc_offset_fetch(struct kc_conn *c, const char *group, const char *topic,
                    int32_t partition, int64_t *offset, int *kerr);
int kc_offset_commit(struct kc_conn *c, const char *group, const char *topic,
                     int32_t partition, int64_t offset, int *kerr);

/* Name of a Kafka error code ("OFFSET_OUT_OF_RANGE"). */
const char *kc_err_name(int code);

#endif /* TOPICFS_KCLIENT_INTERNAL_H */
