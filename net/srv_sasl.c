/*
 * srv_sasl.c - SASL authentication of the topicfs server: SaslHandshake
 * (key 17, v0-1) and SaslAuthenticate (key 36, v0-2, flexible from 2),
 * the bare tokens that follow a SaslHandshake v0, the users file kept
 * loaded, and the delay of failed logins (docs/PROTOCOL.md, "SASL").  The
 * mechanisms themselves are sasl.c.  Registered in srv_apis (srv_api.c);
 * the core (srv.c) calls srv_sasl_init/free, srv_sasl_tick, the bare-token
 * hook and srv_sasl_conn_free.
 *
 * DESIGN
 *
 * Two flavours, as Kafka serves them:
 *   SaslHandshake v1 (librdkafka, kafkajs, the Java client), then one
 *       SaslAuthenticate request per client token; the answer carries the
 *       server's token, or SASL_AUTHENTICATION_FAILED (58) with a message.
 *   SaslHandshake v0 (kafka-python 2.0.2), then the tokens come bare:
 *       int32 size + token, no request header, and each answer is int32
 *       size + token (empty for PLAIN's success).  The core asks
 *       srv_sasl_intercepts before it parses a request header; while a
 *       bare token is due, srv_sasl_bare answers it.  A failure there
 *       closes the connection without an answer (what Kafka does).
 *
 * Per connection (struct srv_client.sasl, allocated at the handshake,
 * freed by srv_sasl_conn_free at close): INIT -> MECH (a mechanism chosen,
 * the exchange running) -> DONE (authenticated) or FAILED.  A second
 * handshake, or a SaslAuthenticate without one, answers ILLEGAL_SASL_STATE
 * (34); an unknown mechanism answers UNSUPPORTED_SASL_MECHANISM (33) with
 * the enabled list.  Both end the connection's chances: the connection is
 * FAILED.  After a successful login the client is authenticated with
 * principal "User:NAME" (super when [sasl] super_users lists it); a later
 * handshake or authenticate answers ILLEGAL_SASL_STATE and changes nothing
 * (session_lifetime_ms is 0: no re-authentication, KIP-368).
 *
 * Failed logins (connection.failed.authentication.delay.ms): logged
 * (srv_log: rate-limited) with the peer, the user name (sanitized), the
 * mechanism and the cause; then the request is held (SRV_HOLD) for
 * [sasl] failed_delay_ms before it is answered (or, bare, the connection
 * is closed).  The delayed connections sit in a FIFO (one delay for all,
 * so it is sorted by due time); srv_sasl_tick answers the due ones.  Any
 * request that comes after a failure closes the connection (the core asks
 * srv_sasl_intercepts first), so a client gets one try per connection
 * and one per delay.
 *
 * The users file ([sasl] users_file) is loaded at srv_sasl_init and
 * re-read, keeping the old table when the new one is bad (an error line):
 *   - at a login attempt (SaslHandshake), when the file's inode, size or
 *     mtime changed: so topicfs-admin user add/delete (an atomic rename)
 *     takes effect at once, without a signal;
 *   - on SIGHUP: the core's reload (srv_reload, run on the server thread)
 *     calls srv_sasl_reload.
 * Everything here is server thread only.
 *
 * Costs: a login derives nothing for SCRAM (the verifier is stored) but
 * one HMAC chain; PLAIN derives PBKDF2 with the stored iteration count on
 * the server thread (8192 iterations: a few ms).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"
#include "srv_internal.h"

#define SASL_MSG_BAD_CREDENTIALS \
	"Authentication failed: Invalid username or password"

enum sc_state {
	SC_INIT,                    /* no handshake yet */
	SC_MECH,                    /* mechanism chosen, exchange running */
	SC_DONE,                    /* authenticated */
	SC_FAILED,                  /* refused: the next request closes */
};

/* One connection's SASL state (struct srv_client.sasl). */
struct srv_sasl_conn {
	enum sc_state state;
	bool bare;                  /* SaslHandshake v0: bare tokens */
	enum sasl_mech mech;
	struct sasl_session *sess;  /* while SC_MECH */
	/* a failure waiting for its delay (SRV_HOLD) */
	bool delayed;
	int64_t due_ms;
	struct srv_conn *conn;
	uint64_t serial;
	char msg[200];              /* the error message for the client */
	struct srv_sasl_conn *next, *prev;  /* s->sasl->delayed list */
};

