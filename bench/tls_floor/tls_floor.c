/* The per-connection heap of OpenSSL's own server-side object, idle after a handshake: the floor
 * under any server's RSS per idle wss:// connection that keeps an SSL object per socket.
 *
 * N handshakes over memory BIOs (no sockets), the server side as a daemon configures it
 * (SSL_MODE_RELEASE_BUFFERS, tickets on, ECDSA P-256), then every client object is freed and each
 * server object gets a null BIO (what a socket BIO costs: a few dozen bytes). The heap in use
 * (mallinfo2) before and after, divided by N, is what one idle server-side connection holds.
 *
 *   cc -O2 -Wall -o tls_floor tls_floor.c -lssl -lcrypto
 *   ./tls_floor cert.pem key.pem 2000 1.3 [release-buffers 1|0] [session-cache-off 0|1]   # and 1.2
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "tls_pair.h"

static size_t heap_in_use(void) {
    malloc_trim(0);
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s cert.pem key.pem connections 1.2|1.3 [release-buffers 1|0]\n", argv[0]);
        return 2;
    }
    int count = atoi(argv[3]);
    int version = strcmp(argv[4], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int release = argc > 5 ? atoi(argv[5]) : 1;
    int cache_off = argc > 6 ? atoi(argv[6]) : 0;

    SSL_CTX *server_ctx, *client_ctx;
    if (make_contexts(argv[1], argv[2], version, release, &server_ctx, &client_ctx)) return 1;
    if (cache_off) SSL_CTX_set_session_cache_mode(server_ctx, SSL_SESS_CACHE_OFF);

    /* A bare SSL object, before any handshake. */
    {
        SSL *warm = SSL_new(server_ctx);
        SSL_free(warm);
        SSL *bare[100];
        size_t start = heap_in_use();
        for (int i = 0; i < 100; i++) bare[i] = SSL_new(server_ctx);
        size_t end = heap_in_use();
        for (int i = 0; i < 100; i++) SSL_free(bare[i]);
        fprintf(stderr, "bare SSL_new: %.0f bytes\n", (double)(end - start) / 100);
    }

    /* Warm up: the first handshake allocates process-wide tables (ciphers, curves, the key). */
    SSL **servers = calloc(count + 1, sizeof *servers);
    size_t before = 0;
    for (int i = 0; i <= count; i++) {
        if (i == 1) before = heap_in_use();
        SSL *server = handshake(server_ctx, client_ctx, NULL);
        if (!server) {
            fprintf(stderr, "handshake %d did not finish\n", i);
            return 1;
        }
        /* What stays per idle socket: the server's SSL and a socket-sized BIO. */
        BIO *idle = BIO_new(BIO_s_null());
        SSL_set_bio(server, idle, idle);
        BIO_up_ref(idle);
        servers[i] = server;
        if (i == 0) {
            SSL_free(server);
            servers[0] = NULL;
        }
    }
    size_t after = heap_in_use();
    printf("{\"tls\": \"%s\", \"connections\": %d, \"release_buffers\": %d, \"session_cache\": %s, \"heap_bytes_per_idle_server_ssl\": %.0f, \"cipher\": \"%s\"}\n",
           argv[4], count, release, cache_off ? "false" : "true", (double)(after - before) / count, SSL_get_cipher(servers[1]));
    for (int i = 1; i <= count; i++) SSL_free(servers[i]);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    return 0;
}
