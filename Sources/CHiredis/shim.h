// hiredis 0.14 for HybridSyncRedis (Debian libhiredis-dev). Only HybridSyncRedis imports this module.
// Swift cannot call the variadic redisCommand: HybridSyncRedis uses the argv forms only.
#ifndef HS_HIREDIS_SHIM_H
#define HS_HIREDIS_SHIM_H

#include <hiredis/hiredis.h>
#include <sys/time.h>

/// The reply's `element` vector entry `index` (a pointer-to-pointer Swift reads awkwardly).
static inline redisReply *hs_redis_element(const redisReply *reply, size_t index) { return reply->element[index]; }

/// A connect with a timeout in milliseconds (struct timeval by value).
static inline redisContext *hs_redis_connect(const char *host, int port, long milliseconds) {
    struct timeval tv = { milliseconds / 1000, (milliseconds % 1000) * 1000 };
    return redisConnectWithTimeout(host, port, tv);
}

/// The socket read/write timeout in milliseconds (0: block without limit).
static inline int hs_redis_set_timeout(redisContext *context, long milliseconds) {
    struct timeval tv = { milliseconds / 1000, (milliseconds % 1000) * 1000 };
    return redisSetTimeout(context, tv);
}

#endif