/* The server's SASL state (s->sasl). */
struct srv_sasl {
	unsigned mech_mask;
	enum sasl_mech order[SASL_MECH_COUNT];
	int norder;
	char users_path[1024];      /* "" = none configured */
	struct sasl_users *users;   /* NULL = none loaded */
	struct sasl_file_id users_id;
	char (*supers)[SASL_NAME_MAX + 1];
	size_t nsupers;
	int delay_ms;
	struct srv_sasl_conn *delayed_head, *delayed_tail;
};

/* ============================== users file ================================ */

/* Load the users file now; on failure keep the table there is.  why: what
 * made us look (for the log line). */
static int users_reload(struct srv_sasl *ss, const char *why)
{
	struct sasl_users *nu = NULL;
	struct sasl_file_id id;
	char err[600];

	if (!ss->users_path[0])
		return 0;
	int rc = sasl_users_load(ss->users_path, &nu, &id, err, sizeof err);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: sasl: %s: %s; keeping the %zu entries "
		        "loaded before", why, err, sasl_users_count(ss->users));
		/* do not retry the same bad file at every login */
		sasl_users_changed(ss->users_path, &ss->users_id, &ss->users_id);
		return rc;
	}
	sasl_users_free(ss->users);
	ss->users = nu;
	ss->users_id = id;
	tfs_log(TFS_LOG_INFO, "net: sasl: %s: loaded %s (%zu verifiers)", why,
	        ss->users_path, sasl_users_count(nu));
	return 0;
}

static void users_check(struct srv_sasl *ss)
{
	struct sasl_file_id now;
	if (ss->users_path[0] && sasl_users_changed(ss->users_path, &ss->users_id, &now))
		users_reload(ss, "users file changed");
}

void srv_sasl_reload(struct srv *s)
{
	if (s->sasl)
		users_reload(s->sasl, "reload (SIGHUP)");
}

static bool users_lookup(void *arg, const char *user, enum sasl_mech m,
                         struct sasl_verifier *out)
{
	struct srv_sasl *ss = arg;
	const struct sasl_verifier *v = sasl_users_find(ss->users, user, m);
	if (!v)
		return false;
	*out = *v;
	return true;
}

/* =============================== lifecycle ================================ */

/* Parse "User:a, User:b" into ss->supers.  0 or -EINVAL (logged). */
static int parse_supers(struct srv_sasl *ss, const char *list)
{
	const char *p = list;
	while (*p) {
		p += strspn(p, ", \t");
		if (!*p)
			break;
		size_t l = strcspn(p, ", \t");
		if (l <= 5 || strncmp(p, "User:", 5) || !sasl_name_valid(p + 5, l - 5)) {
			tfs_log(TFS_LOG_ERROR, "net: bad configuration: [sasl] "
			        "super_users: '%.*s' is not User:NAME (NAME: 1..%d of "
			        "A-Z a-z 0-9 . _ - @ +)", (int)(l > 80 ? 80 : l), p,
			        SASL_NAME_MAX);
			return -EINVAL;
		}
		void *n = realloc(ss->supers, (ss->nsupers + 1) * sizeof *ss->supers);
		if (!n)
			return -ENOMEM;
		ss->supers = n;
		memcpy(ss->supers[ss->nsupers], p + 5, l - 5);
		ss->supers[ss->nsupers][l - 5] = '\0';
		ss->nsupers++;
		p += l;
	}
	return 0;
}

int srv_sasl_init(struct srv *s)
{
	char why[200];
	struct srv_sasl *ss = calloc(1, sizeof *ss);
	int rc;

	if (!ss)
		return -ENOMEM;
	s->sasl = ss;
	ss->delay_ms = s->cfg.sasl_failed_delay_ms;
	rc = sasl_mechs_parse(s->cfg.sasl_mechanisms, &ss->mech_mask, ss->order,
	                      &ss->norder, why, sizeof why);
	if (rc) {
		tfs_log(TFS_LOG_ERROR, "net: bad configuration: [sasl] mechanisms: %s",
		        why);
		return rc;
	}
	rc = parse_supers(ss, s->cfg.sasl_super_users);
	if (rc)
		return rc;
	bool needed = s->cfg.sasl_listener;     /* a SASL listener needs users */
	for (int i = 0; i < s->cfg.nlisteners; i++)
		needed |= s->cfg.listeners[i].sec == SRV_SEC_SASL_PLAINTEXT ||
		          s->cfg.listeners[i].sec == SRV_SEC_SASL_SSL;
	snprintf(ss->users_path, sizeof ss->users_path, "%s", s->cfg.sasl_users_file);
	if (!ss->users_path[0]) {
		if (needed) {
			tfs_log(TFS_LOG_ERROR, "net: a SASL listener needs [sasl] "
			        "users_file (created with topicfs-admin user add NAME)");
			return -EINVAL;
		}
		return 0;
	}
	struct sasl_users *u = NULL;
	char err[600];
	rc = sasl_users_load(ss->users_path, &u, &ss->users_id, err, sizeof err);
	if (rc == -ENOENT && !needed)
		return 0;               /* no SASL listener: nothing needs it yet */
	if (rc) {
		if (rc == -ENOENT)
			tfs_log(TFS_LOG_ERROR, "net: a SASL listener needs its users "
			        "file [sasl] users_file = %s, which does not exist: "
			        "create users with topicfs-admin user add NAME",
			        ss->users_path);
		else
			tfs_log(TFS_LOG_ERROR, "net: sasl: %s", err);
		return rc;
	}
	ss->users = u;
	tfs_log(TFS_LOG_INFO, "net: sasl: loaded %s (%zu verifiers); mechanisms "
	        "%s", ss->users_path, sasl_users_count(u), s->cfg.sasl_mechanisms);
	return 0;
}

