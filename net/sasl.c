/*
 * sasl.c - SASL PLAIN and SCRAM-SHA-256/512, server side, and the users
 * file of SCRAM verifiers (sasl.h).  No sockets, no logs: srv_sasl.c
 * speaks Kafka around it, topicfs-admin writes the file.
 *
 * DESIGN
 *
 * SCRAM (RFC 5802, with RFC 7677's SHA-256 and Kafka's SHA-512), two
 * round trips:
 *
 *   client-first   gs2-header client-first-bare
 *                  gs2-header = ("n" | "y") "," [ "a=" saslname ] ","
 *                  client-first-bare = "n=" saslname ",r=" c-nonce
 *   server-first   "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
 *   client-final   "c=" base64(gs2-header) ",r=" c-nonce s-nonce ",p=" base64(proof)
 *   server-final   "v=" base64(ServerSignature)
 *
 * with SaltedPassword = PBKDF2-HMAC-H(password, salt, i), ClientKey =
 * HMAC(SaltedPassword, "Client Key"), StoredKey = H(ClientKey),
 * ServerKey = HMAC(SaltedPassword, "Server Key"), AuthMessage =
 * client-first-bare "," server-first "," client-final-without-proof,
 * ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage) and
 * ServerSignature = HMAC(ServerKey, AuthMessage).  The server checks
 * H(ClientProof XOR HMAC(StoredKey, AuthMessage)) == StoredKey with
 * CRYPTO_memcmp.  Refused: channel binding ("p=" flag: we offer no -PLUS
 * mechanism), a mandatory extension ("m="), any extension after the nonce
 * (Kafka's tokenauth=true: no delegation tokens here), an authzid other
 * than the user name, a nonce that does not end with the one this server
 * completed (Kafka's rule, "ends with": librdkafka 2.0 repeats its client
 * nonce in front; a client-final replayed from another exchange fails
 * either way, the server nonce being random), a saslname
 * with a bad '=' escape (only =2C and =3D exist).  An unknown user gets a
 * server-first with a salt derived from the name and a process secret,
 * and the default iteration count, so the answer does not tell whether
 * the user exists; the proof then fails like a wrong password.
 *
 * PLAIN (RFC 4616): authzid NUL authcid NUL passwd; authzid empty or the
 * user.  The password is checked against the user's SCRAM verifier (the
 * SHA-512 one, else SHA-256): derive with the stored salt and iterations,
 * compare StoredKey.  An unknown user costs the same derivation.
 *
 * Passwords are bytes: no SASLprep (Kafka's Java server does none either),
 * so clients must send the same bytes topicfs-admin was given.
 *
 * Bounds: a client token SASL_TOKEN_MAX bytes, a name SASL_NAME_MAX, a
 * client nonce SASL_NONCE_MAX; session memory is fixed (struct
 * sasl_session, a few KiB).  The users file: see sasl.h.
 *
 * Thread-safety: everything is reentrant; the process secret is made once
 * under pthread_once.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "base64.h"
#include "sasl.h"

#define SASL_NONCE_MAX   256        /* client nonce characters */
#define SASL_SNONCE_RAW  24         /* random bytes of the server nonce */

/* ============================== mechanisms ================================ */

static const char *const mech_names[SASL_MECH_COUNT] = {
	[SASL_MECH_PLAIN] = "PLAIN",
	[SASL_MECH_SCRAM_SHA_256] = "SCRAM-SHA-256",
	[SASL_MECH_SCRAM_SHA_512] = "SCRAM-SHA-512",
};

const char *sasl_mech_name(enum sasl_mech m)
{
	return (unsigned)m < SASL_MECH_COUNT ? mech_names[m] : "?";
}

int sasl_mech_from_name(const char *name, size_t len)
{
	for (int m = 0; m < SASL_MECH_COUNT; m++)
		if (strlen(mech_names[m]) == len && !memcmp(mech_names[m], name, len))
			return m;
	return -1;
}

int sasl_mechs_parse(const char *list, unsigned *mask,
                     enum sasl_mech order[SASL_MECH_COUNT], int *norder,
                     char *why, size_t why_len)
{
	unsigned mk = 0;
	int n = 0;
	const char *p = list;

	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t l = strcspn(p, ", \t");
		int m = sasl_mech_from_name(p, l);
		if (m < 0) {
			snprintf(why, why_len, "unknown SASL mechanism '%.*s' (PLAIN, "
			         "SCRAM-SHA-256, SCRAM-SHA-512)", (int)(l > 64 ? 64 : l), p);
			return -EINVAL;
		}
		if (!(mk & (1u << m))) {
			mk |= 1u << m;
			order[n++] = (enum sasl_mech)m;
		}
		p += l;
	}
	if (!mk) {
		snprintf(why, why_len, "no SASL mechanism listed");
		return -EINVAL;
	}
	*mask = mk;
	*norder = n;
	return 0;
}

