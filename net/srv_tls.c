/*
 * srv_tls.c - TLS for SSL and SASL_SSL listeners, with OpenSSL 3.
 *
 * DESIGN
 *
 * One SSL_CTX for the server, made by ctx_build from [tls]: the
 * certificate chain and key (checked against each other), TLS 1.2 as the
 * lowest version, no renegotiation, a session id context (needed for
 * resumption once client certificates are verified) and the client
 * certificate policy: none (no certificate asked), requested (asked,
 * verified against ca_file when sent, the handshake goes on without one),
 * required (a handshake without a verified certificate fails).  Connections
 * take their own reference on the context (SSL_new), so srv_tls_reload
 * (SIGHUP, on the server thread) builds a new context and swaps it in for
 * new connections while the open ones keep theirs; a new context that does
 * not build (a missing file, a key that does not match) leaves the old one
 * in place with an error line.
 *
 * Every call is non-blocking: the socket is non-blocking and each call
 * returns WANT_READ or WANT_WRITE for srv.c to wait on in epoll.  The error
 * queue is cleared before every SSL_* call (SSL_get_error needs it) and
 * drained into the caller's why buffer after a failure.  SSL_MODE_
 * ENABLE_PARTIAL_WRITE lets SSL_write return what it wrote, and a write
 * that must be retried is retried by the caller with the same buffer and
 * length (the staging buffer of srv.c never moves).  SSL_MODE_RELEASE_
 * BUFFERS gives OpenSSL's record buffers back while a connection idles.
 * read_ahead stays off, so OpenSSL never buffers bytes past the record it
 * is decrypting: what epoll cannot see is only SSL_pending (decrypted and
 * not yet read), which srv.c checks.
 *
 * Sending file slices.  Kernel TLS (kTLS) lets the kernel encrypt: once
 * the handshake is done OpenSSL hands the keys to the socket
 * (SSL_OP_ENABLE_KTLS, TCP_ULP "tls"), and SSL_sendfile sends a slice
 * straight from the page cache, as sendfile does on a plaintext socket.
 * It is tried only when the kernel offers the "tls" ULP
 * (/proc/sys/net/ipv4/tcp_available_ulp lists it; `modprobe tls` loads it)
 * and OpenSSL was built with kTLS (OPENSSL_NO_KTLS not defined); the
 * decision is logged once at start.  Whether a connection got it (the
 * cipher must be one the kernel implements) is read after its handshake
 * with BIO_get_ktls_send.  Otherwise srv.c reads slices into a 64 KiB
 * buffer per connection and SSL_writes them (user space).
 *
 * Thread-safety: server thread only, but for srv_tls_kernel_available.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "logger.h"
#include "srv_tls.h"

#define TLS_ULP_FILE "/proc/sys/net/ipv4/tcp_available_ulp"

struct srv_tls {
	struct srv_tls_config cfg;
	SSL_CTX *ctx;               /* for new connections; server thread */
	bool kernel;                /* try kTLS (fixed at srv_tls_new) */
};

/* ================================ errors ================================= */

/* OpenSSL's queued errors (the last one is usually the most telling, the
 * first the root cause: keep both when they differ), then clear. */
static void drain_errors(char *why, size_t why_len, const char *fallback)
{
	unsigned long first = ERR_get_error(), last = first, e;
	char a[256], b[256];

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (!first) {
		snprintf(why, why_len, "%s", fallback);
		return;
	}
	ERR_error_string_n(first, a, sizeof a);
	if (last != first) {
		ERR_error_string_n(last, b, sizeof b);
		snprintf(why, why_len, "%s (%s)", a, b);
	} else {
		snprintf(why, why_len, "%s", a);
	}
}

/* ================================ context ================================ */

static bool kernel_tls_offered(void)
{
	char buf[256];
	FILE *f = fopen(TLS_ULP_FILE, "re");
	bool found = false;

	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *save = NULL, *tok = strtok_r(buf, " \t\n", &save); tok;
	     tok = strtok_r(NULL, " \t\n", &save))
		found |= !strcmp(tok, "tls");
	return found;
}

/* "subject ..., serial ..., expires ..." of the context's certificate. */
static void cert_summary(SSL_CTX *ctx, char *out, size_t len)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	char subject[256] = "?", serial[80] = "?", expires[64] = "?";

	if (x) {
		BIO *b = BIO_new(BIO_s_mem());
		if (b) {
			X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
			int n = BIO_read(b, subject, sizeof subject - 1);
			subject[n > 0 ? n : 0] = '\0';
			BIO_free(b);
		}
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		if (hex)
			snprintf(serial, sizeof serial, "%s", hex);
		OPENSSL_free(hex);
		BN_free(bn);
		b = BIO_new(BIO_s_mem());
		if (b) {
			ASN1_TIME_print(b, X509_get0_notAfter(x));
			int n = BIO_read(b, expires, sizeof expires - 1);
			expires[n > 0 ? n : 0] = '\0';
			BIO_free(b);
		}
	}
	snprintf(out, len, "subject %s, serial %s, expires %s", subject, serial,
	         expires);
}