void srv_sasl_free(struct srv *s)
{
	struct srv_sasl *ss = s->sasl;
	if (!ss)
		return;
	sasl_users_free(ss->users);
	free(ss->supers);
	free(ss);
	s->sasl = NULL;
}

static void delayed_unlink(struct srv_sasl *ss, struct srv_sasl_conn *sc)
{
	if (!sc->delayed)
		return;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		ss->delayed_head = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	else
		ss->delayed_tail = sc->prev;
	sc->next = sc->prev = NULL;
	sc->delayed = false;
}

void srv_sasl_conn_free(struct srv *s, struct srv_client *cl)
{
	struct srv_sasl_conn *sc = cl->sasl;
	if (!sc)
		return;
	if (s->sasl)
		delayed_unlink(s->sasl, sc);
	sasl_session_free(sc->sess);
	free(sc);
	cl->sasl = NULL;
}

/* ================================ answers ================================= */

static bool sasl_listener(const struct srv_client *cl)
{
	return cl && (cl->sec == SRV_SEC_SASL_PLAINTEXT || cl->sec == SRV_SEC_SASL_SSL);
}

/* SaslAuthenticate's answer. */
static void auth_answer(const struct srv_req *req, struct srv_resp *resp,
                        int16_t err, const char *msg, const uint8_t *tok,
                        size_t tok_len)
{
	bool flex = req->flexible;
	srv_resp_begin_req(resp, req);
	kw_put_i16(&resp->w, err);
	kw_put_vcstr(&resp->w, flex, msg);
	kw_put_vbytes_len(&resp->w, flex, (int32_t)tok_len);
	kw_put(&resp->w, tok, tok_len);
	if (req->api_version >= 1)
		kw_put_i64(&resp->w, 0);        /* session_lifetime_ms: none */
	kw_put_vtags(&resp->w, flex);
}

/* A bare token's answer: int32 size + token. */
static void bare_answer(struct srv_resp *resp, const uint8_t *tok, size_t len)
{
	srv_resp_reset(resp);
	kw_put_i32(&resp->w, 0);            /* patched by srv_resp_finish */
	kw_put(&resp->w, tok, len);
}

/* The delayed failure of a SaslAuthenticate (srv_conn_reply). */
static void delayed_reply(struct srv *s, const struct srv_req *req,
                          struct srv_resp *resp, void *arg)
{
	struct srv_sasl_conn *sc = arg;
	(void)s;
	auth_answer(req, resp, KERR_SASL_AUTHENTICATION_FAILED, sc->msg, NULL, 0);
}

int64_t srv_sasl_tick(struct srv *s, int64_t now_ms)
{
	struct srv_sasl *ss = s->sasl;
	if (!ss)
		return INT64_MAX;
	while (ss->delayed_head && ss->delayed_head->due_ms <= now_ms) {
		struct srv_sasl_conn *sc = ss->delayed_head;
		struct srv_conn *c = sc->conn;
		uint64_t serial = sc->serial;
		delayed_unlink(ss, sc);
		if (sc->bare)
			srv_conn_drop(s, c, serial);
		else
			srv_conn_reply(s, c, serial, delayed_reply, sc);
	}
	return ss->delayed_head ? ss->delayed_head->due_ms : INT64_MAX;
}

/* A login failed: log it, then answer (or close) after the delay.
 * Returns the verdict for the request. */
