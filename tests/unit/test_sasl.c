/*
 * test_sasl.c - SASL PLAIN and SCRAM-SHA-256/512 (net/sasl.c), the users
 * file, and the SaslHandshake/SaslAuthenticate handlers (net/srv_sasl.c)
 * called directly on a server state without sockets.
 *
 * The SCRAM client side is written here from RFC 5802 with libcrypto, so
 * the server is checked against an independent computation, and against
 * RFC 7677's SCRAM-SHA-256 example byte for byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "base64.h"
#include "sasl.h"
#include "srv_internal.h"
#include "testutil.h"
#include "tinytest.h"

/* ============================ helpers ===================================== */

static struct sasl_users *g_users;      /* what lookup reads */
static const char *g_nonce_prefix = ""; /* client_final: librdkafka 2.0's
                                           repeated client nonce */

static bool lookup(void *arg, const char *user, enum sasl_mech m,
                   struct sasl_verifier *out)
{
	(void)arg;
	const struct sasl_verifier *v = sasl_users_find(g_users, user, m);
	if (!v)
		return false;
	*out = *v;
	return true;
}

/* Users table of one or more formatted lines. */
static struct sasl_users *users_of(const char *text)
{
	struct sasl_users *u = NULL;
	char err[300];
	int rc = sasl_users_parse(text, strlen(text), "t", &u, err, sizeof err);
	if (rc)
		fprintf(stderr, "  parse: %s\n", err);
	return u;
}

/* Add lines for name with password for both SCRAM mechanisms to buf. */
static void add_user(char *buf, size_t cap, const char *name, const char *pw,
                     unsigned mechs)
{
	for (int m = SASL_MECH_SCRAM_SHA_256; m <= SASL_MECH_SCRAM_SHA_512; m++) {
		if (!(mechs & (1u << m)))
			continue;
		struct sasl_verifier v;
		char line[512];
		CHECK(sasl_verifier_new((enum sasl_mech)m, pw, strlen(pw), 4096, &v) == 0);
		CHECK(sasl_users_format(name, &v, line, sizeof line) > 0);
		strncat(buf, line, cap - strlen(buf) - 1);
	}
}

static const EVP_MD *md_of(enum sasl_mech m)
{
	return m == SASL_MECH_SCRAM_SHA_256 ? EVP_sha256() : EVP_sha512();
}

/* The SCRAM client's final message for password, given its client-first
 * bare and the server-first message; *expect_v gets the server signature
 * it must see ("v=..."). */
static void client_final(enum sasl_mech m, const char *pw, const char *gs2,
                         const char *bare, const char *sfirst, char *out,
                         size_t out_len, char *expect_v, size_t ev_len)
{
	char nonce[512], salt_b64[256];
	int iters = 0;
	uint8_t salt[128], salted[64], ckey[64], skey[64], stored[64], sig[64],
	        proof[64], ssig[64];
	unsigned l = 0;
	size_t kl = sasl_key_len(m);

	CHECK(sscanf(sfirst, "r=%511[^,],s=%255[^,],i=%d", nonce, salt_b64, &iters) == 3);
	int sl = tfs_b64_decode(salt_b64, strlen(salt_b64), salt, sizeof salt);
	CHECK(sl > 0);
	PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sl, iters, md_of(m), (int)kl, salted);
	HMAC(md_of(m), salted, (int)kl, (const uint8_t *)"Client Key", 10, ckey, &l);
	HMAC(md_of(m), salted, (int)kl, (const uint8_t *)"Server Key", 10, skey, &l);
	EVP_Digest(ckey, kl, stored, &l, md_of(m), NULL);
	char cb[128], without[1024], auth[4096];
	tfs_b64_encode((const uint8_t *)gs2, strlen(gs2), cb, sizeof cb);
	snprintf(without, sizeof without, "c=%s,r=%s%s", cb, g_nonce_prefix, nonce);
	snprintf(auth, sizeof auth, "%s,%s,%s", bare, sfirst, without);
	HMAC(md_of(m), stored, (int)kl, (const uint8_t *)auth, strlen(auth), sig, &l);
	for (size_t i = 0; i < kl; i++)
		proof[i] = ckey[i] ^ sig[i];
	char pb[128];
	tfs_b64_encode(proof, kl, pb, sizeof pb);
	snprintf(out, out_len, "%s,p=%s", without, pb);
	HMAC(md_of(m), skey, (int)kl, (const uint8_t *)auth, strlen(auth), ssig, &l);
	char sb[128];
	tfs_b64_encode(ssig, kl, sb, sizeof sb);
	snprintf(expect_v, ev_len, "v=%s", sb);
}

static enum sasl_status step(struct sasl_session *ss, const char *in,
                             char *out, size_t *out_len, char *why)
{
	uint8_t buf[1024];
	enum sasl_status st = sasl_session_step(ss, (const uint8_t *)in, strlen(in),
	                                        lookup, NULL, buf, sizeof buf,
	                                        out_len, why, 200);
	memcpy(out, buf, *out_len);
	out[*out_len] = '\0';
	return st;
}

