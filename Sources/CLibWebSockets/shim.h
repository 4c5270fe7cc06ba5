// The only file in HybridSync that includes <libwebsockets.h>.
//
// Each hs_lws_* helper exists because Swift's Clang importer cannot use the
// corresponding lws macro or construct directly (function-like macros, variadic macros,
// brace initialisers, #if-guarded enum members, enum-typed bit sets).
#ifndef HS_LWS_SHIM_H
#define HS_LWS_SHIM_H

#include <libwebsockets.h>
#include <openssl/ssl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/params.h>
#include <openssl/core_names.h>
#include <string.h>
#include <malloc.h>
#include <stdio.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>

/// LWS_PRE is a function-like macro chain that Swift does not import.
static inline size_t hs_lws_pre(void) { return LWS_PRE; }

/// lwsl_* are variadic macros; route lws's own logging to one Swift sink instead.
typedef void (*hs_lws_log_sink)(int level, const char *line);
static inline void hs_lws_set_log(int levels, hs_lws_log_sink sink) {
    lws_set_log_level(levels, (void (*)(int, const char *))sink);
}

/// lws_protocols arrays end with a zeroed entry; LWS_PROTOCOL_LIST_TERM is a brace initialiser.
static inline struct lws_protocols hs_lws_protocol_terminator(void) {
    struct lws_protocols p;
    memset(&p, 0, sizeof(p));
    return p;
}

/// Options combined from multi-line macros that Swift does not import.
static inline uint64_t hs_lws_server_options(int tls) {
    uint64_t o = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (tls) o |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    return o;
}

/// TLS 1.2 or newer only (SSL_OP_NO_* are function-like macros in OpenSSL 3).
static inline long hs_lws_tls12_min_options(void) {
    return (long)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
}

/// TLS session tickets (OpenSSL 3, which lws's TLS is): every service thread has its own lws
/// context and so its own SSL_CTX; they share one set of ticket keys through this callback, so a
/// ticket from any thread (or, with key files, any node and any earlier run) resumes on all.
/// A key is 80 bytes as nginx's `ssl_session_ticket_key` files hold them: a 16-byte name, a
/// 32-byte HMAC-SHA256 key, a 32-byte AES-256 key.
#define HS_TICKET_KEY_BYTES 80

typedef int (*hs_ticket_callback)(SSL *, unsigned char *, unsigned char *, EVP_CIPHER_CTX *, EVP_MAC_CTX *, int);

static inline int hs_tls_set_ticket_callback(void *ssl_ctx, hs_ticket_callback callback) {
    return SSL_CTX_set_tlsext_ticket_key_evp_cb((SSL_CTX *)ssl_ctx, callback);
}

/// The callback's work with `count` keys at `keys` (the first encrypts new tickets): 1 done, 2
/// decrypted with an older key (OpenSSL then issues a ticket under the first), 0 no key of that
/// name (a full handshake), -1 an error.
static inline int hs_tls_ticket_crypt(const unsigned char *keys, int count, unsigned char *key_name,
                                      unsigned char *iv, EVP_CIPHER_CTX *cipher, EVP_MAC_CTX *mac, int encrypt) {
    const unsigned char *key = NULL;
    int index = 0;
    if (count <= 0) return 0;
    if (encrypt) {
        key = keys;
        memcpy(key_name, key, 16);
        if (RAND_bytes(iv, 16) != 1) return -1;
    } else {
        for (index = 0; index < count && !key; index++) {
            if (memcmp(key_name, keys + index * HS_TICKET_KEY_BYTES, 16) == 0) key = keys + index * HS_TICKET_KEY_BYTES;
        }
        if (!key) return 0;
        index -= 1;
    }
    OSSL_PARAM params[3];
    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)(key + 16), 32);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
    int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key + 48, iv)
                     : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), NULL, key + 48, iv);
    if (ok != 1) return -1;
    return (!encrypt && index > 0) ? 2 : 1;
}