/* A new context from cfg, or NULL with why set. */
static SSL_CTX *ctx_build(const struct srv_tls_config *cfg, bool kernel,
                          char *why, size_t why_len)
{
	static const unsigned char sid_ctx[] = "topicfs";
	char err[600];
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		drain_errors(err, sizeof err, "out of memory");
		snprintf(why, why_len, "SSL_CTX_new: %s", err);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                    SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifndef OPENSSL_NO_KTLS
	if (kernel)
		SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
#else
	(void)kernel;
#endif
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof sid_ctx - 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->cert_file) != 1) {
		drain_errors(err, sizeof err, "cannot read it");
		snprintf(why, why_len, "certificate %s: %s", cfg->cert_file, err);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1) {
		drain_errors(err, sizeof err, "cannot read it");
		snprintf(why, why_len, "key %s: %s", cfg->key_file, err);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		drain_errors(err, sizeof err, "does not match");
		snprintf(why, why_len, "key %s does not match certificate %s: %s",
		         cfg->key_file, cfg->cert_file, err);
		goto fail;
	}
	if (cfg->ca_file[0]) {
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->ca_file);
		if (SSL_CTX_load_verify_locations(ctx, cfg->ca_file, NULL) != 1 ||
		    !names) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			drain_errors(err, sizeof err, "no certificate in it");
			snprintf(why, why_len, "CA file %s: %s", cfg->ca_file, err);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);     /* takes names */
	}
	switch (cfg->client_auth) {
	case SRV_CLIENT_AUTH_NONE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	case SRV_CLIENT_AUTH_REQUESTED:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		break;
	case SRV_CLIENT_AUTH_REQUIRED:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		                   SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		break;
	}
	return ctx;

fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int srv_tls_new(const struct srv_tls_config *cfg, struct srv_tls **out)
{
	char why[2700], cert[512];
	struct srv_tls *t = calloc(1, sizeof *t);

	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	bool offered = kernel_tls_offered();
#ifndef OPENSSL_NO_KTLS
	t->kernel = offered;
#else
	t->kernel = false;
#endif
	t->ctx = ctx_build(cfg, t->kernel, why, sizeof why);
	if (!t->ctx) {
		tfs_log(TFS_LOG_ERROR, "tls: %s", why);
		free(t);
		return -EINVAL;
	}
	cert_summary(t->ctx, cert, sizeof cert);
	tfs_log(TFS_LOG_INFO, "tls: certificate %s (%s); client certificates %s",
	        cfg->cert_file, cert,
	        cfg->client_auth == SRV_CLIENT_AUTH_REQUIRED ? "required" :
	        cfg->client_auth == SRV_CLIENT_AUTH_REQUESTED ? "requested" : "not asked");
	if (t->kernel)
		tfs_log(TFS_LOG_INFO, "tls: kernel TLS available (\"tls\" in %s, "
		        "OpenSSL built with kTLS): fetched file slices go out with "
		        "SSL_sendfile, zero-copy", TLS_ULP_FILE);
	else
		tfs_log(TFS_LOG_INFO, "tls: kernel TLS not available (%s): fetched "
		        "file slices are read and encrypted in user space, through "
		        "a %u KiB buffer per connection",
		        !offered ? "no \"tls\" in " TLS_ULP_FILE ", modprobe tls loads it"
		                 : "OpenSSL built without kTLS",
		        SRV_TLS_BUF_BYTES / 1024);
	*out = t;
	return 0;
}

