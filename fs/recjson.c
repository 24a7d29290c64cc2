/*
 * recjson.c - records as JSON lines (recjson.h): the record view's
 * renderer, kcat -J's format, and the strict parser of the JSON-lines
 * writable form.
 *
 * RENDERING runs one emitter twice: first with no output to measure the
 * line, then into the room reserved for exactly that many bytes, so the
 * two passes cannot disagree and the buffer grows once.  Field order,
 * escapes and the alternating headers array follow kcat's
 * fmt_msg_output_json over yajl_gen (no beautify, no UTF-8 validation,
 * '/' not escaped), as recjson.h states; a field that is not valid UTF-8
 * becomes {"base64":"..."} instead of raw bytes.
 *
 * PARSING is schema-directed, not a general JSON parser: the only places
 * a nested array or object may appear are the headers member and a
 * {"base64":...} object, so the parser is a fixed set of functions that
 * never recurse (depth <= 3 by construction); any other nesting is a
 * wrong type and refused on its first byte.  Every read checks the cursor
 * against len; every write into scratch checks its region.
 *
 * SCRATCH LAYOUT (recjson_scratch_size):
 *   [pad to alignof(struct rec_header)]
 *   [struct rec_header x (len / 6 + 1)]   the headers, in order
 *   [len bytes]                           decoded strings, back to back
 * Why it suffices: a JSON string of n source bytes decodes to at most
 * n - 2 bytes (\uXXXX is 6 bytes for at most 3, a surrogate pair 12 for
 * 4, other escapes 2 for 1, raw bytes 1 for 1, the quotes nothing); the
 * base64 inside a {"base64"} string decodes in place to 3/4 of itself;
 * member names are decoded into the same region and given back at once.
 * A header takes at least 6 bytes of the line ("","", in the array form,
 * "":"", in the object form).
 *
 * UTF-8 (both directions): RFC 3629 strictly, the table of its section 4:
 *   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC 80..BF 80..BF
 *   | ED 80..9F 80..BF | EE..EF 80..BF 80..BF | F0 90..BF 80..BF 80..BF
 *   | F1..F3 80..BF 80..BF 80..BF | F4 80..8F 80..BF 80..BF
 * so no overlong form, no surrogate, nothing above U+10FFFF.
 *
 * Thread-safety: no state; every function is reentrant.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "recjson.h"

/* ============================== UTF-8 ==================================== */

/* Length of the valid UTF-8 sequence at p[0..n) (n >= 1), 0 if invalid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
	uint8_t c = p[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < need + 1 || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i <= need; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return need + 1;
}

static bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		size_t k = utf8_seq(p + i, n - i);
		if (!k)
			return false;
		i += k;
	}
	return true;
}

/* ============================= rendering ================================= */

/* An output cursor: p NULL measures only. */
struct emit {
	uint8_t *p;
	size_t n;
};

static void put(struct emit *e, const void *s, size_t n)
{
	if (e->p && n)
		memcpy(e->p + e->n, s, n);
	e->n += n;
}

static void put_lit(struct emit *e, const char *s)
{
	put(e, s, strlen(s));
}

static void put_i64(struct emit *e, int64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	put(e, tmp, (size_t)n);
}

/* A JSON string with yajl's escapes (bytes >= 0x20 but '"' and '\\' as
 * they are). */
static void put_jstr(struct emit *e, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t run = 0;

	put(e, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		const char *esc;
		char u[7];

		switch (c) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		default:
			if (c >= 0x20)
				continue;       /* part of the current run */
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = 0;
			esc = u;
			break;
		}
		put(e, s + run, i - run);
		put_lit(e, esc);
		run = i + 1;
	}
	put(e, s + run, n - run);
	put(e, "\"", 1);
}

/* {"base64":"..."}: RFC 4648 section 4, with padding (common/base64.c),
 * 48 bytes (64 characters) at a time. */
static void put_b64obj(struct emit *e, const uint8_t *s, size_t n)
{
	char q[64 + 1];

	put_lit(e, "{\"base64\":\"");
	for (size_t i = 0; i < n; i += 48) {
		size_t k = n - i < 48 ? n - i : 48;
		int len = tfs_b64_encode(s + i, k, q, sizeof q);
		put(e, q, (size_t)len);
	}
	put_lit(e, "\"}");
}

