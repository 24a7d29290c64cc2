/*
 * recjson.h - records as JSON lines: the rendering of the record view
 * (`<p>@<from>.json`) and the parsing of the JSON-lines writable form
 * (`<topic>/@json`), issue 17.  Pure functions: no FUSE, no store, no
 * locks; thread-safe (no state), no allocation but the caller's buffer.
 *
 * RENDERING: one record, one line, what `kcat -C -J` prints for it, byte
 * for byte (kcat 1.7.1 with librdkafka 2.0.2 and yajl 2, Debian bookworm;
 * its fmt_msg_output_json), then '\n':
 *
 *   {"topic":"jt","partition":0,"offset":0,"tstype":"create",
 *    "ts":1795969923487,"broker":0,"headers":["h1","x","h2",null,"h3",""],
 *    "key":"k1","payload":"v1"}
 *
 * (one line; no blanks).  Fields, always in this order:
 *   topic      string
 *   partition  integer
 *   offset     integer
 *   tstype     "create" (CreateTime batch) or "logappend" (LogAppendTime)
 *   ts         integer, ms since the epoch, as the batch gives it (may be -1)
 *   broker     integer: the node id topicfs's Metadata advertises, 0
 *   headers    only when the record has at least one header: an array of
 *              alternating names and values, in record order (repeated
 *              names repeated); a null value is null
 *   key        string, or null for a null key ("" is an empty key)
 *   payload    string, or null for a null value ("" is an empty value)
 * Strings are escaped as yajl does: \" \\ \b \f \n \r \t, the other bytes
 * below 0x20 as \u00XX (upper-case hex), everything else (DEL, '/', UTF-8
 * sequences) as is.
 *
 * NOT UTF-8.  kcat copies such bytes raw, which makes the line invalid
 * JSON.  Here a key, payload, header name or header value that is not
 * strictly valid UTF-8 (RFC 3629: no overlong forms, no surrogates
 * U+D800..U+DFFF, nothing above U+10FFFF, no truncated sequence) becomes
 * an object in place of the string:
 *
 *   "payload":{"base64":"/w=="}          (RFC 4648 base64, with padding)
 *
 * Only such fields change; a record whose bytes are all valid UTF-8
 * renders exactly as kcat prints it.  jq: `.payload | if type == "object"
 * then .base64 | @base64d else . end` (for text; binary needs base64 -d).
 * Other differences from kcat, both for bytes kcat mangles: a header name
 * holding a NUL byte is rendered whole (kcat cuts it at the NUL, strlen),
 * and a topic name is escaped (topicfs names never need it).
 *
 * PARSING: one line of the writable form, an object with these members
 * (any order, JSON whitespace anywhere between tokens):
 *   key                  string | null | {"base64":"..."}   absent: null
 *   payload (or "value") string | null | {"base64":"..."}   absent: null
 *   headers              null | the rendered array form ["name", value,
 *                        ...] (names: string or {"base64"}, never null;
 *                        values: string, null or {"base64"}) | an object
 *                        {"name": value, ...} (members kept in order,
 *                        repeated names kept as repeated headers)
 *   ts (or "timestamp")  integer ms >= -1 or null; -1, null or absent:
 *                        the time of the write
 *   partition            integer 0..2^31-1 or null; absent or null: the
 *                        caller's partitioner picks (the range check
 *                        against the topic is the caller's)
 * and, so that rendered lines can be written back as they are, the other
 * rendered members, type-checked and otherwise ignored: topic (string,
 * returned for the caller to compare), offset (integer or null), tstype
 * ("create" or "logappend"), broker (integer or null).
 * Refused (-EINVAL, *why says which): anything that is not one RFC 8259
 * JSON object of this shape followed only by whitespace: truncated input,
 * trailing bytes, invalid UTF-8 in the line, raw control bytes in a
 * string, unknown escapes, bad or lone \u surrogates, a bad number,
 * unknown members, a member given twice (aliases included: "value" and
 * "payload", "ts" and "timestamp"), wrong types (numbers with a fraction
 * or an exponent where an integer is wanted, nested arrays or objects
 * anywhere but the headers array/object and the {"base64"} object), a
 * base64 object with other members or non-canonical base64 (bad
 * alphabet, missing padding, non-zero trailing bits).  The nesting is
 * fixed by this shape (at most three levels): the parser never recurses.
 *
 * Bounds.  The parser reads only line[0..len) (no NUL needed) and writes
 * only scratch; decoded bytes never outnumber the line's bytes.
 */
