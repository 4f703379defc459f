/*
 * loadgen.h - the Moonbase load generator: one process, one libev loop,
 * thousands of WebSocket clients (non-blocking sockets on that loop, frames
 * read and written by wslay's frame API through wsframe.c, see ws.c for why)
 * and keep-alive HTTP connections (a small HTTP/1.1 client on ev_io, see
 * http.c for why), plus readers for the server's /proc and /metrics.
 *
 * Files and prefixes: main.c (options, output, lg_*), http.c (lg_http_*),
 * ws.c (lg_ws_*), uring.c (lg_uring_*: ws.c's receive path through io_uring),
 * wsframe.c (lg_wsf_*: frames through wslay), probe.c (lg_proc_*, lg_metrics_*, lg_hist_*, lg_lat_*),
 * scen_*.c (one scenario each, lg_scen_<name>).
 *
 * Everything runs on the loop thread. A "phase" (create accounts, connect,
 * measure) is ev_run() until the phase's own counter says it is done or its
 * deadline passes; the phase then calls ev_break(). Every run is bounded:
 * --max-seconds arms an alarm that ends the process with exit status 3.
 */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <ev.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsframe.h"

/* ------------------------------------------------------------ options */

typedef struct lg_opts {
    const char *scenario;
    const char *host;
    int port;
    int server_pid;
    const char *label;    /* free text copied into the JSON */
    const char *out;      /* append the JSON line here too */
    const char *prefix;   /* device ids are <prefix>-<n> */
    int clients;          /* idle, matchmaker, chat */
    int matches, players; /* match */
    const char *mode;     /* match: the mode of the matches it creates (arena) */
    double tick_hz;       /* expected server tick rate (the mode sets it) */
    double input_hz;
    double heartbeat_s;
    double duration_s, warmup_s;
    int connections; /* rpc */
    double rate;     /* matchmaker tickets/s, chat messages/s */
    int senders;     /* chat */
    int connect_concurrency;
    int max_seconds;
    enum { LG_IO_AUTO, LG_IO_URING, LG_IO_EPOLL } io; /* the WebSocket receive path (--io) */
    int uring_buffers;                                /* provided buffers of the io_uring path */
} lg_opts;

extern lg_opts lg_opt;
extern struct ev_loop *lg_loop;

/* Monotonic seconds (CLOCK_MONOTONIC). */
double lg_now(void);
/* Run the loop until lg_phase_done() is called or `seconds` pass; returns
 * true when the phase ended by lg_phase_done. */
bool lg_phase_run(double seconds);
void lg_phase_done(void);
/* Print a progress line on stderr ("loadgen: ..."). */
void lg_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Abort the run with a message (exit status 1). */
_Noreturn void lg_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void *lg_calloc(size_t n, size_t size);

/* ------------------------------------------------------------- stats */

/* Latency samples (milliseconds), kept whole: runs are bounded, so the
 * arrays stay small (a million samples is 8 MB). */
typedef struct lg_lat {
    double *v;
    size_t n, cap;
} lg_lat;

void lg_lat_add(lg_lat *l, double ms);
/* Percentile p in [0,100] (sorts in place); 0 when empty. */
double lg_lat_pct(lg_lat *l, double p);
void lg_lat_free(lg_lat *l);

/* ------------------------------------------------------------ probes */

typedef struct lg_proc {
    bool ok;
    double cpu_s; /* utime + stime */
    double sys_s; /* stime alone: the kernel's share (send, recv, epoll, TCP) */
    long rss_kib; /* VmRSS */
    double at;    /* lg_now() */
} lg_proc;

/* Sample /proc/<pid>/stat and /proc/<pid>/status; ok=false without a pid. */
lg_proc lg_proc_sample(int pid);

/* A sampled user/kernel split of a process's CPU time. /proc's utime and
 * stime are the kernel's tick sampling (the scheduler tick decides whose
 * mode a whole tick is charged to), which a server woken by its own timers
 * aliases with; here a perf task-clock event samples the process's main
 * thread every ~1 ms of its own CPU time and each sample says the mode it
 * interrupted (perf_event_open: needs perf_event_paranoid <= 1 or root;
 * otherwise lg_modes_open says why and the figure is n/a). */
