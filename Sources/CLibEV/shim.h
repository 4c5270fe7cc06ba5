// libev, only as the event loop that libwebsockets' libev plugin runs on (HybridSyncLWS): a
// service thread creates its loop, hands it to lws as a foreign loop and runs it one turn at a time.
#pragma once
#include <ev.h>

/// An epoll loop (libev's choice where epoll is missing); NULL on failure.
static inline void *hs_ev_loop_new(void) {
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    return loop ? loop : ev_loop_new(EVFLAG_AUTO);
}

/// One turn: waits for an event (or, with `nowait`, only takes what is ready).
static inline void hs_ev_run_once(void *loop, int nowait) {
    ev_run((struct ev_loop *)loop, nowait ? EVRUN_NOWAIT : EVRUN_ONCE);
}

static inline void hs_ev_loop_destroy(void *loop) { ev_loop_destroy((struct ev_loop *)loop); }

/// 1 when the loop waits with epoll.
static inline int hs_ev_uses_epoll(void *loop) { return ev_backend((struct ev_loop *)loop) == EVBACKEND_EPOLL; }
