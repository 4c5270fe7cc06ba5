/* What OpenSSL adds to one delivery over wss://: the CPU of one SSL_write of a small record (a
 * publication push is one WebSocket frame of ~100 bytes, one record when nothing else is queued),
 * without the socket: the server sides of `connections` TLS connections (as a daemon configures
 * them) write in turn, one record each, into memory BIOs emptied after every record. With one
 * connection its state stays in the CPU caches; with 10,000 (a fan-out) every write meets its
 * connection's state cold, as a server's does. This is the floor under the wss:// cost per
 * delivery at light fan-out, where every delivery is a write of its own.
 *
 *   cc -O2 -Wall -o tls_record_cost tls_record_cost.c -lssl -lcrypto
 *   ./tls_record_cost cert.pem key.pem 1.3 [bytes 120] [writes 1000000] [release-buffers 1|0] [connections 1]
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void pump(BIO *from, BIO *to) {
    char buffer[16384];
    int n;
    while ((n = BIO_read(from, buffer, sizeof buffer)) > 0) BIO_write(to, buffer, n);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s cert.pem key.pem 1.2|1.3 [bytes] [writes] [release-buffers 1|0]\n", argv[0]);
        return 2;
    }
    int version = strcmp(argv[3], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int bytes = argc > 4 ? atoi(argv[4]) : 120;
    long writes = argc > 5 ? atol(argv[5]) : 1000000;
    int release = argc > 6 ? atoi(argv[6]) : 1;
    int count = argc > 7 ? atoi(argv[7]) : 1;

    SSL_CTX *server_ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *client_ctx = SSL_CTX_new(TLS_client_method());
    if (SSL_CTX_use_certificate_chain_file(server_ctx, argv[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(server_ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_min_proto_version(server_ctx, version);
    SSL_CTX_set_max_proto_version(server_ctx, version);
    if (release) SSL_CTX_set_mode(server_ctx, SSL_MODE_RELEASE_BUFFERS);

    SSL **servers = calloc((size_t)count, sizeof *servers);
    BIO **outputs = calloc((size_t)count, sizeof *outputs);
    for (int i = 0; i < count; i++) {
        SSL *server = SSL_new(server_ctx), *client = SSL_new(client_ctx);
        BIO *s_in = BIO_new(BIO_s_mem()), *s_out = BIO_new(BIO_s_mem());
        BIO *c_in = BIO_new(BIO_s_mem()), *c_out = BIO_new(BIO_s_mem());
        SSL_set_bio(server, s_in, s_out);
        SSL_set_bio(client, c_in, c_out);
        SSL_set_accept_state(server);
        SSL_set_connect_state(client);
        for (int round = 0; round < 20 && !(SSL_is_init_finished(server) && SSL_is_init_finished(client)); round++) {
            SSL_do_handshake(client);
            pump(c_out, s_in);
            SSL_do_handshake(server);
            pump(s_out, c_in);
        }
        if (!SSL_is_init_finished(server)) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        SSL_free(client);
        (void)BIO_reset(s_out);
        servers[i] = server;
        outputs[i] = s_out;
    }

    char *payload = malloc((size_t)bytes);
    memset(payload, 'x', (size_t)bytes);
    for (int i = 0; i < 10000; i++) {  /* warm up */
        SSL_write(servers[i % count], payload, bytes);
        (void)BIO_reset(outputs[i % count]);
    }
    double start = cpu_seconds();
    long wire = 0;
    for (long i = 0; i < writes; i++) {
        int k = (int)(i % count);
        if (SSL_write(servers[k], payload, bytes) != bytes) {
            ERR_print_errors_fp(stderr);
            return 1;
        }
        wire += BIO_pending(outputs[k]);
        (void)BIO_reset(outputs[k]);
    }
    double seconds = cpu_seconds() - start;
    printf("{\"tls\": \"%s\", \"cipher\": \"%s\", \"release_buffers\": %d, \"connections\": %d, \"record_payload_bytes\": %d, "
           "\"wire_bytes_per_record\": %.1f, \"cpu_us_per_ssl_write\": %.3f}\n",
           argv[3], SSL_get_cipher(servers[0]), release, count, bytes, (double)wire / (double)writes, seconds * 1e6 / (double)writes);
    return 0;
}
