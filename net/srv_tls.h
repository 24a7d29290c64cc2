/*
 * srv_tls.h - the TLS layer of the TCP server (srv_tls.c): a server-wide
 * context (certificate, key, client-certificate policy, the kernel TLS
 * decision) and non-blocking per-connection calls the epoll state machine
 * of srv.c drives.  Internal to net/; tests may include it.
 *
 * Every call here runs on the server thread only (the context is swapped by
 * srv_tls_reload on that same thread), except srv_tls_kernel_available,
 * which reads a value fixed at srv_tls_new.
 */
#ifndef TOPICFS_SRV_TLS_H
#define TOPICFS_SRV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "net.h"

struct srv_tls;

/* Bytes of the per-connection buffer of the user-space slice path. */
#define SRV_TLS_BUF_BYTES (64u * 1024)

/* Load the certificate chain, key and CA of cfg into a new context (TLS 1.2
 * and later only), decide whether kernel TLS can be used and log the
 * decision once.  0, or -EINVAL (logged: which file, OpenSSL's reason). */
int srv_tls_new(const struct srv_tls_config *cfg, struct srv_tls **out);
void srv_tls_free(struct srv_tls *t);

/* Read the files again into a new context for new connections (open ones
 * keep theirs).  On failure the old context stays, with an error line. */
void srv_tls_reload(struct srv_tls *t);

/* Kernel TLS is offered by the kernel (the "tls" TCP ULP) and OpenSSL was
 * built with it: new connections try it (each says whether it got it,
 * srv_tls_conn_kernel).  Thread-safe (fixed at srv_tls_new). */
bool srv_tls_kernel_available(const struct srv_tls *t);

/* A server-side TLS session over the connected socket fd; NULL when out of
 * memory.  Freed with SSL_free. */
SSL *srv_tls_conn_new(struct srv_tls *t, int fd);

enum srv_tls_io {
	SRV_TLS_OK,             /* done, or *n bytes moved */
	SRV_TLS_WANT_READ,      /* retry when the socket is readable */
	SRV_TLS_WANT_WRITE,     /* retry when the socket is writable */
	SRV_TLS_EOF,            /* the peer closed (close_notify or FIN) */
	SRV_TLS_ERROR,          /* fatal; why says what OpenSSL said */
};

/* One step of the server handshake.  Before the first byte is consumed the
 * socket is peeked: a first byte that is not a TLS handshake record (0x16)
 * fails at once with "... a plaintext client?"; a peer that closed without
 * sending anything (a port probe) is SRV_TLS_EOF.  Any other failure is
 * SRV_TLS_ERROR. */
enum srv_tls_io srv_tls_handshake(SSL *ssl, char *why, size_t why_len);
/* SSL_read / SSL_write of up to len bytes; *n = bytes moved on OK.  A write
 * that wanted to be retried must be retried with the same buf and len. */
enum srv_tls_io srv_tls_read(SSL *ssl, void *buf, size_t len, size_t *n,
                             char *why, size_t why_len);
enum srv_tls_io srv_tls_write(SSL *ssl, const void *buf, size_t len, size_t *n,
                              char *why, size_t why_len);
/* SSL_sendfile of len bytes of fd at off (kernel TLS only); *n = bytes
 * sent on OK, 0 meaning the file ended early. */
enum srv_tls_io srv_tls_sendfile(SSL *ssl, int fd, off_t off, size_t len,
                                 size_t *n, char *why, size_t why_len);
/* After the handshake: the kernel encrypts what this connection sends. */
bool srv_tls_conn_kernel(SSL *ssl);
/* After the handshake: "User:" + the client certificate's subject in RFC
 * 2253 form ("User:CN=alice,OU=eng,O=acme"), as Kafka's default principal
 * builder names it; "User:ANONYMOUS" without a certificate. */
void srv_tls_principal(SSL *ssl, char *out, size_t len);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for log lines. */
void srv_tls_describe(SSL *ssl, char *out, size_t len);

#endif /* TOPICFS_SRV_TLS_H */
