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
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tls_pair.h"

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s cert.pem key.pem 1.2|1.3 [bytes] [writes] [release-buffers 1|0] [connections]\n", argv[0]);
        return 2;
    }
    int version = strcmp(argv[3], "1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
    int bytes = argc > 4 ? atoi(argv[4]) : 120;
    long writes = argc > 5 ? atol(argv[5]) : 1000000;
    int release = argc > 6 ? atoi(argv[6]) : 1;
    int count = argc > 7 ? atoi(argv[7]) : 1;

    SSL_CTX *server_ctx, *client_ctx;
    if (make_contexts(argv[1], argv[2], version, release, &server_ctx, &client_ctx)) return 1;

    SSL **servers = calloc((size_t)count, sizeof *servers);
    BIO **outputs = calloc((size_t)count, sizeof *outputs);
    for (int i = 0; i < count; i++) {
        BIO *s_out;
        SSL *server = handshake(server_ctx, client_ctx, &s_out);
        if (!server) return 1;
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
