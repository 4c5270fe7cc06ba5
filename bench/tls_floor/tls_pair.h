/* Shared by tls_floor.c and tls_record_cost.c: a server context configured as the daemon's (lws's)
 * server side, a client context, and one TLS handshake between them over memory BIOs. */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>

/* Moves what one side wrote to the other side's read BIO. */
static void pump(BIO *from, BIO *to) {
    char buffer[16384];
    int n;
    while ((n = BIO_read(from, buffer, sizeof buffer)) > 0) BIO_write(to, buffer, n);
}

/* Both contexts pinned to `version`; the server with the certificate and key, and with
 * SSL_MODE_RELEASE_BUFFERS when `release` (as lws sets it). 0 on success. */
static int make_contexts(const char *cert, const char *key, int version, int release,
                         SSL_CTX **server_ctx, SSL_CTX **client_ctx) {
    *server_ctx = SSL_CTX_new(TLS_server_method());
    *client_ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(*server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(*server_ctx, key, SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(*server_ctx, version);
    SSL_CTX_set_max_proto_version(*server_ctx, version);
    SSL_CTX_set_min_proto_version(*client_ctx, version);
    SSL_CTX_set_max_proto_version(*client_ctx, version);
    if (release) SSL_CTX_set_mode(*server_ctx, SSL_MODE_RELEASE_BUFFERS);
    return 0;
}

/* One handshake over memory BIOs (TLS 1.3 tickets included); frees the client and returns the
 * server's SSL, still on its memory BIOs (`server_out`: what it writes), or NULL on failure. */
static SSL *handshake(SSL_CTX *server_ctx, SSL_CTX *client_ctx, BIO **server_out) {
    SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
    BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
    BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
    SSL_set_bio(server, s_in, s_out);
    SSL_set_bio(client, c_in, c_out);
    SSL_set_accept_state(server);
    SSL_set_connect_state(client);
    for (int round = 0; round < 20; round++) {
        SSL_do_handshake(client);
        pump(c_out, s_in);
        SSL_do_handshake(server);
        pump(s_out, c_in);
        if (SSL_is_init_finished(server) && SSL_is_init_finished(client)) {
            /* TLS 1.3 tickets are sent after the handshake: let the client read them. */
            char byte;
            SSL_read(client, &byte, 1);
            pump(c_out, s_in);
            SSL_read(server, &byte, 1);
            if (round > 3) break;
        }
    }
    SSL_free(client);
    if (!SSL_is_init_finished(server)) {
        ERR_print_errors_fp(stderr);
        SSL_free(server);
        return NULL;
    }
    (void)BIO_reset(s_out);
    if (server_out) *server_out = s_out;
    return server;
}