void srv_tls_free(struct srv_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

void srv_tls_reload(struct srv_tls *t)
{
	char why[2700], cert[512];
	SSL_CTX *ctx = ctx_build(&t->cfg, t->kernel, why, sizeof why);

	if (!ctx) {
		tfs_log(TFS_LOG_ERROR, "tls: reload failed, keeping the previous "
		        "certificate: %s", why);
		return;
	}
	SSL_CTX_free(t->ctx);       /* open connections hold their reference */
	t->ctx = ctx;
	cert_summary(ctx, cert, sizeof cert);
	tfs_log(TFS_LOG_INFO, "tls: reloaded certificate %s (%s) for new "
	        "connections", t->cfg.cert_file, cert);
}

bool srv_tls_kernel_available(const struct srv_tls *t)
{
	return t && t->kernel;
}

/* ============================== connections ============================== */

SSL *srv_tls_conn_new(struct srv_tls *t, int fd)
{
	ERR_clear_error();
	SSL *ssl = SSL_new(t->ctx);
	if (!ssl)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* The outcome of an SSL_* call that returned rc. */
static enum srv_tls_io io_result(SSL *ssl, int rc, const char *what, char *why,
                                 size_t why_len)
{
	int saved = errno;
	char err[600];

	switch (SSL_get_error(ssl, rc)) {
	case SSL_ERROR_NONE:
		return SRV_TLS_OK;
	case SSL_ERROR_WANT_READ:
		return SRV_TLS_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return SRV_TLS_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return SRV_TLS_EOF;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (saved == 0 || saved == ECONNRESET || saved == EPIPE) {
				ERR_clear_error();
				return SRV_TLS_EOF;     /* a FIN or RST mid-stream */
			}
			snprintf(why, why_len, "%s: %s", what, strerror(saved));
			return SRV_TLS_ERROR;
		}
		/* OpenSSL queued the reason */
		/* fall through */
	default:
		drain_errors(err, sizeof err, "unknown error");
		snprintf(why, why_len, "%s: %s", what, err);
		return SRV_TLS_ERROR;
	}
}

enum srv_tls_io srv_tls_handshake(SSL *ssl, char *why, size_t why_len)
{
	if (SSL_in_before(ssl)) {
		/* nothing consumed yet: a Kafka plaintext request starts with
		 * its size (0x00 ...), a TLS ClientHello with 0x16 */
		unsigned char first[4];
		ssize_t n = recv(SSL_get_fd(ssl), first, sizeof first, MSG_PEEK);
		if (n == 0)
			return SRV_TLS_EOF;     /* a port probe: closed, said nothing */
		if (n > 0 && first[0] != 0x16) {
			char hex[16] = "";
			for (ssize_t i = 0; i < n; i++)
				snprintf(hex + 3 * i, sizeof hex - 3 * (size_t)i, "%02x%s",
				         first[i], i + 1 < n ? " " : "");
			snprintf(why, why_len, "TLS handshake failed: the first bytes "
			         "(%s) are not a TLS handshake record (a plaintext "
			         "client on a TLS listener?)", hex);
			return SRV_TLS_ERROR;
		}
	}
	ERR_clear_error();
	errno = 0;
	int rc = SSL_do_handshake(ssl);
	if (rc == 1)
		return SRV_TLS_OK;
	enum srv_tls_io io = io_result(ssl, rc, "TLS handshake failed", why, why_len);
	if (io == SRV_TLS_EOF) {
		snprintf(why, why_len, "TLS handshake failed: the client closed "
		         "the connection (it may not trust our certificate)");
		return SRV_TLS_ERROR;
	}
	if (io == SRV_TLS_ERROR) {
		long v = SSL_get_verify_result(ssl);
		if (v != X509_V_OK) {
			size_t l = strlen(why);
			snprintf(why + l, why_len - l, "; client certificate: %s",
			         X509_verify_cert_error_string(v));
		}
	}
	return io;
}

enum srv_tls_io srv_tls_read(SSL *ssl, void *buf, size_t len, size_t *n,
                             char *why, size_t why_len)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_read_ex(ssl, buf, len, n);
	return rc == 1 ? SRV_TLS_OK : io_result(ssl, rc, "TLS read", why, why_len);
}

enum srv_tls_io srv_tls_write(SSL *ssl, const void *buf, size_t len, size_t *n,
                              char *why, size_t why_len)
{
	ERR_clear_error();
	errno = 0;
	int rc = SSL_write_ex(ssl, buf, len, n);
	return rc == 1 ? SRV_TLS_OK : io_result(ssl, rc, "TLS write", why, why_len);
}

enum srv_tls_io srv_tls_sendfile(SSL *ssl, int fd, off_t off, size_t len,
                                 size_t *n, char *why, size_t why_len)
{
#ifndef OPENSSL_NO_KTLS
	ERR_clear_error();
	errno = 0;
	ossl_ssize_t rc = SSL_sendfile(ssl, fd, off, len, 0);
	if (rc >= 0) {
		*n = (size_t)rc;
		return SRV_TLS_OK;
	}
	return io_result(ssl, -1, "SSL_sendfile", why, why_len);
#else
	(void)ssl; (void)fd; (void)off; (void)len; (void)n;
	snprintf(why, why_len, "SSL_sendfile: OpenSSL built without kTLS");
	return SRV_TLS_ERROR;
#endif
}

bool srv_tls_conn_kernel(SSL *ssl)
{
#ifndef OPENSSL_NO_KTLS
	return BIO_get_ktls_send(SSL_get_wbio(ssl)) != 0;
#else
	(void)ssl;
	return false;
#endif
}

void srv_tls_principal(SSL *ssl, char *out, size_t len)
{
	X509 *peer = SSL_get0_peer_certificate(ssl);
	char subject[256];
	int n = 0;

	snprintf(out, len, "User:ANONYMOUS");
	if (!peer || SSL_get_verify_result(ssl) != X509_V_OK)
		return;
	BIO *b = BIO_new(BIO_s_mem());
	if (!b)
		return;
	/* RFC 2253: most specific first ("CN=alice,OU=eng,O=acme"), escaped,
	 * as Java's X500Principal.getName() that Kafka uses */
	if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
	                       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0)
		n = BIO_read(b, subject, sizeof subject - 1);
	BIO_free(b);
	if (n > 0) {
		subject[n] = '\0';
		snprintf(out, len, "User:%s", subject);
	}
}

void srv_tls_describe(SSL *ssl, char *out, size_t len)
{
	snprintf(out, len, "%s %s", SSL_get_version(ssl),
	         SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}