bool sasl_name_valid(const char *name, size_t len)
{
	if (len < 1 || len > SASL_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr("._-@+", c)) || c == '\0')
			return false;
	}
	return true;
}

/* =============================== crypto =================================== */

static const EVP_MD *mech_md(enum sasl_mech m)
{
	return m == SASL_MECH_SCRAM_SHA_256 ? EVP_sha256() :
	       m == SASL_MECH_SCRAM_SHA_512 ? EVP_sha512() : NULL;
}

size_t sasl_key_len(enum sasl_mech m)
{
	return m == SASL_MECH_SCRAM_SHA_256 ? 32 : m == SASL_MECH_SCRAM_SHA_512 ? 64 : 0;
}

static bool hmac(enum sasl_mech m, const uint8_t *key, size_t key_len,
                 const void *msg, size_t msg_len, uint8_t *out)
{
	unsigned int ol = 0;
	return HMAC(mech_md(m), key, (int)key_len, msg, msg_len, out, &ol) &&
	       ol == sasl_key_len(m);
}

static bool digest(enum sasl_mech m, const uint8_t *in, size_t n, uint8_t *out)
{
	unsigned int ol = 0;
	return EVP_Digest(in, n, out, &ol, mech_md(m), NULL) == 1 &&
	       ol == sasl_key_len(m);
}

/* StoredKey and ServerKey of a password. */
static int derive(enum sasl_mech m, const char *pw, size_t pw_len,
                  const uint8_t *salt, size_t salt_len, int32_t iterations,
                  uint8_t stored[SASL_KEY_MAX], uint8_t server[SASL_KEY_MAX])
{
	uint8_t salted[SASL_KEY_MAX], client[SASL_KEY_MAX];
	size_t kl = sasl_key_len(m);
	int rc = -EIO;

	if (pw_len > INT32_MAX)
		return -EINVAL;
	if (PKCS5_PBKDF2_HMAC(pw_len ? pw : "", (int)pw_len, salt, (int)salt_len,
	                      iterations, mech_md(m), (int)kl, salted) != 1)
		goto wipe;
	if (!hmac(m, salted, kl, "Client Key", 10, client) ||
	    !digest(m, client, kl, stored) ||
	    !hmac(m, salted, kl, "Server Key", 10, server))
		goto wipe;
	rc = 0;
wipe:
	OPENSSL_cleanse(salted, sizeof salted);
	OPENSSL_cleanse(client, sizeof client);
	return rc;
}

int sasl_verifier_make(enum sasl_mech m, const char *password, size_t pw_len,
                       const uint8_t *salt, size_t salt_len, int32_t iterations,
                       struct sasl_verifier *out)
{
	struct sasl_verifier v;

	if (!sasl_key_len(m) || salt_len < SASL_SALT_MIN || salt_len > SASL_SALT_MAX ||
	    iterations < SASL_ITER_MIN || iterations > SASL_ITER_MAX)
		return -EINVAL;
	memset(&v, 0, sizeof v);
	v.mech = m;
	v.iterations = iterations;
	v.salt_len = (uint8_t)salt_len;
	memcpy(v.salt, salt, salt_len);
	int rc = derive(m, password, pw_len, salt, salt_len, iterations,
	                v.stored_key, v.server_key);
	if (rc)
		return rc;
	*out = v;
	return 0;
}

int sasl_verifier_new(enum sasl_mech m, const char *password, size_t pw_len,
                      int32_t iterations, struct sasl_verifier *out)
{
	uint8_t salt[SASL_SALT_LEN];
	if (RAND_bytes(salt, sizeof salt) != 1)
		return -EIO;
	return sasl_verifier_make(m, password, pw_len, salt, sizeof salt,
	                          iterations, out);
}

bool sasl_verifier_check(const struct sasl_verifier *v, const char *password,
                         size_t pw_len)
{
	uint8_t stored[SASL_KEY_MAX], server[SASL_KEY_MAX];
	size_t kl = sasl_key_len(v->mech);
	bool ok = kl && derive(v->mech, password, pw_len, v->salt, v->salt_len,
	                       v->iterations, stored, server) == 0 &&
	          CRYPTO_memcmp(stored, v->stored_key, kl) == 0;
	OPENSSL_cleanse(server, sizeof server);
	return ok;
}