#ifndef TOPICFS_RECJSON_H
#define TOPICFS_RECJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "storage.h"

/* The node id topicfs advertises for itself (net/srv_api.c: Metadata's
 * Leader, Replicas and Isr are all node 0), kcat's "broker". */
#define RECJSON_BROKER_ID 0

/* Where a rendered record comes from. */
struct recjson_src {
	const char *topic;          /* NUL-terminated */
	int32_t partition;
	int32_t broker;             /* RECJSON_BROKER_ID */
	bool log_append_time;       /* the batch's attributes have
	                               BATCH_ATTR_LOG_APPEND_TIME */
};

/* The most bytes recjson_render can append for r (a bound, not the exact
 * size): 6 per byte of topic, key, value and encoded headers (the worst
 * escape, \u00XX, is 6 bytes for 1; base64 is 4 for 3 plus 13 for its
 * object), plus 48 per header and 256 for the rest. */
size_t recjson_render_max(const struct recjson_src *src, const struct record *r);

/* Append r as one JSON line ('\n' included) to out.  0, or -ENOMEM (out
 * unchanged), -EBADMSG when r's encoded headers do not parse
 * (record_next_header), -EINVAL for NULL arguments. */
int recjson_render(struct buf *out, const struct recjson_src *src,
                   const struct record *r);

/* One parsed line.  Pointers point into the caller's scratch buffer (or,
 * for nothing, are NULL); they live as long as it does. */
struct recjson_rec {
	const uint8_t *key;         /* NULL with key_len -1 */
	int32_t key_len;            /* -1 = null */
	const uint8_t *value;       /* NULL with value_len -1 */
	int32_t value_len;          /* -1 = null */
	const struct rec_header *headers;   /* header_count entries */
	int32_t header_count;
	int64_t timestamp;          /* ms; -1 = the time of the write */
	int32_t partition;          /* -1 = not given */
	const uint8_t *topic;       /* the "topic" member; NULL when absent */
	int32_t topic_len;          /* -1 when absent */
};

/* The scratch bytes recjson_parse needs for a line of len bytes: len (the
 * decoded strings) + room for len / 6 + 1 headers (each takes 6 bytes of
 * JSON at least) + alignment.  SIZE_MAX when len is over RECJSON_LINE_MAX. */
#define RECJSON_LINE_MAX ((size_t)INT32_MAX)
size_t recjson_scratch_size(size_t len);

/* Parse line[0..len) (without its '\n'; a trailing "\r" or blanks are
 * JSON whitespace) into *out, using scratch[0..scratch_len).  0, or
 * -EINVAL with *why (when why is not NULL) a short static reason for the
 * log ("key: expected a string, null or {\"base64\":...}") and *at (when
 * not NULL) the byte offset where parsing stopped; -EMSGSIZE when len is
 * over RECJSON_LINE_MAX; -ENOBUFS when scratch_len is below
 * recjson_scratch_size(len).  *out is untouched on error. */
int recjson_parse(const char *line, size_t len, void *scratch,
                  size_t scratch_len, struct recjson_rec *out,
                  const char **why, size_t *at);

/* Fill a struct rec_in from a parsed line (key, value, timestamp,
 * headers); the partition is the caller's business. */
void recjson_to_rec_in(const struct recjson_rec *in, struct rec_in *out);

#endif /* TOPICFS_RECJSON_H */
