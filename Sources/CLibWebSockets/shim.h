// The only file in HybridSync that includes <libwebsockets.h>.
//
// Each hs_lws_* helper exists because Swift's Clang importer cannot use the
// corresponding lws macro or construct directly (function-like macros, variadic macros,
// brace initialisers, #if-guarded enum members, enum-typed bit sets).
#ifndef HS_LWS_SHIM_H
#define HS_LWS_SHIM_H

#include <libwebsockets.h>
#include <string.h>
#include <malloc.h>

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

/// Client connection flags (an enum of bits whose OR Swift cannot type as int).
static inline int hs_lws_client_ssl_flags(int tls, int allow_self_signed) {
    if (!tls) return 0;
    int f = LCCSCF_USE_SSL;
    if (allow_self_signed) f |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
    return f;
}

/// TLS 1.2 or newer only (SSL_OP_NO_* are function-like macros in OpenSSL 3).
static inline long hs_lws_tls12_min_options(void) {
    return (long)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
}

/// Close status as the enum lws_close_reason() expects, from a plain number.
static inline void hs_lws_close_reason(struct lws *wsi, unsigned short code, const char *reason, size_t len) {
    lws_close_reason(wsi, (enum lws_close_status)code, (unsigned char *)reason, len);
}

/// The connection id HybridSync keeps in lws's per-session memory (plain data, no Swift objects).
static inline uint64_t hs_lws_pss_get(void *user) { return user ? *(uint64_t *)user : 0; }
static inline void hs_lws_pss_set(void *user, uint64_t id) { if (user) *(uint64_t *)user = id; }

/// glibc's malloc_trim (not in Swift's Glibc module): returns freed heap to the system after a
/// wave of closed connections, which glibc would otherwise keep.
static inline void hs_malloc_trim(void) { malloc_trim(0); }

#endif