/* The process secret behind unknown users' fake salts. */
static uint8_t fake_secret[32];
static bool fake_secret_ok;
static pthread_once_t fake_once = PTHREAD_ONCE_INIT;

static void fake_secret_init(void)
{
	fake_secret_ok = RAND_bytes(fake_secret, sizeof fake_secret) == 1;
}

/* A verifier for a user who does not exist: a salt that stays the same for
 * the name during the process's life, the default iterations, keys no
 * password matches (random).  false when libcrypto fails. */
static bool fake_verifier(enum sasl_mech m, const char *user,
                          struct sasl_verifier *v)
{
	uint8_t mac[64];
	unsigned int ml = 0;

	pthread_once(&fake_once, fake_secret_init);
	if (!fake_secret_ok)
		return false;
	memset(v, 0, sizeof *v);
	v->mech = m;
	v->iterations = SASL_ITER_DEFAULT;
	v->salt_len = SASL_SALT_LEN;
	uint8_t tag = (uint8_t)m;
	uint8_t msg[1 + SASL_NAME_MAX];
	size_t ul = strlen(user);
	if (ul > SASL_NAME_MAX)
		ul = SASL_NAME_MAX;
	msg[0] = tag;
	memcpy(msg + 1, user, ul);
	if (!HMAC(EVP_sha256(), fake_secret, sizeof fake_secret, msg, 1 + ul, mac, &ml))
		return false;
	memcpy(v->salt, mac, SASL_SALT_LEN);
	return RAND_bytes(v->stored_key, SASL_KEY_MAX) == 1 &&
	       RAND_bytes(v->server_key, SASL_KEY_MAX) == 1;
}

/* ============================== users file ================================ */

struct sasl_user_entry {
	char name[SASL_NAME_MAX + 1];
	struct sasl_verifier v;
};

struct sasl_users {
	struct sasl_user_entry *e;  /* sorted by name, then mechanism */
	size_t n;
};

void sasl_users_free(struct sasl_users *u)
{
	if (!u)
		return;
	if (u->e)
		OPENSSL_cleanse(u->e, u->n * sizeof *u->e);
	free(u->e);
	free(u);
}

size_t sasl_users_count(const struct sasl_users *u)
{
	return u ? u->n : 0;
}

const char *sasl_users_at(const struct sasl_users *u, size_t i,
                          const struct sasl_verifier **v)
{
	if (!u || i >= u->n)
		return NULL;
	if (v)
		*v = &u->e[i].v;
	return u->e[i].name;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct sasl_user_entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return (x->v.mech > y->v.mech) - (x->v.mech < y->v.mech);
}

const struct sasl_verifier *sasl_users_find(const struct sasl_users *u,
                                            const char *name, enum sasl_mech m)
{
	struct sasl_user_entry key;
	if (!u || !u->n || strlen(name) > SASL_NAME_MAX)
		return NULL;
	snprintf(key.name, sizeof key.name, "%s", name);
	key.v.mech = m;
	const struct sasl_user_entry *e = bsearch(&key, u->e, u->n, sizeof *u->e,
	                                          entry_cmp);
	return e ? &e->v : NULL;
}