/* A whole SCRAM exchange; returns the final status. */
static enum sasl_status scram_login(enum sasl_mech m, const char *user,
                                    const char *pw, char *why)
{
	char bare[300], first[400], sfirst[1100], final[1200], ev[200], sfinal[1100];
	size_t ol;
	snprintf(bare, sizeof bare, "n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user);
	snprintf(first, sizeof first, "n,,%s", bare);
	struct sasl_session *ss = sasl_session_new(m);
	enum sasl_status st = step(ss, first, sfirst, &ol, why);
	if (st == SASL_CONTINUE) {
		client_final(m, pw, "n,,", bare, sfirst, final, sizeof final, ev, sizeof ev);
		st = step(ss, final, sfinal, &ol, why);
		if (st == SASL_OK)
			CHECK(strcmp(sfinal, ev) == 0);
	}
	sasl_session_free(ss);
	return st;
}

/* ============================== cases ===================================== */

static void test_base64(void)
{
	uint8_t in[40], out[40];
	char text[80];
	for (size_t n = 0; n < sizeof in; n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		int tl = tfs_b64_encode(in, n, text, sizeof text);
		CHECK(tl == (int)((n + 2) / 3 * 4));
		CHECK(tfs_b64_decode(text, (size_t)tl, out, sizeof out) == (int)n);
		CHECK(memcmp(in, out, n) == 0);
	}
	CHECK(tfs_b64_decode("biws", 4, out, sizeof out) == 3 && !memcmp(out, "n,,", 3));
	CHECK(tfs_b64_decode("biw", 3, out, sizeof out) == -EINVAL);
	CHECK(tfs_b64_decode("bi=s", 4, out, sizeof out) == -EINVAL);
	CHECK(tfs_b64_decode("bi w", 4, out, sizeof out) == -EINVAL);
	CHECK(tfs_b64_decode("YR==", 4, out, sizeof out) == -EINVAL);  /* not canonical */
	CHECK(tfs_b64_decode("YQ==YQ==", 8, out, sizeof out) == -EINVAL);
	CHECK(tfs_b64_decode("YWJj", 4, out, 2) == -ENOSPC);
}

/* RFC 7677 section 3: user "user", password "pencil". */
static void test_rfc7677_vector(void)
{
	uint8_t salt[32];
	struct sasl_verifier v;
	char line[512], out[1100], why[200];
	size_t ol;

	int sl = tfs_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof salt);
	REQUIRE(sl == 16);
	REQUIRE(sasl_verifier_make(SASL_MECH_SCRAM_SHA_256, "pencil", 6, salt,
	                           (size_t)sl, 4096, &v) == 0);
	REQUIRE(sasl_users_format("user", &v, line, sizeof line) > 0);
	g_users = users_of(line);
	REQUIRE(g_users);
	struct sasl_session *ss = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
	sasl_session_set_nonce(ss, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
	CHECK(step(ss, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO", out, &ol, why) == SASL_CONTINUE);
	CHECK(strcmp(out, "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	                  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096") == 0);
	CHECK(step(ss, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	               "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", out, &ol,
	           why) == SASL_OK);
	CHECK(strcmp(out, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == 0);
	CHECK(strcmp(sasl_session_user(ss), "user") == 0);
	/* finished: another step fails */
	CHECK(step(ss, "c=biws", out, &ol, why) == SASL_FAIL_PROTOCOL);
	sasl_session_free(ss);
	CHECK(sasl_verifier_check(&v, "pencil", 6));
	CHECK(!sasl_verifier_check(&v, "pencil ", 7));
	sasl_users_free(g_users);
	g_users = NULL;
}

static void test_scram_roundtrips(void)
{
	char text[4096] = "", why[200];
	add_user(text, sizeof text, "alice", "s3cret wörd", ~0u);
	add_user(text, sizeof text, "bob", "", 1u << SASL_MECH_SCRAM_SHA_256);
	g_users = users_of(text);
	REQUIRE(g_users);
	CHECK(sasl_users_count(g_users) == 3);
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_512, "alice", "s3cret wörd", why) == SASL_OK);
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_256, "alice", "s3cret wörd", why) == SASL_OK);
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_256, "bob", "", why) == SASL_OK);
	/* bad proof */
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_512, "alice", "s3cret word", why) ==
	      SASL_FAIL_CREDENTIALS);
	CHECK(strstr(why, "invalid proof") != NULL);
	/* bob has no SHA-512 verifier: as an unknown user */
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_512, "bob", "", why) == SASL_FAIL_CREDENTIALS);
	CHECK(strstr(why, "unknown user") != NULL);
	CHECK(scram_login(SASL_MECH_SCRAM_SHA_512, "carol", "x", why) == SASL_FAIL_CREDENTIALS);
	sasl_users_free(g_users);
	g_users = NULL;
}

