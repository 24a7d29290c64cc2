/*
 * sasl.h - the server side of SASL PLAIN and SCRAM-SHA-256/512 (RFC 4616,
 * RFC 5802, RFC 7677) as Kafka uses them, and the users file of salted
 * SCRAM verifiers (sasl.c).  Pure: no sockets, no logging, no globals but
 * a process-wide random secret (for unknown users' fake salts); the Kafka
 * side (SaslHandshake, SaslAuthenticate, delays, logs) is srv_sasl.c, the
 * writer of the file is topicfs-admin (tools/admin_users.c).
 *
 * Thread-safety: a struct sasl_users is immutable once loaded and may be
 * read from any thread; a struct sasl_session belongs to one connection.
 * Every function here is reentrant.
 *
 * No plain password is ever stored: each user has, per SCRAM mechanism, a
 * verifier (salt, iterations, StoredKey, ServerKey).  PLAIN checks a
 * password by deriving StoredKey with the stored salt and iterations and
 * comparing (CRYPTO_memcmp).
 */
#ifndef TOPICFS_SASL_H
#define TOPICFS_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sasl_mech {
	SASL_MECH_PLAIN = 0,
	SASL_MECH_SCRAM_SHA_256,
	SASL_MECH_SCRAM_SHA_512,
	SASL_MECH_COUNT
};

#define SASL_NAME_MAX        128    /* user name bytes */
#define SASL_SALT_MIN        8
#define SASL_SALT_MAX        64
#define SASL_SALT_LEN        16     /* what sasl_verifier_new generates */
#define SASL_ITER_MIN        4096   /* RFC 7677's floor */
#define SASL_ITER_MAX        1000000
#define SASL_ITER_DEFAULT    8192
#define SASL_KEY_MAX         64     /* SHA-512 */
#define SASL_TOKEN_MAX       4096   /* any one client token */
#define SASL_USERS_MAX       10000  /* names in the users file */
#define SASL_FILE_MAX        (4 << 20)
#define SASL_LINE_MAX        1024

/* "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512". */
const char *sasl_mech_name(enum sasl_mech m);
/* The mechanism named (exact, case-sensitive as Kafka), -1 when none. */
int sasl_mech_from_name(const char *name, size_t len);
/* Parse "SCRAM-SHA-512, SCRAM-SHA-256, PLAIN" (comma and/or blank
 * separated) into a bit mask (bit m = mechanism m) and the order given.
 * 0, or -EINVAL with why ("unknown mechanism 'X'", "empty list"). */
int sasl_mechs_parse(const char *list, unsigned *mask, enum sasl_mech order[SASL_MECH_COUNT],
                     int *norder, char *why, size_t why_len);

/* A user name as stored: 1..SASL_NAME_MAX bytes of A-Z a-z 0-9 and
 * . _ - @ +  (no ',' or '=', which SCRAM escapes and principals list). */
bool sasl_name_valid(const char *name, size_t len);

/* One SCRAM verifier. */
struct sasl_verifier {
	enum sasl_mech mech;        /* SCRAM-SHA-256 or -512 */
	int32_t iterations;
	uint8_t salt_len;
	uint8_t salt[SASL_SALT_MAX];
	uint8_t stored_key[SASL_KEY_MAX];   /* H(ClientKey) */
	uint8_t server_key[SASL_KEY_MAX];   /* HMAC(SaltedPassword, "Server Key") */
};

/* Digest length of a SCRAM mechanism (32, 64), 0 for PLAIN. */
size_t sasl_key_len(enum sasl_mech m);
/* Derive the verifier of password with this salt and iteration count.
 * 0, -EINVAL (mechanism, salt or iterations out of bounds), -EIO
 * (libcrypto failed). */
int sasl_verifier_make(enum sasl_mech m, const char *password, size_t pw_len,
                       const uint8_t *salt, size_t salt_len, int32_t iterations,
                       struct sasl_verifier *out);
/* The same with a fresh random salt (SASL_SALT_LEN bytes). */
int sasl_verifier_new(enum sasl_mech m, const char *password, size_t pw_len,
                      int32_t iterations, struct sasl_verifier *out);
/* Does password match v?  Derives and compares in constant time. */
bool sasl_verifier_check(const struct sasl_verifier *v, const char *password,
                         size_t pw_len);

/* ------------------------------ users file ------------------------------ */