/* Bytes that may be null (len < 0): null, a string, or the base64 object. */
static void put_field(struct emit *e, const uint8_t *s, int32_t len)
{
	if (len < 0)
		put_lit(e, "null");
	else if (utf8_valid(s, (size_t)len))
		put_jstr(e, s, (size_t)len);
	else
		put_b64obj(e, s, (size_t)len);
}

static int render(struct emit *e, const struct recjson_src *src,
                  const struct record *r)
{
	put_lit(e, "{\"topic\":");
	put_field(e, (const uint8_t *)src->topic, (int32_t)strlen(src->topic));
	put_lit(e, ",\"partition\":");
	put_i64(e, src->partition);
	put_lit(e, ",\"offset\":");
	put_i64(e, r->offset);
	put_lit(e, src->log_append_time ? ",\"tstype\":\"logappend\""
	                                : ",\"tstype\":\"create\"");
	put_lit(e, ",\"ts\":");
	put_i64(e, r->timestamp);
	put_lit(e, ",\"broker\":");
	put_i64(e, src->broker);
	if (r->header_count > 0) {
		size_t pos = 0;
		const uint8_t *k, *v;
		int32_t kl, vl;

		put_lit(e, ",\"headers\":[");
		for (int32_t i = 0; i < r->header_count; i++) {
			if (record_next_header(r, &pos, &k, &kl, &v, &vl) != 1)
				return -EBADMSG;
			if (i)
				put(e, ",", 1);
			put_field(e, k, kl);
			put(e, ",", 1);
			put_field(e, v, vl);
		}
		if (pos != r->headers_len)
			return -EBADMSG;
		put(e, "]", 1);
	}
	put_lit(e, ",\"key\":");
	put_field(e, r->key, r->key_len);
	put_lit(e, ",\"payload\":");
	put_field(e, r->value, r->value_len);
	put(e, "}\n", 2);
	return 0;
}

size_t recjson_render_max(const struct recjson_src *src, const struct record *r)
{
	size_t topic = src && src->topic ? strlen(src->topic) : 0;
	size_t bytes = topic + (r->key_len > 0 ? (size_t)r->key_len : 0) +
	               (r->value_len > 0 ? (size_t)r->value_len : 0) +
	               r->headers_len;
	size_t hc = r->header_count > 0 ? (size_t)r->header_count : 0;

	return 6 * bytes + 48 * hc + 256;
}

int recjson_render(struct buf *out, const struct recjson_src *src,
                   const struct record *r)
{
	struct emit e = { NULL, 0 };
	int rc;

	if (!out || !src || !src->topic || !r)
		return -EINVAL;
	rc = render(&e, src, r);
	if (rc < 0)
		return rc;
	rc = buf_reserve(out, e.n);
	if (rc < 0)
		return rc;
	size_t n = e.n;
	e = (struct emit){ out->data + out->len, 0 };
	render(&e, src, r);         /* the same walk: cannot fail now */
	out->len += n;
	return 0;
}

/* ============================== parsing ================================== */

struct jp {
	const uint8_t *s;
	size_t len, pos;
	uint8_t *bytes;             /* decoded strings */
	size_t bytes_used, bytes_cap;
	struct rec_header *hdrs;
	size_t nhdrs, hdrs_cap;
	const char *why;
};

static int fail(struct jp *j, const char *why)
{
	j->why = why;
	return -EINVAL;
}