static enum srv_verdict login_failed(struct srv *s, const struct srv_req *req,
                                     struct srv_resp *resp,
                                     struct srv_sasl_conn *sc,
                                     enum sasl_status st, const char *cause,
                                     char *why, size_t why_len)
{
	struct srv_sasl *ss = s->sasl;
	char user[SASL_NAME_MAX + 8];
	const char *name = sasl_session_user(sc->sess);

	srv_sanitize(user, sizeof user, name, (int)strlen(name));
	srv_log(s, "%s: sasl: authentication failed: user \"%s\", %s%s: %s; "
	        "answering in %d ms, then closing", req->peer ? req->peer : "?",
	        user, sasl_mech_name(sc->mech), sc->bare ? " (bare tokens)" : "",
	        cause, ss->delay_ms);
	if (st == SASL_FAIL_CREDENTIALS)
		snprintf(sc->msg, sizeof sc->msg, SASL_MSG_BAD_CREDENTIALS);
	else
		snprintf(sc->msg, sizeof sc->msg, "Authentication failed: %s", cause);
	sasl_session_free(sc->sess);
	sc->sess = NULL;
	sc->state = SC_FAILED;
	if (req->conn && ss->delay_ms > 0) {
		sc->delayed = true;
		sc->due_ms = tfs_mono_ms() + ss->delay_ms;
		sc->conn = req->conn;
		sc->serial = req->conn_serial;
		sc->next = NULL;
		sc->prev = ss->delayed_tail;
		if (ss->delayed_tail)
			ss->delayed_tail->next = sc;
		else
			ss->delayed_head = sc;
		ss->delayed_tail = sc;
		srv_resp_reset(resp);
		return SRV_HOLD;
	}
	if (sc->bare) {
		snprintf(why, why_len, "sasl authentication failed (bare token)");
		return SRV_CLOSE;
	}
	auth_answer(req, resp, KERR_SASL_AUTHENTICATION_FAILED, sc->msg, NULL, 0);
	return SRV_RESPOND;
}

/* Run one client token through the exchange.  On success, authenticate
 * the client.  Fills tok/tok_len with the server's token. */
static enum sasl_status run_step(struct srv *s, const struct srv_req *req,
                                 struct srv_sasl_conn *sc, const uint8_t *in,
                                 size_t in_len, uint8_t *tok, size_t tok_cap,
                                 size_t *tok_len, char *cause, size_t cause_len)
{
	struct srv_sasl *ss = s->sasl;
	enum sasl_status st = sasl_session_step(sc->sess, in, in_len, users_lookup,
	                                        ss, tok, tok_cap, tok_len, cause,
	                                        cause_len);
	if (st != SASL_OK)
		return st;
	struct srv_client *cl = req->client;
	const char *user = sasl_session_user(sc->sess);
	cl->authenticated = true;
	snprintf(cl->principal, sizeof cl->principal, "User:%s", user);
	cl->super = false;
	for (size_t i = 0; i < ss->nsupers; i++)
		if (!strcmp(ss->supers[i], user))
			cl->super = true;
	sc->state = SC_DONE;
	sasl_session_free(sc->sess);
	sc->sess = NULL;
	tfs_log(TFS_LOG_DEBUG, "net: %s: sasl: authenticated as %s (%s%s)",
	        req->peer ? req->peer : "?", cl->principal, sasl_mech_name(sc->mech),
	        cl->super ? ", super user" : "");
	return SASL_OK;
}

/* ============================= SaslHandshake ============================== */