int sasl_users_format(const char *name, const struct sasl_verifier *v,
                      char *buf, size_t len)
{
	char salt[128], stored[128], server[128];
	size_t kl = sasl_key_len(v->mech);
	if (!kl || tfs_b64_encode(v->salt, v->salt_len, salt, sizeof salt) < 0 ||
	    tfs_b64_encode(v->stored_key, kl, stored, sizeof stored) < 0 ||
	    tfs_b64_encode(v->server_key, kl, server, sizeof server) < 0)
		return -EINVAL;
	int n = snprintf(buf, len, "%s %s iterations=%d salt=%s stored_key=%s "
	                 "server_key=%s\n", name, sasl_mech_name(v->mech),
	                 (int)v->iterations, salt, stored, server);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

/* Parse one line's fields into e.  0 or -EINVAL with why. */
static int parse_line(char *line, struct sasl_user_entry *e, char *why,
                      size_t why_len)
{
	char *save = NULL;
	char *name = strtok_r(line, " \t", &save);
	char *mech = strtok_r(NULL, " \t", &save);
	bool have_iter = false, have_salt = false, have_stored = false,
	     have_server = false;

	memset(e, 0, sizeof *e);
	if (!name || !mech) {
		snprintf(why, why_len, "expected NAME MECHANISM iterations=N salt=B64 "
		         "stored_key=B64 server_key=B64");
		return -EINVAL;
	}
	if (!sasl_name_valid(name, strlen(name))) {
		snprintf(why, why_len, "invalid user name (1..%d of A-Z a-z 0-9 "
		         ". _ - @ +)", SASL_NAME_MAX);
		return -EINVAL;
	}
	strcpy(e->name, name);
	int m = sasl_mech_from_name(mech, strlen(mech));
	if (m != SASL_MECH_SCRAM_SHA_256 && m != SASL_MECH_SCRAM_SHA_512) {
		snprintf(why, why_len, "user %s: mechanism '%.40s' is not "
		         "SCRAM-SHA-256 or SCRAM-SHA-512", name, mech);
		return -EINVAL;
	}
	e->v.mech = (enum sasl_mech)m;
	size_t kl = sasl_key_len(e->v.mech);
	for (char *f; (f = strtok_r(NULL, " \t", &save)) != NULL;) {
		char *eq = strchr(f, '=');
		if (!eq) {
			snprintf(why, why_len, "user %s: '%.40s' is not KEY=VALUE", name, f);
			return -EINVAL;
		}
		*eq = '\0';
		const char *val = eq + 1;
		size_t vl = strlen(val);
		bool *have;
		int n;
		if (!strcmp(f, "iterations")) {
			have = &have_iter;
			char *end;
			errno = 0;
			long it = strtol(val, &end, 10);
			if (!vl || *end || errno || it < SASL_ITER_MIN || it > SASL_ITER_MAX ||
			    val[0] == '+' || val[0] == '-' || val[0] == ' ') {
				snprintf(why, why_len, "user %s: iterations must be %d..%d",
				         name, SASL_ITER_MIN, SASL_ITER_MAX);
				return -EINVAL;
			}
			e->v.iterations = (int32_t)it;
		} else if (!strcmp(f, "salt")) {
			have = &have_salt;
			n = tfs_b64_decode(val, vl, e->v.salt, sizeof e->v.salt);
			if (n < SASL_SALT_MIN) {
				snprintf(why, why_len, "user %s: salt must be base64 of "
				         "%d..%d bytes", name, SASL_SALT_MIN, SASL_SALT_MAX);
				return -EINVAL;
			}
			e->v.salt_len = (uint8_t)n;
		} else if (!strcmp(f, "stored_key") || !strcmp(f, "server_key")) {
			bool stored = f[1] == 't';
			have = stored ? &have_stored : &have_server;
			n = tfs_b64_decode(val, vl, stored ? e->v.stored_key : e->v.server_key,
			                    SASL_KEY_MAX);
			if (n < 0 || (size_t)n != kl) {
				snprintf(why, why_len, "user %s: %s must be base64 of %zu "
				         "bytes for %s", name, f, kl, mech);
				return -EINVAL;
			}
		} else {
			snprintf(why, why_len, "user %s: unknown attribute '%.40s'", name, f);
			return -EINVAL;
		}
		if (*have) {
			snprintf(why, why_len, "user %s: %s given twice", name, f);
			return -EINVAL;
		}
		*have = true;
	}
	if (!have_iter || !have_salt || !have_stored || !have_server) {
		snprintf(why, why_len, "user %s %s: missing %s", name, mech,
		         !have_iter ? "iterations" : !have_salt ? "salt" :
		         !have_stored ? "stored_key" : "server_key");
		return -EINVAL;
	}
	return 0;
}

int sasl_users_parse(const char *text, size_t len, const char *path,
                     struct sasl_users **out, char *err, size_t err_len)
{
	struct sasl_users *u = calloc(1, sizeof *u);
	size_t cap = 0, names = 0;
	char line[SASL_LINE_MAX + 1], why[300];
	int lineno = 0, rc = -EINVAL;

	if (!u)
		return -ENOMEM;
	if (len > SASL_FILE_MAX) {
		snprintf(err, err_len, "%s: larger than %d bytes", path, SASL_FILE_MAX);
		goto fail;
	}
	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		lineno++;
		if (ll > SASL_LINE_MAX) {
			snprintf(err, err_len, "%s:%d: line longer than %d bytes", path,
			         lineno, SASL_LINE_MAX);
			goto fail;
		}
		memcpy(line, text + pos, ll);
		line[ll] = '\0';
		pos += ll + (nl ? 1 : 0);
		if (memchr(line, '\0', ll)) {
			snprintf(err, err_len, "%s:%d: NUL byte", path, lineno);
			goto fail;
		}
		if (ll && line[ll - 1] == '\r')
			line[--ll] = '\0';
		const char *p = line + strspn(line, " \t");
		if (!*p || *p == '#')
			continue;
		if (u->n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct sasl_user_entry *ne = realloc(u->e, nc * sizeof *ne);
			if (!ne) {
				rc = -ENOMEM;
				snprintf(err, err_len, "%s: out of memory", path);
				goto fail;
			}
			u->e = ne;
			cap = nc;
		}
		struct sasl_user_entry *e = &u->e[u->n];
		if (parse_line(line, e, why, sizeof why)) {
			snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
			goto fail;
		}
		u->n++;
	}
	if (u->n)
		qsort(u->e, u->n, sizeof *u->e, entry_cmp);
	for (size_t i = 0; i < u->n; i++) {
		if (i && !entry_cmp(&u->e[i], &u->e[i - 1])) {
			snprintf(err, err_len, "%s: user %s has two %s lines", path,
			         u->e[i].name, sasl_mech_name(u->e[i].v.mech));
			goto fail;
		}
		if (!i || strcmp(u->e[i].name, u->e[i - 1].name))
			names++;
	}
	if (names > SASL_USERS_MAX) {
		snprintf(err, err_len, "%s: %zu users, at most %d", path, names,
		         SASL_USERS_MAX);
		goto fail;
	}
	OPENSSL_cleanse(line, sizeof line);
	*out = u;
	return 0;
fail:
	OPENSSL_cleanse(line, sizeof line);
	sasl_users_free(u);
	return rc;
}