static void skip_ws(struct jp *j)
{
	while (j->pos < j->len) {
		uint8_t c = j->s[j->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		j->pos++;
	}
}

/* The next byte, or -1 at the end of the line. */
static int peek(struct jp *j)
{
	return j->pos < j->len ? j->s[j->pos] : -1;
}

/* Consume a literal (null, true, false) or fail with why. */
static int literal(struct jp *j, const char *lit, const char *why)
{
	size_t n = strlen(lit);
	if (j->len - j->pos < n || memcmp(j->s + j->pos, lit, n) != 0)
		return fail(j, why);
	j->pos += n;
	return 0;
}

static int hex4(struct jp *j, uint32_t *out)
{
	uint32_t v = 0;

	if (j->len - j->pos < 4)
		return fail(j, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		uint8_t c = j->s[j->pos++];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return fail(j, "bad hex digit in a \\u escape");
	}
	*out = v;
	return 0;
}

static int out_byte(struct jp *j, uint8_t c)
{
	if (j->bytes_used >= j->bytes_cap)
		return fail(j, "internal: scratch exhausted");
	j->bytes[j->bytes_used++] = c;
	return 0;
}

/* The JSON string at the cursor (which must be at '"'), decoded into the
 * bytes region: *p, *n. */
static int parse_string(struct jp *j, const uint8_t **p, size_t *n)
{
	size_t start = j->bytes_used;
	int rc;

	if (peek(j) != '"')
		return fail(j, "expected a string");
	j->pos++;
	for (;;) {
		if (j->pos >= j->len)
			return fail(j, "unterminated string");
		uint8_t c = j->s[j->pos];
		if (c == '"') {
			j->pos++;
			break;
		}
		if (c < 0x20)
			return fail(j, "control character in a string");
		if (c >= 0x80) {
			size_t k = utf8_seq(j->s + j->pos, j->len - j->pos);
			if (!k)
				return fail(j, "invalid UTF-8 in a string");
			for (size_t i = 0; i < k; i++)
				if ((rc = out_byte(j, j->s[j->pos + i])) < 0)
					return rc;
			j->pos += k;
			continue;
		}
		j->pos++;
		if (c != '\\') {
			if ((rc = out_byte(j, c)) < 0)
				return rc;
			continue;
		}
		if (j->pos >= j->len)
			return fail(j, "unterminated string");
		uint8_t e = j->s[j->pos++];
		uint32_t cp;
		switch (e) {
		case '"': case '\\': case '/': cp = e; break;
		case 'b': cp = '\b'; break;
		case 'f': cp = '\f'; break;
		case 'n': cp = '\n'; break;
		case 'r': cp = '\r'; break;
		case 't': cp = '\t'; break;
		case 'u':
			if ((rc = hex4(j, &cp)) < 0)
				return rc;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return fail(j, "lone low surrogate in a \\u escape");
			if (cp >= 0xd800 && cp <= 0xdbff) {
				uint32_t lo;
				if (j->len - j->pos < 2 || j->s[j->pos] != '\\' ||
				    j->s[j->pos + 1] != 'u')
					return fail(j, "lone high surrogate in a \\u escape");
				j->pos += 2;
				if ((rc = hex4(j, &lo)) < 0)
					return rc;
				if (lo < 0xdc00 || lo > 0xdfff)
					return fail(j, "high surrogate not followed by a low one");
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			break;
		default:
			return fail(j, "unknown escape in a string");
		}
		/* cp as UTF-8 */
		if (cp < 0x80) {
			rc = out_byte(j, (uint8_t)cp);
		} else if (cp < 0x800) {
			if ((rc = out_byte(j, (uint8_t)(0xc0 | cp >> 6))) == 0)
				rc = out_byte(j, (uint8_t)(0x80 | (cp & 63)));
		} else if (cp < 0x10000) {
			if ((rc = out_byte(j, (uint8_t)(0xe0 | cp >> 12))) == 0 &&
			    (rc = out_byte(j, (uint8_t)(0x80 | ((cp >> 6) & 63)))) == 0)
				rc = out_byte(j, (uint8_t)(0x80 | (cp & 63)));
		} else {
			if ((rc = out_byte(j, (uint8_t)(0xf0 | cp >> 18))) == 0 &&
			    (rc = out_byte(j, (uint8_t)(0x80 | ((cp >> 12) & 63)))) == 0 &&
			    (rc = out_byte(j, (uint8_t)(0x80 | ((cp >> 6) & 63)))) == 0)
				rc = out_byte(j, (uint8_t)(0x80 | (cp & 63)));
		}
		if (rc < 0)
			return rc;
	}
	*p = j->bytes + start;
	*n = j->bytes_used - start;
	return 0;
}

/* Decode canonical padded base64 s[0..n) in place (common/base64.c: the
 * output never overtakes the input); *out_n its length. */
static int b64_decode_inplace(struct jp *j, uint8_t *s, size_t n, size_t *out_n)
{
	int got = tfs_b64_decode((const char *)s, n, s, n);

	if (got < 0)
		return fail(j, "base64: not canonical padded base64");
	*out_n = (size_t)got;
	return 0;
}

/* string | {"base64":"..."} | null (when nullable): *len -1 for null. */
static int parse_bytes(struct jp *j, bool nullable, const char *why,
                       const uint8_t **p, int32_t *len)
{
	const uint8_t *s;
	size_t n;
	int rc;

	skip_ws(j);
	switch (peek(j)) {
	case 'n':
		if (!nullable)
			return fail(j, why);
		if ((rc = literal(j, "null", why)) < 0)
			return rc;
		*p = NULL;
		*len = -1;
		return 0;
	case '"':
		if ((rc = parse_string(j, &s, &n)) < 0)
			return rc;
		break;
	case '{': {
		size_t mark = j->bytes_used;
		j->pos++;
		skip_ws(j);
		if (peek(j) != '"')
			return fail(j, "expected {\"base64\":\"...\"}");
		if ((rc = parse_string(j, &s, &n)) < 0)
			return rc;
		if (n != 6 || memcmp(s, "base64", 6) != 0)
			return fail(j, "expected {\"base64\":\"...\"}");
		j->bytes_used = mark;
		skip_ws(j);
		if (peek(j) != ':')
			return fail(j, "expected ':'");
		j->pos++;
		skip_ws(j);
		if ((rc = parse_string(j, &s, &n)) < 0)
			return rc;
		if ((rc = b64_decode_inplace(j, (uint8_t *)s, n, &n)) < 0)
			return rc;
		j->bytes_used = mark + n;
		skip_ws(j);
		if (peek(j) != '}')
			return fail(j, "expected '}' after the base64 member");
		j->pos++;
		break;
	}
	default:
		return fail(j, why);
	}
	*p = s;
	*len = (int32_t)n;     /* n <= len <= RECJSON_LINE_MAX */
	return 0;
}

/* An integer (JSON number without fraction or exponent, int64 range), or
 * null when nullable (*is_null). */
static int parse_int(struct jp *j, bool nullable, const char *why,
                     int64_t *v, bool *is_null)
{
	bool neg = false;
	uint64_t mag = 0;

	skip_ws(j);
	*is_null = false;
	if (peek(j) == 'n' && nullable) {
		*is_null = true;
		return literal(j, "null", why);
	}
	if (peek(j) == '-') {
		neg = true;
		j->pos++;
	}
	int c = peek(j);
	if (c < '0' || c > '9')
		return fail(j, why);
	if (c == '0') {
		j->pos++;
		c = peek(j);
		if (c >= '0' && c <= '9')
			return fail(j, "bad number: leading zero");
	} else {
		while ((c = peek(j)) >= '0' && c <= '9') {
			if (mag > (UINT64_C(1) << 63) / 10)
				return fail(j, "number out of range");
			mag = mag * 10 + (uint64_t)(c - '0');
			j->pos++;
		}
		if (mag > (UINT64_C(1) << 63) ||
		    (!neg && mag > (uint64_t)INT64_MAX))
			return fail(j, "number out of range");
	}
	if (c == '.' || c == 'e' || c == 'E')
		return fail(j, why);
	*v = neg ? (mag == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)mag)
	         : (int64_t)mag;
	return 0;
}

static int push_header(struct jp *j, const uint8_t *k, int32_t kl,
                       const uint8_t *v, int32_t vl)
{
	if (j->nhdrs >= j->hdrs_cap || j->nhdrs >= INT32_MAX)
		return fail(j, "internal: too many headers");
	j->hdrs[j->nhdrs++] = (struct rec_header){ k, kl, v, vl };
	return 0;
}

#define WHY_HDR_NAME "headers: a name must be a string or {\"base64\":...}"
#define WHY_HDR_VALUE "headers: a value must be a string, null or {\"base64\":...}"

/* null | [name, value, ...] | {"name": value, ...} */
static int parse_headers(struct jp *j)
{
	const uint8_t *k, *v;
	int32_t kl, vl;
	size_t n;
	int rc;

	skip_ws(j);
	switch (peek(j)) {
	case 'n':
		return literal(j, "null", "headers: expected an array, an object or null");
	case '[':
		j->pos++;
		skip_ws(j);
		if (peek(j) == ']') {
			j->pos++;
			return 0;
		}
		for (;;) {
			if ((rc = parse_bytes(j, false, WHY_HDR_NAME, &k, &kl)) < 0)
				return rc;
			skip_ws(j);
			if (peek(j) != ',')
				return fail(j, "headers: a name without a value");
			j->pos++;
			if ((rc = parse_bytes(j, true, WHY_HDR_VALUE, &v, &vl)) < 0 ||
			    (rc = push_header(j, k, kl, v, vl)) < 0)
				return rc;
			skip_ws(j);
			if (peek(j) == ']') {
				j->pos++;
				return 0;
			}
			if (peek(j) != ',')
				return fail(j, "headers: expected ',' or ']'");
			j->pos++;
		}
	case '{':
		j->pos++;
		skip_ws(j);
		if (peek(j) == '}') {
			j->pos++;
			return 0;
		}
		for (;;) {
			skip_ws(j);
			if ((rc = parse_string(j, &k, &n)) < 0)
				return rc;
			skip_ws(j);
			if (peek(j) != ':')
				return fail(j, "headers: expected ':'");
			j->pos++;
			if ((rc = parse_bytes(j, true, WHY_HDR_VALUE, &v, &vl)) < 0 ||
			    (rc = push_header(j, k, (int32_t)n, v, vl)) < 0)
				return rc;
			skip_ws(j);
			if (peek(j) == '}') {
				j->pos++;
				return 0;
			}
			if (peek(j) != ',')
				return fail(j, "headers: expected ',' or '}'");
			j->pos++;
		}
	default:
		return fail(j, "headers: expected an array, an object or null");
	}
}

enum field {
	F_KEY, F_PAYLOAD, F_HEADERS, F_TS, F_PARTITION, F_TOPIC, F_OFFSET,
	F_TSTYPE, F_BROKER,
};

static const struct {
	const char *name;
	enum field f;
} fields[] = {
	{ "key", F_KEY }, { "payload", F_PAYLOAD }, { "value", F_PAYLOAD },
	{ "headers", F_HEADERS }, { "ts", F_TS }, { "timestamp", F_TS },
	{ "partition", F_PARTITION }, { "topic", F_TOPIC },
	{ "offset", F_OFFSET }, { "tstype", F_TSTYPE }, { "broker", F_BROKER },
};

static int parse_member(struct jp *j, enum field f, struct recjson_rec *r)
{
	const uint8_t *s;
	int64_t v;
	bool is_null;
	size_t n;
	int rc;

	switch (f) {
	case F_KEY:
		return parse_bytes(j, true,
		                   "key: expected a string, null or {\"base64\":...}",
		                   &r->key, &r->key_len);
	case F_PAYLOAD:
		return parse_bytes(j, true,
		                   "payload: expected a string, null or {\"base64\":...}",
		                   &r->value, &r->value_len);
	case F_HEADERS:
		return parse_headers(j);
	case F_TS:
		if ((rc = parse_int(j, true, "ts: expected an integer (ms) or null",
		                    &v, &is_null)) < 0)
			return rc;
		if (!is_null && v < -1)
			return fail(j, "ts: out of range");
		r->timestamp = is_null ? -1 : v;
		return 0;
	case F_PARTITION:
		if ((rc = parse_int(j, true, "partition: expected an integer or null",
		                    &v, &is_null)) < 0)
			return rc;
		if (!is_null && (v < 0 || v > INT32_MAX))
			return fail(j, "partition: out of range");
		r->partition = is_null ? -1 : (int32_t)v;
		return 0;
	case F_TOPIC:
		skip_ws(j);
		if (peek(j) != '"')
			return fail(j, "topic: expected a string");
		if ((rc = parse_string(j, &s, &n)) < 0)
			return rc;
		r->topic = s;
		r->topic_len = (int32_t)n;
		return 0;
	case F_OFFSET:
		return parse_int(j, true, "offset: expected an integer or null",
		                 &v, &is_null);
	case F_BROKER:
		return parse_int(j, true, "broker: expected an integer or null",
		                 &v, &is_null);
	case F_TSTYPE: {
		size_t mark = j->bytes_used;
		skip_ws(j);
		if (peek(j) != '"')
			return fail(j, "tstype: expected \"create\" or \"logappend\"");
		if ((rc = parse_string(j, &s, &n)) < 0)
			return rc;
		j->bytes_used = mark;
		if (!(n == 6 && memcmp(s, "create", 6) == 0) &&
		    !(n == 9 && memcmp(s, "logappend", 9) == 0))
			return fail(j, "tstype: expected \"create\" or \"logappend\"");
		return 0;
	}
	}
	return fail(j, "internal: unknown field");
}

static int parse_object(struct jp *j, struct recjson_rec *r)
{
	unsigned seen = 0;
	int rc;

	skip_ws(j);
	if (j->pos >= j->len)
		return fail(j, "empty line: expected an object");
	if (peek(j) != '{')
		return fail(j, "expected an object");
	j->pos++;
	skip_ws(j);
	if (peek(j) == '}') {
		j->pos++;
		goto end;
	}
	for (;;) {
		const uint8_t *name;
		size_t n, mark = j->bytes_used, i;

		skip_ws(j);
		if (peek(j) != '"')
			return fail(j, "expected a member name");
		if ((rc = parse_string(j, &name, &n)) < 0)
			return rc;
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strlen(fields[i].name) == n &&
			    memcmp(fields[i].name, name, n) == 0)
				break;
		j->bytes_used = mark;   /* the name is not kept */
		if (i == sizeof(fields) / sizeof(fields[0]))
			return fail(j, "unknown member");
		if (seen & (1u << fields[i].f))
			return fail(j, "member given twice");
		seen |= 1u << fields[i].f;
		skip_ws(j);
		if (peek(j) != ':')
			return fail(j, "expected ':'");
		j->pos++;
		if ((rc = parse_member(j, fields[i].f, r)) < 0)
			return rc;
		skip_ws(j);
		if (peek(j) == '}') {
			j->pos++;
			break;
		}
		if (peek(j) != ',')
			return fail(j, "expected ',' or '}'");
		j->pos++;
	}
end:
	skip_ws(j);
	if (j->pos != j->len)
		return fail(j, "bytes after the object");
	return 0;
}