enum srv_verdict srv_api_sasl_handshake(struct srv *s, const struct srv_req *req,
                                        struct srv_resp *resp, int *park_ms,
                                        char *why, size_t why_len)
{
	struct srv_sasl *ss = s->sasl;
	struct srv_client *cl = req->client;
	struct kw_reader r;
	const char *mech;
	int ml;
	int16_t err = KERR_NONE;

	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);
	kw_str(&r, &mech, &ml);
	if (r.err || !mech)
		return srv_malformed(req, why, why_len);

	struct srv_sasl_conn *sc = cl ? cl->sasl : NULL;
	if (!ss || !sasl_listener(cl) || (sc && sc->state != SC_INIT)) {
		/* not a SASL listener, or a second handshake: Kafka's answer */
		err = KERR_ILLEGAL_SASL_STATE;
		if (sc && sc->state != SC_DONE)
			sc->state = SC_FAILED;
	} else {
		int m = sasl_mech_from_name(mech, (size_t)ml);
		if (!sc) {
			sc = calloc(1, sizeof *sc);
			if (!sc) {
				snprintf(why, why_len, "out of memory for SASL state");
				return SRV_CLOSE;
			}
			cl->sasl = sc;
		}
		if (m < 0 || !(ss->mech_mask & (1u << m))) {
			char name[64];
			srv_sanitize(name, sizeof name, mech, ml);
			srv_log(s, "%s: sasl: mechanism \"%s\" is not enabled ([sasl] "
			        "mechanisms)", req->peer ? req->peer : "?", name);
			err = KERR_UNSUPPORTED_SASL_MECHANISM;
			sc->state = SC_FAILED;
		} else {
			users_check(ss);
			sc->sess = sasl_session_new((enum sasl_mech)m);
			if (!sc->sess) {
				snprintf(why, why_len, "out of memory for SASL state");
				return SRV_CLOSE;
			}
			sc->mech = (enum sasl_mech)m;
			sc->bare = req->api_version == 0;
			sc->state = SC_MECH;
		}
	}
	srv_resp_begin_req(resp, req);
	kw_put_i16(&resp->w, err);
	kw_put_i32(&resp->w, ss ? ss->norder : 0);
	for (int i = 0; ss && i < ss->norder; i++)
		kw_put_cstr(&resp->w, sasl_mech_name(ss->order[i]));
	return SRV_RESPOND;
}

/* =========================== SaslAuthenticate ============================= */

enum srv_verdict srv_api_sasl_authenticate(struct srv *s, const struct srv_req *req,
                                           struct srv_resp *resp, int *park_ms,
                                           char *why, size_t why_len)
{
	struct srv_client *cl = req->client;
	struct srv_sasl_conn *sc = cl ? cl->sasl : NULL;
	struct kw_reader r;
	const uint8_t *in;
	int32_t in_len;
	bool flex = req->flexible;
	uint8_t tok[1024];
	size_t tok_len = 0;
	char cause[200] = "";

	(void)park_ms;
	kw_reader_init(&r, req->body, req->body_len);
	kw_vbytes(&r, flex, &in, &in_len);
	kw_vtags(&r, flex);
	if (r.err || !in)
		return srv_malformed(req, why, why_len);

	if (!s->sasl || !sasl_listener(cl) || !sc || sc->state != SC_MECH ||
	    sc->bare) {
		/* no handshake (or a finished exchange): Kafka's answer */
		if (sc && sc->state != SC_DONE)
			sc->state = SC_FAILED;
		auth_answer(req, resp, KERR_ILLEGAL_SASL_STATE,
		            "SaslAuthenticate without a SaslHandshake, or after the "
		            "exchange ended", NULL, 0);
		return SRV_RESPOND;
	}
	enum sasl_status st = run_step(s, req, sc, in, (size_t)in_len, tok,
	                               sizeof tok, &tok_len, cause, sizeof cause);
	if (st == SASL_FAIL_CREDENTIALS || st == SASL_FAIL_PROTOCOL)
		return login_failed(s, req, resp, sc, st, cause, why, why_len);
	auth_answer(req, resp, KERR_NONE, NULL, tok, tok_len);
	return SRV_RESPOND;
}

/* ============================== bare tokens =============================== */

bool srv_sasl_intercepts(const struct srv_client *cl)
{
	const struct srv_sasl_conn *sc = cl->sasl;
	return sc && (sc->state == SC_FAILED || (sc->state == SC_MECH && sc->bare));
}

enum srv_verdict srv_sasl_bare(struct srv *s, const struct srv_req *req,
                               struct srv_resp *resp, char *why, size_t why_len)
{
	struct srv_sasl_conn *sc = req->client ? req->client->sasl : NULL;
	uint8_t tok[1024];
	size_t tok_len = 0;
	char cause[200] = "";

	if (!sc || !s->sasl || sc->state != SC_MECH || !sc->bare) {
		snprintf(why, why_len, "request after a failed SASL authentication");
		return SRV_CLOSE;
	}
	enum sasl_status st = run_step(s, req, sc, req->body, req->body_len, tok,
	                               sizeof tok, &tok_len, cause, sizeof cause);
	if (st == SASL_FAIL_CREDENTIALS || st == SASL_FAIL_PROTOCOL)
		return login_failed(s, req, resp, sc, st, cause, why, why_len);
	bare_answer(resp, tok, tok_len);
	if (srv_resp_finish(resp)) {
		srv_resp_reset(resp);
		snprintf(why, why_len, "out of memory for a SASL answer");
		return SRV_CLOSE;
	}
	return SRV_RESPOND;
}