/* An unknown user's server-first looks like a real one and is stable. */
static void test_unknown_user_fake_salt(void)
{
	char text[4096] = "", a[1100], b[1100], why[200];
	size_t ol;
	add_user(text, sizeof text, "alice", "pw", ~0u);
	g_users = users_of(text);
	struct sasl_session *s1 = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	struct sasl_session *s2 = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	CHECK(step(s1, "n,,n=mallory,r=abc", a, &ol, why) == SASL_CONTINUE);
	CHECK(step(s2, "n,,n=mallory,r=abc", b, &ol, why) == SASL_CONTINUE);
	const char *sa = strstr(a, ",s="), *sb = strstr(b, ",s=");
	REQUIRE(sa && sb);
	CHECK(strcmp(sa, sb) == 0);                 /* same salt, same i */
	CHECK(strstr(a, ",i=8192") != NULL);
	sasl_session_free(s1);
	sasl_session_free(s2);
	sasl_users_free(g_users);
	g_users = NULL;
}

static void test_replayed_nonce(void)
{
	char text[4096] = "", why[200], sf1[1100], sf2[1100], fin[1200], ev[200], out[1100];
	size_t ol;
	add_user(text, sizeof text, "alice", "pw", ~0u);
	g_users = users_of(text);
	const char *bare = "n=alice,r=clientnonce";
	struct sasl_session *s1 = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
	CHECK(step(s1, "n,,n=alice,r=clientnonce", sf1, &ol, why) == SASL_CONTINUE);
	client_final(SASL_MECH_SCRAM_SHA_256, "pw", "n,,", bare, sf1, fin, sizeof fin,
	             ev, sizeof ev);
	CHECK(step(s1, fin, out, &ol, why) == SASL_OK);
	/* librdkafka 2.0 sends r=CLIENTNONCE + the server's r=: accepted, as
	 * Kafka does (the nonce must end with this exchange's) */
	struct sasl_session *s0 = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
	CHECK(step(s0, "n,,n=alice,r=clientnonce", sf1, &ol, why) == SASL_CONTINUE);
	g_nonce_prefix = "clientnonce";
	client_final(SASL_MECH_SCRAM_SHA_256, "pw", "n,,", bare, sf1, fin, sizeof fin,
	             ev, sizeof ev);
	g_nonce_prefix = "";
	CHECK(step(s0, fin, out, &ol, why) == SASL_OK);
	sasl_session_free(s0);
	/* the same client-final against a new exchange (same client nonce) */
	struct sasl_session *s2 = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
	CHECK(step(s2, "n,,n=alice,r=clientnonce", sf2, &ol, why) == SASL_CONTINUE);
	CHECK(strcmp(sf1, sf2) != 0);               /* a fresh server nonce */
	CHECK(step(s2, fin, out, &ol, why) == SASL_FAIL_PROTOCOL);
	CHECK(strstr(why, "nonce") != NULL);
	sasl_session_free(s1);
	sasl_session_free(s2);
	sasl_users_free(g_users);
	g_users = NULL;
}

static void test_mechanisms(void)
{
	unsigned mask;
	enum sasl_mech order[SASL_MECH_COUNT];
	int n;
	char why[200];
	CHECK(sasl_mechs_parse("SCRAM-SHA-512, SCRAM-SHA-256, PLAIN", &mask, order, &n,
	                       why, sizeof why) == 0);
	CHECK(n == 3 && order[0] == SASL_MECH_SCRAM_SHA_512 && order[2] == SASL_MECH_PLAIN);
	CHECK(sasl_mechs_parse("PLAIN PLAIN", &mask, order, &n, why, sizeof why) == 0);
	CHECK(n == 1 && mask == 1u << SASL_MECH_PLAIN);
	CHECK(sasl_mechs_parse("GSSAPI", &mask, order, &n, why, sizeof why) == -EINVAL);
	CHECK(strstr(why, "GSSAPI") != NULL);
	CHECK(sasl_mechs_parse("scram-sha-256", &mask, order, &n, why, sizeof why) == -EINVAL);
	CHECK(sasl_mechs_parse(" , ", &mask, order, &n, why, sizeof why) == -EINVAL);
	CHECK(sasl_mech_from_name("SCRAM-SHA-1", 11) == -1);
	CHECK(sasl_mech_from_name("PLAIN", 5) == SASL_MECH_PLAIN);
	CHECK(sasl_name_valid("a.b_c-d@e+f", 11));
	CHECK(!sasl_name_valid("a,b", 3) && !sasl_name_valid("a=b", 3) &&
	      !sasl_name_valid("", 0) && !sasl_name_valid("a b", 3));
}