/*
 * Format (one line per user and mechanism; '#' comments and blank lines;
 * at most SASL_LINE_MAX bytes a line, SASL_FILE_MAX bytes, SASL_USERS_MAX
 * names):
 *
 *   NAME MECHANISM iterations=N salt=B64 stored_key=B64 server_key=B64
 *
 * MECHANISM is SCRAM-SHA-256 or SCRAM-SHA-512; the four attributes come
 * once each, in any order; base64 is standard with padding; keys have the
 * digest's length, salts SASL_SALT_MIN..SASL_SALT_MAX bytes; iterations
 * SASL_ITER_MIN..SASL_ITER_MAX.  A (NAME, MECHANISM) pair appears once.
 * The file must be a regular file with no group or other permission bits
 * (0600 or stricter).
 */
struct sasl_users;

/* Parse text (len bytes; what is named in messages: path).  0, -EINVAL
 * with "PATH:LINE: why" in err, -ENOMEM. */
int sasl_users_parse(const char *text, size_t len, const char *path,
                     struct sasl_users **out, char *err, size_t err_len);
/* Read and parse a file; also -ENOENT (missing), -EPERM (group or world
 * permissions, or not a regular file), -EFBIG, -errno of open/read.
 * *id (optional) gets the file's identity for sasl_users_changed. */
struct sasl_file_id {
	uint64_t dev, ino, size;
	int64_t mtime_ns;
};
int sasl_users_load(const char *path, struct sasl_users **out,
                    struct sasl_file_id *id, char *err, size_t err_len);
/* Has the file at path changed since id (a different inode, size or
 * mtime, or it is gone / came back)?  *now gets its identity (zeroed when
 * missing). */
bool sasl_users_changed(const char *path, const struct sasl_file_id *id,
                        struct sasl_file_id *now);
void sasl_users_free(struct sasl_users *u);
/* Entries (lines) in the table; entry i's name and verifier, in name
 * order then mechanism. */
size_t sasl_users_count(const struct sasl_users *u);
const char *sasl_users_at(const struct sasl_users *u, size_t i,
                          const struct sasl_verifier **v);
/* The verifier of name for mechanism m, NULL when none. */
const struct sasl_verifier *sasl_users_find(const struct sasl_users *u,
                                            const char *name,
                                            enum sasl_mech m);
/* Write one file line (with '\n') for name and v into buf.  Its length,
 * or -ENOSPC. */
int sasl_users_format(const char *name, const struct sasl_verifier *v,
                      char *buf, size_t len);

/* ------------------------------ exchanges ------------------------------- */

/* Looks up a user's verifier for a mechanism (for PLAIN: any SCRAM one);
 * true and *out filled when known. */
typedef bool (*sasl_lookup_fn)(void *arg, const char *user, enum sasl_mech m,
                               struct sasl_verifier *out);

enum sasl_status {
	SASL_CONTINUE,              /* send out, wait for the next token */
	SASL_OK,                    /* authenticated; send out (may be empty) */
	SASL_FAIL_CREDENTIALS,      /* unknown user or wrong password/proof */
	SASL_FAIL_PROTOCOL,         /* a malformed or unexpected message */
};

struct sasl_session;

/* A new exchange for mechanism m; NULL when out of memory. */
struct sasl_session *sasl_session_new(enum sasl_mech m);
void sasl_session_free(struct sasl_session *ss);
/* Tests only: the server's part of the nonce (printable, no ','), used
 * instead of random bytes. */
void sasl_session_set_nonce(struct sasl_session *ss, const char *server_nonce);
/*
 * Take the client's next token (in, in_len bytes) and build the answer in
 * out (out_cap bytes, at least 512; *out_len its length).  why (for the
 * server's log) says what failed.  After SASL_OK, FAIL_* the session is
 * finished: any further step fails as FAIL_PROTOCOL.  An unknown user's
 * SCRAM exchange goes on with a fake salt derived from the name (so the
 * server-first message does not tell who exists) and fails at the proof.
 */
enum sasl_status sasl_session_step(struct sasl_session *ss, const uint8_t *in,
                                   size_t in_len, sasl_lookup_fn lookup,
                                   void *arg, uint8_t *out, size_t out_cap,
                                   size_t *out_len, char *why, size_t why_len);
/* The user name the client gave (decoded; "" before it was parsed). */
const char *sasl_session_user(const struct sasl_session *ss);

#endif /* TOPICFS_SASL_H */
