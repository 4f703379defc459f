/*
 * session_internal.h - the session structure and what transport.c and
 * core.c call in session.c. Runtime only: modules use session.h.
 */
#ifndef MB_SESSION_INTERNAL_H
#define MB_SESSION_INTERNAL_H

#include <ev.h>
#include <libwebsockets.h>

#include "ratelimit.h"
#include "session.h"

struct mb_frame {
    int refs;
    size_t len;
    unsigned char buf[]; /* LWS_PRE bytes of headroom, then len bytes */
};

struct mb_session {
    /* What sending a frame touches comes first (one or two cache lines per
     * session per broadcast: the kernel's send evicts the rest). */
    uint64_t id;
    struct lws *wsi; /* NULL once the connection is gone */
    int raw_fd;      /* the plain socket frames are sent on directly, or -1 (session.c write_frame) */
    bool authed;
    bool closing;  /* close requested; waiting for writable */
    bool dead;     /* connection closed; freed by the prepare hook */
    bool in_flush; /* listed for mb_sessions_flush */
    /* outbound queue: ring of frame pointers */
    mb_frame **txq;
    size_t tx_head, tx_count, tx_cap, tx_bytes;
    struct mb_session *next_of_player, *prev_of_player;
    int close_code;
    char close_reason[64];
    char player_id[64];
    char username[64];
    char ip[64];
    int64_t connected_ms, last_rx_ms;
    mb_bucket rate;
    /* inbound message assembly (fragments) */
    char *rx;
    size_t rx_len, rx_cap;
    bool rx_binary, rx_skip;
    ev_timer timer; /* auth + idle checks */
};

mb_session *mb_session_new(struct lws *wsi, const char *ip);
void mb_session_on_rx(mb_session *s, const void *in, size_t len, bool first, bool final, bool binary);
/* Called on LWS_CALLBACK_SERVER_WRITEABLE; returns -1 to close. */
int mb_session_on_writable(mb_session *s);
void mb_session_on_closed(mb_session *s);
void mb_session_register_tables(void); /* table gauges of the session maps */
void mb_sessions_reap(void);           /* free dead sessions (prepare hook) */
void mb_sessions_flush(void);          /* write the frames queued this iteration (prepare hook) */
void mb_sessions_free_all(void);
void mb_session_register_builtin(void);

/* Upward calls, set by core.c before the loop runs (no-ops until then):
 * wake asks the transport for a writable callback; authed and closed
 * reach the module registry. */
typedef struct mb_session_hooks {
    void (*wake)(struct lws *wsi);
    void (*authed)(mb_session *s);
    void (*closed)(mb_session *s);
} mb_session_hooks;
void mb_session_set_hooks(const mb_session_hooks *hooks);

/* Message and session metrics (session.c; core.c registers them). */
extern double *mb_m_sessions, *mb_m_sessions_total, *mb_m_errors[MB_E__COUNT];
double *mb_metric_msg_in(const char *type);
void mb_metric_msg_destroy(void);

#endif