static size_t hdrs_cap_for(size_t len)
{
	return len / 6 + 1;
}

size_t recjson_scratch_size(size_t len)
{
	if (len > RECJSON_LINE_MAX)
		return SIZE_MAX;
	return alignof(struct rec_header) - 1 +
	       hdrs_cap_for(len) * sizeof(struct rec_header) + len;
}

int recjson_parse(const char *line, size_t len, void *scratch,
                  size_t scratch_len, struct recjson_rec *out,
                  const char **why, size_t *at)
{
	struct recjson_rec r = {
		.key = NULL, .key_len = -1, .value = NULL, .value_len = -1,
		.headers = NULL, .header_count = 0, .timestamp = -1,
		.partition = -1, .topic = NULL, .topic_len = -1,
	};
	struct jp j;
	int rc;

	if (!line || !scratch || !out)
		return -EINVAL;
	if (len > RECJSON_LINE_MAX)
		return -EMSGSIZE;
	if (scratch_len < recjson_scratch_size(len))
		return -ENOBUFS;
	uintptr_t base = (uintptr_t)scratch;
	size_t pad = (alignof(struct rec_header) -
	              base % alignof(struct rec_header)) %
	             alignof(struct rec_header);
	memset(&j, 0, sizeof(j));
	j.s = (const uint8_t *)line;
	j.len = len;
	j.hdrs = (struct rec_header *)(void *)((uint8_t *)scratch + pad);
	j.hdrs_cap = hdrs_cap_for(len);
	j.bytes = (uint8_t *)(j.hdrs + j.hdrs_cap);
	j.bytes_cap = len;
	rc = parse_object(&j, &r);
	if (rc < 0) {
		if (why)
			*why = j.why;
		if (at)
			*at = j.pos;
		return rc;
	}
	r.headers = j.nhdrs ? j.hdrs : NULL;
	r.header_count = (int32_t)j.nhdrs;
	*out = r;
	return 0;
}

void recjson_to_rec_in(const struct recjson_rec *in, struct rec_in *out)
{
	memset(out, 0, sizeof(*out));
	out->key = in->key;
	out->key_len = in->key_len;
	out->value = in->value;
	out->value_len = in->value_len;
	out->timestamp = in->timestamp;
	out->headers = in->headers;
	out->header_count = in->header_count;
}
