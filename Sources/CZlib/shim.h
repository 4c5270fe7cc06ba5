// zlib (Debian zlib1g-dev, which libwebsockets-dev already depends on) for HybridSyncGzip.
// Only HybridSyncGzip imports this module.
#ifndef HS_ZLIB_SHIM_H
#define HS_ZLIB_SHIM_H

#include <zlib.h>

/// deflateInit2 is a macro in zlib.h; Swift sees this function instead.
static inline int hs_deflate_init_gzip(z_streamp stream, int level) {
    return deflateInit2(stream, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);  // 15 + 16: gzip wrapper
}

/// inflateInit2 with gzip detection (for tests and tools).
static inline int hs_inflate_init_gzip(z_streamp stream) {
    return inflateInit2(stream, 15 + 32);
}

#endif