static void file_id_of(const struct stat *st, struct sasl_file_id *id)
{
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->size = (uint64_t)st->st_size;
	id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

int sasl_users_load(const char *path, struct sasl_users **out,
                    struct sasl_file_id *id, char *err, size_t err_len)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int rc;

	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: cannot open the users file: %s", path,
		         strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: fstat: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EPERM;
		snprintf(err, err_len, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		rc = -EPERM;
		snprintf(err, err_len, "%s: mode %04o lets the group or others in: "
		         "the users file must be 0600 (chmod 600 %s)", path,
		         (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > SASL_FILE_MAX) {
		rc = -EFBIG;
		snprintf(err, err_len, "%s: larger than %d bytes", path, SASL_FILE_MAX);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, err_len, "%s: out of memory", path);
		goto out;
	}
	while (got <= (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, err_len, "%s: read: %s", path, strerror(-rc));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > (size_t)st.st_size) {
		rc = -EAGAIN;           /* grew while read: a writer not atomic */
		snprintf(err, err_len, "%s: changed while being read", path);
		goto out;
	}
	rc = sasl_users_parse(buf, got, path, out, err, err_len);
	if (!rc && id)
		file_id_of(&st, id);
out:
	if (buf) {
		OPENSSL_cleanse(buf, got);
		free(buf);
	}
	close(fd);
	return rc;
}

bool sasl_users_changed(const char *path, const struct sasl_file_id *id,
                        struct sasl_file_id *now)
{
	struct stat st;
	memset(now, 0, sizeof *now);
	if (stat(path, &st) == 0)
		file_id_of(&st, now);
	return memcmp(now, id, sizeof *now) != 0;
}

/* ============================== exchanges ================================= */

enum ss_state {
	SS_START,                   /* waiting for the first client token */
	SS_FIRST_SENT,              /* SCRAM: server-first sent */
	SS_DONE,                    /* succeeded or failed: no more steps */
};

struct sasl_session {
	enum sasl_mech mech;
	enum ss_state state;
	char user[SASL_NAME_MAX + 1];
	bool known;                 /* the user has a verifier */
	struct sasl_verifier v;     /* the user's, or a fake one */
	char snonce_test[64];       /* tests: a fixed server nonce */
	char gs2[SASL_NAME_MAX * 3 + 8];    /* the gs2 header, ',' included */
	size_t gs2_len;
	char nonce[SASL_NONCE_MAX + 64];    /* client + server nonce */
	/* AuthMessage so far: client-first-bare "," server-first "," */
	char auth[SASL_TOKEN_MAX + 512];
	size_t auth_len;
};

struct sasl_session *sasl_session_new(enum sasl_mech m)
{
	if ((unsigned)m >= SASL_MECH_COUNT)
		return NULL;
	struct sasl_session *ss = calloc(1, sizeof *ss);
	if (ss)
		ss->mech = m;
	return ss;
}

void sasl_session_free(struct sasl_session *ss)
{
	if (!ss)
		return;
	OPENSSL_cleanse(ss, sizeof *ss);
	free(ss);
}

void sasl_session_set_nonce(struct sasl_session *ss, const char *server_nonce)
{
	snprintf(ss->snonce_test, sizeof ss->snonce_test, "%s", server_nonce);
}

const char *sasl_session_user(const struct sasl_session *ss)
{
	return ss ? ss->user : "";
}

static enum sasl_status fail(struct sasl_session *ss, enum sasl_status st,
                             char *why, size_t why_len, const char *what)
{
	ss->state = SS_DONE;
	snprintf(why, why_len, "%s", what);
	return st;
}

/* Decode a saslname (=2C -> ',', =3D -> '='; any other '=' is an error)
 * of n bytes into out (at most SASL_NAME_MAX bytes).  false when it does
 * not parse or is too long. */
static bool saslname_decode(const char *s, size_t n, char *out)
{
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '=') {
			if (i + 2 >= n)
				return false;
			if (s[i + 1] == '2' && s[i + 2] == 'C')
				c = ',';
			else if (s[i + 1] == '3' && s[i + 2] == 'D')
				c = '=';
			else
				return false;
			i += 2;
		} else if (c == ',' || c == '\0') {
			return false;
		}
		if (j >= SASL_NAME_MAX)
			return false;
		out[j++] = c;
	}
	out[j] = '\0';
	return j > 0;
}