static void test_scram_malformed(void)
{
	static const char *const bad[] = {
		"", "n", "n,", "n,,", "p=tls-unique,,n=alice,r=abc", "x,,n=alice,r=abc",
		"n,,m=ext,n=alice,r=abc", "n,,n=alice", "n,,n=alice,r=",
		"n,,n=al=2Xice,r=abc", "n,,n=al=2,r=abc", "n,,n=alice=,r=abc",
		"n,,n=alice,r=abc,tokenauth=true", "n,,n=,r=abc", "n,,r=abc,n=alice",
		"n,,n=alice,r=a b", "n,a,n=alice,r=abc", "n,,N=alice,r=abc",
	};
	char text[4096] = "", out[1100], why[200];
	size_t ol;
	add_user(text, sizeof text, "alice", "pw", ~0u);
	g_users = users_of(text);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct sasl_session *ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
		enum sasl_status st = step(ss, bad[i], out, &ol, why);
		if (st != SASL_FAIL_PROTOCOL)
			fprintf(stderr, "  accepted: '%s'\n", bad[i]);
		CHECK(st == SASL_FAIL_PROTOCOL);
		sasl_session_free(ss);
	}
	/* an authzid that is not the user */
	struct sasl_session *ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	CHECK(step(ss, "n,a=bob,n=alice,r=abc", out, &ol, why) == SASL_FAIL_CREDENTIALS);
	sasl_session_free(ss);
	/* the same one is fine, and y (client could bind, server cannot) too */
	ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	CHECK(step(ss, "y,a=alice,n=alice,r=abc", out, &ol, why) == SASL_CONTINUE);
	sasl_session_free(ss);
	/* escapes decode */
	ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	CHECK(step(ss, "n,,n=a=2Cb=3Dc,r=abc", out, &ol, why) == SASL_CONTINUE);
	CHECK(strcmp(sasl_session_user(ss), "a,b=c") == 0);
	sasl_session_free(ss);
	/* NUL inside, token too large */
	ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	uint8_t nul[] = "n,,n=alice\0x,r=abc";
	uint8_t obuf[1024];
	CHECK(sasl_session_step(ss, nul, sizeof nul - 1, lookup, NULL, obuf, sizeof obuf,
	                        &ol, why, sizeof why) == SASL_FAIL_PROTOCOL);
	sasl_session_free(ss);
	static uint8_t big[SASL_TOKEN_MAX + 1];
	memset(big, 'a', sizeof big);
	ss = sasl_session_new(SASL_MECH_SCRAM_SHA_512);
	CHECK(sasl_session_step(ss, big, sizeof big, lookup, NULL, obuf, sizeof obuf,
	                        &ol, why, sizeof why) == SASL_FAIL_PROTOCOL);
	sasl_session_free(ss);

	/* every truncation of a good exchange's messages, and a flipped byte
	 * at every position of the final one: never a success, never a crash */
	const char *first = "n,,n=alice,r=0123456789abcdef";
	for (size_t cut = 0; cut < strlen(first); cut++) {
		char t[100];
		memcpy(t, first, cut);
		t[cut] = '\0';
		ss = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
		CHECK(step(ss, t, out, &ol, why) != SASL_OK);
		sasl_session_free(ss);
	}
	char sf[1100], fin[1200], ev[200];
	ss = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
	CHECK(step(ss, first, sf, &ol, why) == SASL_CONTINUE);
	sasl_session_free(ss);
	for (size_t cut = 0; cut <= 200; cut++) {
		ss = sasl_session_new(SASL_MECH_SCRAM_SHA_256);
		REQUIRE(step(ss, first, sf, &ol, why) == SASL_CONTINUE);
		client_final(SASL_MECH_SCRAM_SHA_256, "pw", "n,,", first + 3, sf, fin,
		             sizeof fin, ev, sizeof ev);
		size_t fl = strlen(fin);
		enum sasl_status want = SASL_OK;
		if (cut < fl) {
			if (cut % 2)
				fin[cut] = '\0';                /* truncated */
			else
				fin[cut] ^= 0x01;               /* one bit flipped */
			want = SASL_FAIL_PROTOCOL;
		}
		enum sasl_status st = step(ss, fin, out, &ol, why);
		CHECK(want == SASL_OK ? st == SASL_OK : st != SASL_OK);
		sasl_session_free(ss);
		if (cut >= fl)
			break;
	}
	sasl_users_free(g_users);
	g_users = NULL;
}

static enum sasl_status plain(const char *msg, size_t len, char *why)
{
	uint8_t out[600];
	size_t ol;
	struct sasl_session *ss = sasl_session_new(SASL_MECH_PLAIN);
	enum sasl_status st = sasl_session_step(ss, (const uint8_t *)msg, len, lookup,
	                                        NULL, out, sizeof out, &ol, why, 200);
	if (st == SASL_OK)
		CHECK(ol == 0);
	sasl_session_free(ss);
	return st;
}

#define PLAIN(lit, why) plain(lit, sizeof lit - 1, why)