typedef struct lg_modes {
    int fd;
    void *ring;
    size_t ring_len;
    uint64_t tail;
    uint64_t user, kernel, lost;
} lg_modes;
bool lg_modes_open(lg_modes *m, int pid); /* disabled until lg_modes_enable */
void lg_modes_enable(lg_modes *m, bool on);
void lg_modes_drain(lg_modes *m); /* count the samples in the ring (call at least every ~10 s) */
void lg_modes_close(lg_modes *m);
/* user / (user + kernel) of the samples so far, NAN without samples. */
double lg_modes_user_share(const lg_modes *m);

#define LG_HIST_MAX 32
typedef struct lg_hist {
    int n;
    double le[LG_HIST_MAX];  /* upper bounds, last is +Inf */
    double cum[LG_HIST_MAX]; /* cumulative counts */
} lg_hist;

/* GET /metrics (runs the loop). Returns the body (caller frees) or NULL. */
char *lg_metrics_fetch(void);
/* Value of an unlabelled series `name` in a /metrics body; NAN when absent. */
double lg_metrics_value(const char *body, const char *name);
/* Histogram `name` from a /metrics body; false when absent. */
bool lg_metrics_hist(const char *body, const char *name, lg_hist *out);
/* after - before, bucket by bucket (same bounds). */
lg_hist lg_hist_delta(const lg_hist *after, const lg_hist *before);
/* Percentile by linear interpolation inside the bucket (Prometheus'
 * histogram_quantile); NAN when empty. */
double lg_hist_pct(const lg_hist *h, double p);
/* Fraction of observations <= bound (bound must be a bucket edge). */
double lg_hist_frac_le(const lg_hist *h, double bound);

/* -------------------------------------------------------------- http */

typedef struct lg_http lg_http;
/* status < 0: transport error. body is valid during the call only. */
typedef void (*lg_http_done_fn)(lg_http *c, int status, const char *body, size_t len, void *ud);

/* A keep-alive connection to host:port (connects lazily, reconnects when
 * the server closed an idle connection). */
lg_http *lg_http_new(const char *host, int port);
void lg_http_free(lg_http *c);
/* One request per connection (Connection: close). Setup requests use it:
 * the server (runtime/transport.c at the time of writing) adds one to its
 * connection count per keep-alive HTTP transaction and removes one per
 * connection, so after --max-connections keep-alive requests it refuses
 * every new socket; a connection per request keeps its count right. */
void lg_http_set_close(lg_http *c, bool close_each);
/* Queue one request; at most one in flight per connection. body may be
 * NULL. bearer may be NULL. Returns -1 when a request is in flight. */
int lg_http_request(lg_http *c, const char *method, const char *path, const char *bearer, const char *body,
                    lg_http_done_fn fn, void *ud);
/* One request, running the loop until the answer (setup only).
 * Returns the status (<0 on error); *resp (caller frees) gets the body. */
int lg_http_call(const char *method, const char *path, const char *bearer, const char *body, char **resp);

/* ---------------------------------------------------------- accounts */

typedef struct lg_account {
    char *token;
    char player_id[40];
} lg_account;

/* Create (or find) n device accounts <prefix>-0..n-1 over REST with a few
 * parallel keep-alive connections. Dies when any fails. */
lg_account *lg_accounts_create(int n);
void lg_accounts_free(lg_account *a, int n);

/* ---------------------------------------------------------------- ws */

typedef enum { LG_C_IDLE, LG_C_CONNECTING, LG_C_OPEN, LG_C_AUTHED, LG_C_CLOSED, LG_C_FAILED } lg_client_state;

typedef struct lg_client lg_client;

/* Scenario callbacks. on_message gets every text message after
 * session.connected; data is not NUL-terminated, valid during the call. */
typedef struct lg_ws_handlers {
    void (*on_authed)(lg_client *c);
    void (*on_message)(lg_client *c, const char *data, size_t len);
    void (*on_closed)(lg_client *c);
} lg_ws_handlers;