static bool nonce_ok(const char *s, size_t n)
{
	if (n < 1 || n > SASL_NONCE_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	return true;
}

static bool auth_add(struct sasl_session *ss, const void *p, size_t n)
{
	if (ss->auth_len + n > sizeof ss->auth)
		return false;
	memcpy(ss->auth + ss->auth_len, p, n);
	ss->auth_len += n;
	return true;
}

static enum sasl_status scram_first(struct sasl_session *ss, const char *in,
                                    size_t n, sasl_lookup_fn lookup, void *arg,
                                    uint8_t *out, size_t out_cap,
                                    size_t *out_len, char *why, size_t why_len)
{
	size_t pos = 0;
	char authzid[SASL_NAME_MAX + 1] = "";

	/* gs2-header */
	if (n < 3)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (too short)");
	if (in[0] == 'p')
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "client asks for channel binding (not supported)");
	if ((in[0] != 'n' && in[0] != 'y') || in[1] != ',')
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (gs2 header)");
	pos = 2;
	if (in[pos] != ',') {
		if (n - pos < 3 || in[pos] != 'a' || in[pos + 1] != '=')
			return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
			            "malformed client-first message (authzid)");
		const char *a = in + pos + 2;
		const char *c = memchr(a, ',', n - pos - 2);
		if (!c || !saslname_decode(a, (size_t)(c - a), authzid))
			return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
			            "malformed client-first message (authzid)");
		pos = (size_t)(c - in);
	}
	pos++;                      /* the ',' ending the header */
	if (pos > sizeof ss->gs2)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (gs2 header too long)");
	memcpy(ss->gs2, in, pos);
	ss->gs2_len = pos;

	/* client-first-bare: n=saslname,r=nonce */
	const char *bare = in + pos;
	size_t bl = n - pos;
	if (bl >= 2 && bare[0] == 'm' && bare[1] == '=')
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "client-first message has a mandatory extension "
		            "(not supported)");
	if (bl < 2 || bare[0] != 'n' || bare[1] != '=')
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (no n=)");
	const char *name = bare + 2;
	const char *c = memchr(name, ',', bl - 2);
	if (!c || !saslname_decode(name, (size_t)(c - name), ss->user))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (user name)");
	const char *r = c + 1;
	size_t rl = (size_t)(bare + bl - r);
	if (rl < 2 || r[0] != 'r' || r[1] != '=')
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (no r=)");
	const char *cn = r + 2;
	const char *ext = memchr(cn, ',', rl - 2);
	size_t cnl = ext ? (size_t)(ext - cn) : rl - 2;
	if (ext)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "client-first message has extensions (tokenauth and "
		            "others are not supported)");
	if (!nonce_ok(cn, cnl))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed client-first message (nonce)");
	if (authzid[0] && strcmp(authzid, ss->user))
		return fail(ss, SASL_FAIL_CREDENTIALS, why, why_len,
		            "authorization id differs from the user name");

	/* the verifier: the user's, or a fake one */
	ss->known = sasl_name_valid(ss->user, strlen(ss->user)) &&
	            lookup(arg, ss->user, ss->mech, &ss->v) && ss->v.mech == ss->mech;
	if (!ss->known && !fake_verifier(ss->mech, ss->user, &ss->v))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "libcrypto failed (random bytes)");

	/* the server nonce */
	char snonce[64];
	if (ss->snonce_test[0]) {
		snprintf(snonce, sizeof snonce, "%s", ss->snonce_test);
	} else {
		uint8_t raw[SASL_SNONCE_RAW];
		if (RAND_bytes(raw, sizeof raw) != 1)
			return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
			            "libcrypto failed (random bytes)");
		tfs_b64_encode(raw, sizeof raw, snonce, sizeof snonce);
	}
	snprintf(ss->nonce, sizeof ss->nonce, "%.*s%s", (int)cnl, cn, snonce);

	char salt[SASL_SALT_MAX * 2];
	tfs_b64_encode(ss->v.salt, ss->v.salt_len, salt, sizeof salt);
	int sl = snprintf((char *)out, out_cap, "r=%s,s=%s,i=%d", ss->nonce, salt,
	                  (int)ss->v.iterations);
	if (sl < 0 || (size_t)sl >= out_cap)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "server-first message does not fit");
	ss->auth_len = 0;
	if (!auth_add(ss, bare, bl) || !auth_add(ss, ",", 1) ||
	    !auth_add(ss, out, (size_t)sl) || !auth_add(ss, ",", 1))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "client-first message too long");
	*out_len = (size_t)sl;
	ss->state = SS_FIRST_SENT;
	return SASL_CONTINUE;
}