static void test_plain(void)
{
	char text[4096] = "", why[200];
	add_user(text, sizeof text, "alice", "pw", ~0u);
	add_user(text, sizeof text, "bob", "hunter2", 1u << SASL_MECH_SCRAM_SHA_256);
	g_users = users_of(text);
	CHECK(PLAIN("\0alice\0pw", why) == SASL_OK);
	CHECK(PLAIN("alice\0alice\0pw", why) == SASL_OK);
	CHECK(PLAIN("\0bob\0hunter2", why) == SASL_OK);     /* SHA-256 only */
	CHECK(PLAIN("\0alice\0pW", why) == SASL_FAIL_CREDENTIALS);
	CHECK(strstr(why, "wrong password") != NULL);
	CHECK(PLAIN("\0alice\0", why) == SASL_FAIL_CREDENTIALS);
	CHECK(PLAIN("\0carol\0pw", why) == SASL_FAIL_CREDENTIALS);
	CHECK(strstr(why, "unknown user") != NULL);
	CHECK(PLAIN("bob\0alice\0pw", why) == SASL_FAIL_CREDENTIALS);
	CHECK(strstr(why, "authorization id") != NULL);
	CHECK(PLAIN("\0alice", why) == SASL_FAIL_PROTOCOL);
	CHECK(PLAIN("alice", why) == SASL_FAIL_PROTOCOL);
	CHECK(PLAIN("", why) == SASL_FAIL_PROTOCOL);
	CHECK(PLAIN("\0\0pw", why) == SASL_FAIL_PROTOCOL);
	CHECK(PLAIN("\0alice\0pw\0", why) == SASL_FAIL_PROTOCOL);
	sasl_users_free(g_users);
	g_users = NULL;
}