struct lg_client {
    int fd; /* -1: no socket */
    ev_io io;
    int idx;
    lg_client_state state;
    const lg_account *acct;
    double t_connect, t_authed;
    bool sent_upgrade;
    char key[25]; /* Sec-WebSocket-Key */
    /* bytes the kernel did not take yet (written when the socket is writable) */
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint64_t dropped; /* sends refused because the backlog was full */
    /* inbound: the start of the handshake answer while it is not whole */
    uint8_t *pend;
    size_t pend_len, pend_cap;
    uint64_t conn; /* this connection's number (ws.c; the user_data of its receive in uring.c) */
    bool rx_ring;  /* reading through the io_uring (uring.c), not recv() */
    bool rx_armed; /* a multishot receive is armed for this connection */
    lg_wsf ws;     /* frames (wslay), set up when the upgrade is accepted */
    void *ud;      /* scenario data */
};

void lg_ws_init(const lg_ws_handlers *h);
/* Connect clients[0..n-1] (each with acct set), at most
 * --connect-concurrency handshakes in flight, running the loop until all
 * are authenticated or failed or `timeout` seconds pass. Returns the number
 * authenticated; *elapsed gets the seconds from first connect to last auth. */
int lg_ws_connect_all(lg_client *clients, int n, double timeout, double *elapsed);
/* Queue a text message (copied). false when the ring is full or closed. */
bool lg_ws_send(lg_client *c, const char *data, size_t len);
/* Queue a JSON envelope {"type":type,"payload":payload}; steals payload. */
bool lg_ws_send_json(lg_client *c, const char *type, json_t *payload);
int lg_ws_open_count(void);
/* Messages (text and binary, reassembled) and their payload bytes received
 * by all clients so far. */
uint64_t lg_ws_rx_messages(void);
uint64_t lg_ws_rx_bytes(void);
/* Close every connection and destroy the context (runs the loop briefly). */
void lg_ws_shutdown(void);

/* The receive path through io_uring (uring.c). Clients read the handshake
 * answer with recv(); once upgraded, a client of an io_uring run reads
 * through the ring. */
/* Set up the ring, its buffers and its watchers on lg_loop; false (and the
 * reason in why) when this kernel or machine cannot. */
bool lg_uring_init(char *why, size_t whylen);
bool lg_uring_on(void);
const char *lg_uring_describe(void);
/* Arm a multishot receive on fd for connection conn (submitted before the
 * loop next waits). */
void lg_uring_arm(uint64_t conn, int fd);
/* Cancel connection conn's receive, submitted at once (the caller closes
 * the socket next). */
void lg_uring_cancel(uint64_t conn);
/* Wait up to `seconds` for every receive to end (after the clients closed). */
void lg_uring_drain(double seconds);
void lg_uring_stats(json_t *out);
void lg_uring_destroy(void);
/* ws.c, called by uring.c: bytes received for connection conn (fed to the
 * same decoder as the recv path; ignored when conn is closed); and conn's
 * receive ended with res (> 0 or -ENOBUFS: re-armed; 0: EOF; < 0: -errno). */
void lg_ws_rx_data(uint64_t conn, const uint8_t *data, size_t n);
void lg_ws_rx_ended(uint64_t conn, int res);

/* --------------------------------------------------------- scenarios */

/* Each fills `out` (a JSON object) with its figures and returns 0, or
 * returns -1 after printing why. `skipped` set: not run (reason in out). */
int lg_scen_idle(json_t *out);
int lg_scen_match(json_t *out);
int lg_scen_matchmaker(json_t *out);
int lg_scen_rpc(json_t *out);
int lg_scen_chat(json_t *out);

/* Helpers shared by scenarios (main.c). */
void lg_put_proc(json_t *out, const char *prefix, const lg_proc *a, const lg_proc *b);
/* Append {figure, value, unit, target, met} to out.headline; met < 0: no
 * target; target may be NULL. */
void lg_figure(json_t *out, const char *figure, double value, const char *unit, const char *target, int met);
double lg_round(double v, int digits);

#endif