static enum sasl_status scram_final(struct sasl_session *ss, const char *in,
                                    size_t n, uint8_t *out, size_t out_cap,
                                    size_t *out_len, char *why, size_t why_len)
{
	char cb[sizeof ss->gs2 * 2];
	uint8_t proof[SASL_KEY_MAX], sig[SASL_KEY_MAX], ckey[SASL_KEY_MAX],
	        stored[SASL_KEY_MAX];
	size_t kl = sasl_key_len(ss->mech);
	enum sasl_status st = SASL_FAIL_PROTOCOL;
	const char *what = "malformed client-final message";

	/* c=base64(gs2 header) */
	int cbl = tfs_b64_encode((const uint8_t *)ss->gs2, ss->gs2_len, cb, sizeof cb);
	if (cbl < 0 || n < 2 + (size_t)cbl + 1 || memcmp(in, "c=", 2) ||
	    memcmp(in + 2, cb, (size_t)cbl) || in[2 + cbl] != ',') {
		what = "client-final message: channel binding does not match the "
		       "gs2 header";
		goto out;
	}
	const char *r = in + 2 + cbl + 1;
	size_t rest = n - (size_t)(r - in);
	size_t nl = strlen(ss->nonce);
	if (rest < 2 || memcmp(r, "r=", 2))
		goto out;
	const char *rend = memchr(r + 2, ',', rest - 2);
	/* Kafka's check: the nonce ends with this exchange's (librdkafka 2.0
	 * sends its client nonce once more in front) */
	size_t rl = rend ? (size_t)(rend - r - 2) : 0;
	if (!rend || rl < nl || rl > sizeof ss->nonce * 2 ||
	    memcmp(r + 2 + (rl - nl), ss->nonce, nl)) {
		what = "client-final message: nonce is not this exchange's "
		       "(replayed or forged)";
		goto out;
	}
	const char *p = rend + 1;
	size_t pl = n - (size_t)(p - in);
	if (pl < 2 || memcmp(p, "p=", 2)) {
		what = "client-final message: extensions or no proof";
		goto out;
	}
	int got = tfs_b64_decode(p + 2, pl - 2, proof, sizeof proof);
	if (got < 0 || (size_t)got != kl) {
		what = "client-final message: malformed proof";
		goto out;
	}
	/* AuthMessage = ... "," client-final-without-proof */
	if (!auth_add(ss, in, (size_t)(rend - in))) {
		what = "client-final message too long";
		goto out;
	}
	if (!hmac(ss->mech, ss->v.stored_key, kl, ss->auth, ss->auth_len, sig)) {
		what = "libcrypto failed (HMAC)";
		goto out;
	}
	for (size_t i = 0; i < kl; i++)
		ckey[i] = proof[i] ^ sig[i];
	if (!digest(ss->mech, ckey, kl, stored)) {
		what = "libcrypto failed (digest)";
		goto out;
	}
	bool match = CRYPTO_memcmp(stored, ss->v.stored_key, kl) == 0;
	if (!ss->known || !match) {
		st = SASL_FAIL_CREDENTIALS;
		what = ss->known ? "invalid proof (wrong password)" : "unknown user";
		goto out;
	}
	/* server-final: v=base64(HMAC(ServerKey, AuthMessage)) */
	if (!hmac(ss->mech, ss->v.server_key, kl, ss->auth, ss->auth_len, sig) ||
	    out_cap < 3) {
		what = "libcrypto failed (HMAC)";
		goto out;
	}
	memcpy(out, "v=", 2);
	int vl = tfs_b64_encode(sig, kl, (char *)out + 2, out_cap - 2);
	if (vl < 0) {
		what = "server-final message does not fit";
		goto out;
	}
	*out_len = 2 + (size_t)vl;
	st = SASL_OK;
	what = "";
out:
	OPENSSL_cleanse(ckey, sizeof ckey);
	OPENSSL_cleanse(sig, sizeof sig);
	ss->state = SS_DONE;
	snprintf(why, why_len, "%s", what);
	return st;
}