static void test_users_file_errors(void)
{
	struct sasl_verifier v;
	char good[512], text[4096], err[400];
	struct sasl_users *u = NULL;
	REQUIRE(sasl_verifier_new(SASL_MECH_SCRAM_SHA_512, "pw", 2, 8192, &v) == 0);
	REQUIRE(sasl_users_format("alice", &v, good, sizeof good) > 0);
	good[strlen(good) - 1] = '\0';
	char salt[64], key[100];
	CHECK(sscanf(good, "alice SCRAM-SHA-512 iterations=8192 salt=%63s stored_key=%99s",
	             salt, key) == 2);
	static const struct {
		const char *line, *want;
	} cases[] = {
		{ "alice", "expected NAME" },
		{ "al,ice SCRAM-SHA-512 iterations=8192", "invalid user name" },
		{ "alice SCRAM-SHA-1 iterations=8192", "is not SCRAM-SHA-256" },
		{ "alice PLAIN iterations=8192", "is not SCRAM-SHA-256" },
		{ "alice SCRAM-SHA-512 iterations=100 salt=AAAAAAAAAAA=", "iterations must be" },
		{ "alice SCRAM-SHA-512 iterations=8192x", "iterations must be" },
		{ "alice SCRAM-SHA-512 iterations=8192 salt=AAAA", "salt must be" },
		{ "alice SCRAM-SHA-512 iterations=8192 salt=!!!!", "salt must be" },
		{ "alice SCRAM-SHA-512 iterations=8192 stored_key=AAAA", "stored_key must be" },
		{ "alice SCRAM-SHA-512 iterations=8192 iterations=8192", "given twice" },
		{ "alice SCRAM-SHA-512 iterations=8192 colour=blue", "unknown attribute" },
		{ "alice SCRAM-SHA-512 iterations=8192 junk", "not KEY=VALUE" },
		{ "alice SCRAM-SHA-512 iterations=8192", "missing salt" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(text, sizeof text, "# users\n\n%s\n", cases[i].line);
		int rc = sasl_users_parse(text, strlen(text), "f", &u, err, sizeof err);
		CHECK(rc == -EINVAL);
		if (rc == -EINVAL && (!strstr(err, cases[i].want) || !strstr(err, "f:3: "))) {
			fprintf(stderr, "  '%s': got '%s'\n", cases[i].line, err);
			CHECK(0);
		}
		if (!rc)
			sasl_users_free(u);
	}
	/* the key of the wrong length for the mechanism */
	snprintf(text, sizeof text, "%s", good);
	char *p = strstr(text, "SCRAM-SHA-512");
	memcpy(p, "SCRAM-SHA-256", 13);
	CHECK(sasl_users_parse(text, strlen(text), "f", &u, err, sizeof err) == -EINVAL);
	/* duplicates */
	snprintf(text, sizeof text, "%s\n%s\n", good, good);
	CHECK(sasl_users_parse(text, strlen(text), "f", &u, err, sizeof err) == -EINVAL);
	CHECK(strstr(err, "two SCRAM-SHA-512 lines") != NULL);
	/* a long line, a NUL */
	char longl[SASL_LINE_MAX + 10];
	memset(longl, 'a', sizeof longl - 1);
	longl[sizeof longl - 1] = '\0';
	CHECK(sasl_users_parse(longl, strlen(longl), "f", &u, err, sizeof err) == -EINVAL);
	CHECK(strstr(err, "longer than") != NULL);
	CHECK(sasl_users_parse("a\0b\n", 4, "f", &u, err, sizeof err) == -EINVAL);
	/* good: CRLF, comments, attributes in any order */
	snprintf(text, sizeof text, "# c\r\n  %s\r\n", good);
	REQUIRE(sasl_users_parse(text, strlen(text), "f", &u, err, sizeof err) == 0);
	const struct sasl_verifier *fv = sasl_users_find(u, "alice", SASL_MECH_SCRAM_SHA_512);
	CHECK(fv && !memcmp(fv->stored_key, v.stored_key, 64) && fv->iterations == 8192);
	CHECK(!sasl_users_find(u, "alice", SASL_MECH_SCRAM_SHA_256));
	CHECK(!sasl_users_find(u, "alic", SASL_MECH_SCRAM_SHA_512));
	sasl_users_free(u);
	snprintf(text, sizeof text, "alice SCRAM-SHA-512 server_key=%s stored_key=%s "
	         "salt=%s iterations=8192\n", key, key, salt);
	REQUIRE(sasl_users_parse(text, strlen(text), "f", &u, err, sizeof err) == 0);
	sasl_users_free(u);
}

static void test_users_file_load(void)
{
	char dir[256], path[300], err[400], text[4096] = "";
	struct sasl_users *u = NULL;
	struct sasl_file_id id, now;
	tu_tmpdir_make(dir, sizeof dir, "test_sasl");
	snprintf(path, sizeof path, "%s/users", dir);
	CHECK(sasl_users_load(path, &u, &id, err, sizeof err) == -ENOENT);
	add_user(text, sizeof text, "alice", "pw", ~0u);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	REQUIRE(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK(chmod(path, 0644) == 0);
	CHECK(sasl_users_load(path, &u, &id, err, sizeof err) == -EPERM);
	CHECK(strstr(err, "0644") != NULL && strstr(err, "0600") != NULL);
	CHECK(chmod(path, 0640) == 0);
	CHECK(sasl_users_load(path, &u, &id, err, sizeof err) == -EPERM);
	CHECK(chmod(path, 0600) == 0);
	REQUIRE(sasl_users_load(path, &u, &id, err, sizeof err) == 0);
	CHECK(sasl_users_count(u) == 2);
	CHECK(!sasl_users_changed(path, &id, &now));
	sasl_users_free(u);
	/* a rename over it is a change */
	char tmp[320];
	snprintf(tmp, sizeof tmp, "%s/users.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	CHECK(rename(tmp, path) == 0);
	CHECK(sasl_users_changed(path, &id, &now));
	/* a symlink is not followed, a directory is not a file */
	char link[320];
	snprintf(link, sizeof link, "%s/link", dir);
	CHECK(symlink(path, link) == 0);
	CHECK(sasl_users_load(link, &u, &id, err, sizeof err) == -ELOOP);
	CHECK(sasl_users_load(dir, &u, &id, err, sizeof err) == -EPERM);
	tu_tmpdir_remove(dir);
}

/* ========================= handlers, no sockets =========================== */

static struct srv *fake_srv(const char *users_file, const char *mechs)
{
	struct srv *s = calloc(1, sizeof *s);
	srv_config_defaults(&s->cfg);
	snprintf(s->cfg.sasl_users_file, sizeof s->cfg.sasl_users_file, "%s", users_file);
	snprintf(s->cfg.sasl_mechanisms, sizeof s->cfg.sasl_mechanisms, "%s", mechs);
	snprintf(s->cfg.sasl_super_users, sizeof s->cfg.sasl_super_users, "User:root");
	s->cfg.sasl_listener = true;
	if (srv_sasl_init(s)) {
		srv_sasl_free(s);
		free(s);
		return NULL;
	}
	return s;
}

/* Call a handler with body; the answer's bytes after size and header. */
static enum srv_verdict call(struct srv *s, struct srv_client *cl, int16_t key,
                             int16_t ver, const void *body, size_t len,
                             struct srv_resp *resp, struct kw_reader *r)
{
	struct srv_req req = { .api_key = key, .api_version = ver,
	                       .correlation_id = 7, .client_id_len = -1,
	                       .body = body, .body_len = len, .client = cl,
	                       .peer = "127.0.0.1:1" };
	char why[200];
	int park;
	req.flexible = key == KAPI_SASL_AUTHENTICATE && ver >= 2;
	enum srv_verdict v = srv_api_dispatch(s, &req, resp, &park, why, sizeof why);
	if (v == SRV_RESPOND) {
		kw_reader_init(r, resp->w.buf, resp->w.len);
		kw_i32(r);
		CHECK(kw_i32(r) == 7);
		if (req.flexible)
			kw_tags_skip(r);
	}
	return v;
}

static void test_handlers(void)
{
	char dir[256], path[300], text[4096] = "";
	tu_tmpdir_make(dir, sizeof dir, "test_sasl");
	snprintf(path, sizeof path, "%s/users", dir);
	add_user(text, sizeof text, "alice", "pw", ~0u);
	add_user(text, sizeof text, "root", "toor", ~0u);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);

	/* a SASL listener without the file refuses to start */
	char missing[320];
	snprintf(missing, sizeof missing, "%s/none", dir);
	CHECK(fake_srv(missing, "PLAIN") == NULL);
	CHECK(fake_srv(path, "PLAIN, GSSAPI") == NULL);

	struct srv *s = fake_srv(path, "SCRAM-SHA-256, PLAIN");
	REQUIRE(s);
	struct srv_resp resp;
	srv_resp_init(&resp);
	struct kw_reader r;
	struct kw_writer w;
	const char *str;
	int sl;

	/* handshake v1: unknown mechanism -> 33 with the list */
	struct srv_client cl = { .sec = SRV_SEC_SASL_PLAINTEXT };
	kw_writer_init(&w);
	kw_put_cstr(&w, "SCRAM-SHA-512");
	CHECK(call(s, &cl, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == KERR_UNSUPPORTED_SASL_MECHANISM);
	CHECK(kw_i32(&r) == 2);
	kw_str(&r, &str, &sl);
	CHECK(sl == 13 && !memcmp(str, "SCRAM-SHA-256", 13));
	kw_str(&r, &str, &sl);
	CHECK(sl == 5 && !memcmp(str, "PLAIN", 5));
	CHECK(!r.err && kw_remaining(&r) == 0);
	CHECK(srv_sasl_intercepts(&cl));            /* the next request closes */
	srv_sasl_conn_free(s, &cl);
	CHECK(cl.sasl == NULL);

	/* not a SASL listener: ILLEGAL_SASL_STATE */
	struct srv_client plain_cl = { .sec = SRV_SEC_PLAINTEXT };
	CHECK(call(s, &plain_cl, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) ==
	      SRV_RESPOND);
	CHECK(kw_i16(&r) == KERR_ILLEGAL_SASL_STATE);

	/* SaslAuthenticate before a handshake */
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_i32(&w, 3);
	kw_put(&w, "abc", 3);
	struct srv_client c2 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	CHECK(call(s, &c2, KAPI_SASL_AUTHENTICATE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == KERR_ILLEGAL_SASL_STATE);

	/* PLAIN through SaslAuthenticate v2 (flexible), as root: super */
	struct srv_client c3 = { .sec = SRV_SEC_SASL_SSL };
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "PLAIN");
	CHECK(call(s, &c3, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == 0);
	CHECK(!srv_sasl_intercepts(&c3));
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_uvarint(&w, 10 + 1);
	kw_put(&w, "\0root\0toor", 10);
	kw_put_i8(&w, 0);                           /* tags */
	CHECK(call(s, &c3, KAPI_SASL_AUTHENTICATE, 2, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == 0);
	kw_cstr(&r, &str, &sl);
	CHECK(sl == -1);                            /* no message */
	const uint8_t *b;
	int32_t bl;
	kw_cbytes(&r, &b, &bl);
	CHECK(bl == 0);
	CHECK(kw_i64(&r) == 0);                     /* session lifetime */
	kw_tags_skip(&r);
	CHECK(!r.err && kw_remaining(&r) == 0);
	CHECK(c3.authenticated && c3.super && !strcmp(c3.principal, "User:root"));
	/* a second handshake after success: 34, still authenticated */
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "PLAIN");
	CHECK(call(s, &c3, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == KERR_ILLEGAL_SASL_STATE);
	CHECK(c3.authenticated && !srv_sasl_intercepts(&c3));
	srv_sasl_conn_free(s, &c3);

	/* a wrong password through v1 (no connection: answered at once) */
	struct srv_client c4 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	CHECK(call(s, &c4, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_i32(&w, 9);
	kw_put(&w, "\0alice\0pX", 9);
	CHECK(call(s, &c4, KAPI_SASL_AUTHENTICATE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == KERR_SASL_AUTHENTICATION_FAILED);
	kw_str(&r, &str, &sl);
	CHECK(sl > 0 && strstr(str, "Invalid username or password"));
	kw_bytes(&r, &b, &bl);
	CHECK(bl == 0 && kw_i64(&r) == 0 && !r.err);
	CHECK(!c4.authenticated && srv_sasl_intercepts(&c4));
	srv_sasl_conn_free(s, &c4);

	/* v0: the tokens come bare (srv_sasl_bare) */
	struct srv_client c5 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "SCRAM-SHA-256");
	CHECK(call(s, &c5, KAPI_SASL_HANDSHAKE, 0, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == 0);
	CHECK(srv_sasl_intercepts(&c5));
	const char *first = "n,,n=alice,r=abcdefgh";
	struct srv_req bare = { .api_key = KAPI_SASL_AUTHENTICATE, .api_version = -1,
	                        .body = (const uint8_t *)first, .body_len = strlen(first),
	                        .client = &c5, .peer = "127.0.0.1:2" };
	char why[200];
	CHECK(srv_sasl_bare(s, &bare, &resp, why, sizeof why) == SRV_RESPOND);
	REQUIRE(resp.w.len > 4);
	CHECK(be32_get(resp.w.buf) == resp.w.len - 4);
	char sf[600], fin[1200], ev[200];
	snprintf(sf, sizeof sf, "%.*s", (int)(resp.w.len - 4), (const char *)resp.w.buf + 4);
	CHECK(strncmp(sf, "r=abcdefgh", 10) == 0);
	client_final(SASL_MECH_SCRAM_SHA_256, "pw", "n,,", first + 3, sf, fin, sizeof fin,
	             ev, sizeof ev);
	bare.body = (const uint8_t *)fin;
	bare.body_len = strlen(fin);
	CHECK(srv_sasl_bare(s, &bare, &resp, why, sizeof why) == SRV_RESPOND);
	CHECK(resp.w.len == 4 + strlen(ev) && !memcmp(resp.w.buf + 4, ev, strlen(ev)));
	CHECK(c5.authenticated && !c5.super && !strcmp(c5.principal, "User:alice"));
	CHECK(!srv_sasl_intercepts(&c5));           /* Kafka requests again */
	srv_sasl_conn_free(s, &c5);

	/* v0 with a wrong password: closed (no connection to hold) */
	struct srv_client c6 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "PLAIN");
	CHECK(call(s, &c6, KAPI_SASL_HANDSHAKE, 0, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	bare.client = &c6;
	bare.body = (const uint8_t *)"\0alice\0nope";
	bare.body_len = 11;
	CHECK(srv_sasl_bare(s, &bare, &resp, why, sizeof why) == SRV_CLOSE);
	CHECK(srv_sasl_intercepts(&c6));
	CHECK(srv_sasl_bare(s, &bare, &resp, why, sizeof why) == SRV_CLOSE);
	srv_sasl_conn_free(s, &c6);

	/* malformed requests close */
	uint8_t junk[1] = { 0 };
	struct srv_client c7 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	CHECK(call(s, &c7, KAPI_SASL_HANDSHAKE, 1, junk, 1, &resp, &r) == SRV_CLOSE);
	CHECK(call(s, &c7, KAPI_SASL_AUTHENTICATE, 2, junk, 1, &resp, &r) == SRV_CLOSE);

	/* a rewritten users file is seen at the next handshake */
	char text2[4096] = "";
	add_user(text2, sizeof text2, "dave", "pw2", ~0u);
	char tmp[320];
	snprintf(tmp, sizeof tmp, "%s/users.tmp", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0);
	CHECK(write(fd, text2, strlen(text2)) == (ssize_t)strlen(text2));
	close(fd);
	CHECK(rename(tmp, path) == 0);
	struct srv_client c8 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "PLAIN");
	CHECK(call(s, &c8, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_i32(&w, 9);
	kw_put(&w, "\0dave\0pw2", 9);
	CHECK(call(s, &c8, KAPI_SASL_AUTHENTICATE, 0, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == 0 && c8.authenticated);
	srv_sasl_conn_free(s, &c8);
	/* a bad file on reload keeps the table */
	CHECK(chmod(path, 0644) == 0);
	srv_sasl_reload(s);
	struct srv_client c9 = { .sec = SRV_SEC_SASL_PLAINTEXT };
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_cstr(&w, "PLAIN");
	CHECK(call(s, &c9, KAPI_SASL_HANDSHAKE, 1, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	kw_writer_free(&w);
	kw_writer_init(&w);
	kw_put_i32(&w, 9);
	kw_put(&w, "\0dave\0pw2", 9);
	CHECK(call(s, &c9, KAPI_SASL_AUTHENTICATE, 0, w.buf, w.len, &resp, &r) == SRV_RESPOND);
	CHECK(kw_i16(&r) == 0 && c9.authenticated);
	srv_sasl_conn_free(s, &c9);

	kw_writer_free(&w);
	srv_resp_free(&resp);
	srv_sasl_free(s);
	free(s);
	tu_tmpdir_remove(dir);
}

int main(int argc, char **argv)
{
	TT_INIT(argc, argv);
	tfs_log_set_level(TFS_LOG_ERROR);
	RUN(test_base64);
	RUN(test_rfc7677_vector);
	RUN(test_scram_roundtrips);
	RUN(test_unknown_user_fake_salt);
	RUN(test_replayed_nonce);
	RUN(test_mechanisms);
	RUN(test_scram_malformed);
	RUN(test_plain);
	RUN(test_users_file_errors);
	RUN(test_users_file_load);
	RUN(test_handlers);
	return TT_DONE();
}