/// The connection id HybridSync keeps in lws's per-session memory (plain data, no Swift objects).
static inline uint64_t hs_lws_pss_get(void *user) { return user ? *(uint64_t *)user : 0; }
static inline void hs_lws_pss_set(void *user, uint64_t id) { if (user) *(uint64_t *)user = id; }

/// glibc's malloc_trim (not in Swift's Glibc module): returns freed heap to the system after a
/// wave of closed connections, which glibc would otherwise keep.
static inline void hs_malloc_trim(void) { malloc_trim(0); }

/// One service thread per core: lws 4.1 (LWS_MAX_SMP=1) never sets SO_REUSEPORT, so each context
/// gets a listening socket of ours with it, watched as a raw file descriptor; its connections are
/// accepted here and adopted into the context's vhost (raw role, our protocol, TLS if the vhost has it).
///
/// A non-blocking SO_REUSEADDR|SO_REUSEPORT listening socket on host:port (port 0: any free one),
/// or -1 (errno set). `bound_port` receives the port. `exclusive` (the first thread's socket) first
/// binds a probe without SO_REUSEPORT: a port another process listens on then fails with
/// EADDRINUSE, where SO_REUSEPORT alone would join that process's port and share its clients.
static inline int hs_listen_shared(const char *host, int port, int exclusive, int *bound_port) {
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    if (getaddrinfo(host, service, &hints, &found) != 0 || !found) return -1;
    int one = 1;
    if (exclusive && port != 0) {
        int probe = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0 || setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
            || bind(probe, found->ai_addr, found->ai_addrlen) < 0) {
            int saved = errno;
            if (probe >= 0) close(probe);
            freeaddrinfo(found);
            errno = saved;
            return -1;
        }
        close(probe);
    }
    int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
        || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0
        || bind(fd, found->ai_addr, found->ai_addrlen) < 0
        || listen(fd, SOMAXCONN) < 0) {
        if (fd >= 0) close(fd);
        freeaddrinfo(found);
        return -1;
    }
    freeaddrinfo(found);
    struct sockaddr_storage address;
    socklen_t length = sizeof(address);
    if (getsockname(fd, (struct sockaddr *)&address, &length) == 0) {
        *bound_port = address.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&address)->sin6_port)
                                                    : ntohs(((struct sockaddr_in *)&address)->sin_port);
    }
    return fd;
}

/// The next pending connection of a listening socket, non-blocking and close-on-exec with
/// TCP_NODELAY, or -1 (EAGAIN: none pending). `address` (of `address_size` bytes) receives the
/// peer's numeric address, as lws_get_peer_simple writes it (empty when it cannot be written), so
/// no getpeername is needed later.
static inline int hs_accept(int listen_fd, char *address, int address_size) {
    struct sockaddr_storage peer;
    socklen_t length = sizeof(peer);
    int fd = accept4(listen_fd, (struct sockaddr *)&peer, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    const void *raw = peer.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
                                                 : (const void *)&((struct sockaddr_in *)&peer)->sin_addr;
    if (address_size > 0 && !inet_ntop(peer.ss_family, raw, address, (socklen_t)address_size)) address[0] = 0;
    return fd;
}

/// Watches a listening socket as a raw file descriptor of `vh` (LWS_CALLBACK_RAW_RX_FILE when readable).
static inline struct lws *hs_lws_adopt_listener(struct lws_vhost *vh, int fd, const char *protocol) {
    lws_sock_file_fd_type descriptor;
    descriptor.filefd = fd;
    return lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, descriptor, protocol, NULL);
}

/// Adopts an accepted socket into `vh` in the raw role with `protocol` (TLS when `tls`).
static inline struct lws *hs_lws_adopt_accepted(struct lws_vhost *vh, int fd, const char *protocol, int tls) {
    lws_sock_file_fd_type descriptor;
    descriptor.sockfd = fd;
    int type = LWS_ADOPT_SOCKET | (tls ? LWS_ADOPT_ALLOW_SSL : 0);
    return lws_adopt_descriptor_vhost(vh, (lws_adoption_type)type, descriptor, protocol, NULL);
}

#endif