static enum sasl_status plain_step(struct sasl_session *ss, const char *in,
                                   size_t n, sasl_lookup_fn lookup, void *arg,
                                   size_t *out_len, char *why, size_t why_len)
{
	const char *z1 = memchr(in, '\0', n);
	const char *z2 = z1 ? memchr(z1 + 1, '\0', n - (size_t)(z1 + 1 - in)) : NULL;
	if (!z1 || !z2)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed PLAIN message (expected authzid NUL user "
		            "NUL password)");
	size_t al = (size_t)(z1 - in), ul = (size_t)(z2 - z1 - 1);
	const char *user = z1 + 1, *pw = z2 + 1;
	size_t pwl = n - (size_t)(pw - in);
	if (ul < 1 || ul > SASL_NAME_MAX)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed PLAIN message (user name length)");
	memcpy(ss->user, user, ul);
	ss->user[ul] = '\0';
	if (al && (al != ul || memcmp(in, user, ul)))
		return fail(ss, SASL_FAIL_CREDENTIALS, why, why_len,
		            "authorization id differs from the user name");
	if (memchr(pw, '\0', pwl))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "malformed PLAIN message (NUL in password)");
	struct sasl_verifier v;
	bool known = sasl_name_valid(ss->user, ul) &&
	             (lookup(arg, ss->user, SASL_MECH_SCRAM_SHA_512, &v) ||
	              lookup(arg, ss->user, SASL_MECH_SCRAM_SHA_256, &v)) &&
	             sasl_key_len(v.mech);
	if (!known && !fake_verifier(SASL_MECH_SCRAM_SHA_512, ss->user, &v))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "libcrypto failed (random bytes)");
	bool ok = sasl_verifier_check(&v, pw, pwl);     /* same cost either way */
	OPENSSL_cleanse(&v, sizeof v);
	if (!known)
		return fail(ss, SASL_FAIL_CREDENTIALS, why, why_len, "unknown user");
	if (!ok)
		return fail(ss, SASL_FAIL_CREDENTIALS, why, why_len,
		            "wrong password");
	ss->state = SS_DONE;
	*out_len = 0;
	why[0] = '\0';
	return SASL_OK;
}

enum sasl_status sasl_session_step(struct sasl_session *ss, const uint8_t *in,
                                   size_t in_len, sasl_lookup_fn lookup,
                                   void *arg, uint8_t *out, size_t out_cap,
                                   size_t *out_len, char *why, size_t why_len)
{
	const char *s = (const char *)in;

	*out_len = 0;
	if (ss->state == SS_DONE)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "authentication exchange already finished");
	if (in_len > SASL_TOKEN_MAX)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "client token too large");
	if (ss->mech == SASL_MECH_PLAIN)
		return plain_step(ss, s, in_len, lookup, arg, out_len, why, why_len);
	if (memchr(s, '\0', in_len))
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "NUL byte in a SCRAM message");
	if (out_cap < 512)
		return fail(ss, SASL_FAIL_PROTOCOL, why, why_len,
		            "output buffer too small");
	if (ss->state == SS_START)
		return scram_first(ss, s, in_len, lookup, arg, out, out_cap, out_len,
		                   why, why_len);
	return scram_final(ss, s, in_len, out, out_cap, out_len, why, why_len);
}
