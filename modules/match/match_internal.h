/* match_internal.h - what the files of modules/match share and nobody else
 * sees: the match struct and its seats, inputs and timers, and the
 * functions and state one file of the match runtime gives another (each
 * declared once, here, with the file that defines it). Other modules use
 * match.h and match_ext.h.
 *
 * The files are layers: each calls only files below it (what one file
 * gives, only files above it use), so no two files call each other. The
 * only calls back up go through function pointers that a file above hands
 * down: modes.c's running count and reload listener (set by life.c and
 * match_module.c) and libev's tick timer (match_tick_cb, set by
 * match_create). From the bottom:
 *   modes.c, script_errors.c  the mode registry; the console's error list
 *   match.c         the registry, the player index and what reads a match
 *                   (accessors, seat queries, summary, broadcast, freeing,
 *                   the cluster directory entry, the option values)
 *   match_lua.c     the Lua `match` object, contexts, match_pcall, timers'
 *                   queue, the match_ext.h registrations
 *   calls.c         callbacks (begin/end call), match_fail, match_finalize:
 *                   a failing call fails the match, failing finalizes it,
 *                   finalizing calls terminate, so they are one file
 *   seats.c         joining, leaving, reservations, and match_post_call
 *                   (the safe point: a queued kick is a seat leaving)
 *   state.c         get_state rendered and sent
 *   migrate.c       hot reload of a running match
 *   tick.c          the tick loop: inputs, due timers, one step
 *   life.c          match_create, match_call_json, the runtime's
 *                   init/shutdown/destroy
 *   rest_query.c    GET /v1/matches of this node, a stored match
 *   cluster_glue.c  the match module across nodes
 *   handlers.c      the match.* socket messages
 *   match_module.c  the module record, options, routes (the top)
 */
#ifndef MB_MATCH_INTERNAL_H
#define MB_MATCH_INTERNAL_H

#include "buf.h"
#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "modes.h"
#include "ratelimit.h"
#include "server.h"
#include <sodium.h>

typedef struct seat {
    char player_id[64];
    char username[64];
    json_t *metadata;
    int lua_ref; /* player table in the registry */
    bool joined; /* false: only a reservation */
    bool connected;
    int64_t disconnected_at; /* mono ms, when !connected */
    int64_t reserved_until;  /* mono ms, reservations only */
    mb_bucket input_bucket;
    int veto_used;
    mb_player_cache sockets; /* this player's sessions, for the per-tick sends */
    /* send_state = "on_change": digest and length of the last state body
     * (after "tick") sent to this viewer; state_sent false = none yet */
    bool state_sent;
    uint64_t state_digest;
    size_t state_len;
} seat;

typedef struct input_item {
    char player_id[64];
    int ref; /* the decoded input, in the registry of the match's VM */
} input_item;

typedef struct after_item {
    int64_t due_ms;
    int ref;     /* LUA_NOREF: cancelled while run_afters runs */
    uint64_t id; /* what the script's timer handle holds */
} after_item;

typedef struct kick_item {
    char player_id[64];
    char reason[64];
} kick_item;

struct match {
    char id[40];
    mode_version *v;
    mb_lua_vm *vm;
    int mode_ref, state_ref, match_ref;
    match_status status;
    uint64_t tick;
    ev_timer tick_w;
    int64_t period_us, next_due_us;
    int64_t last_step_ms;
    seat *seats;
    size_t n_seats, cap_seats;
    input_item *inputs;
    size_t n_inputs, cap_inputs;
    input_item *spare_inputs; /* the previous tick's array, reused */
    size_t cap_spare;
    after_item *afters;
    size_t n_afters, cap_afters;
    kick_item *kicks;
    size_t n_kicks, cap_kicks;
    json_t *params;
    json_t *history;                             /* [{player_id, username, joined_at, left_at, reason}] */
    int64_t created_at, started_at, finished_at; /* wall ms */
    int64_t created_mono, empty_since;
    bool start_requested;
    bool finishing;
    json_t *finish_result;
    char finish_reason[32];
    bool failed;
    bool dead;
    bool finalizing; /* match_finalize() is running (terminate may fail) */
    int depth;       /* nested script calls */
    mb_buf out;
    bool sim;
    bool reload_pending; /* a new version with reload() is live */
    int64_t sim_now;
    /* dx-match: seed, timers, labels */
    uint64_t seed; /* math.randomseed of the VM; match.seed */
    uint64_t next_timer_id;
    bool in_afters; /* run_afters is iterating m->afters */
    json_t *label;  /* match:set_label: flat object, or NULL */
    /* Lua call contexts (match.h match_ctx) */
    match_ctx call_ctx; /* set by match_begin_call, used by match_end_call */
    bool admin_view;    /* match_state_json runs get_state: errors do not end the match */
};

/* match.c: the registry and what reads a match (the bottom layer) */
extern mb_smap match_by_player; /* player id -> match (joined seats) */
extern double *match_m_live;    /* the live-matches gauge (life.c sets it up) */
/* Options of the match module (its table in match_module.c; 0 before the
 * configuration is loaded, e.g. in `moonbase simulate`). */
extern int match_opt_input_rate;   /* input-rate: match.input per second per player */
extern int match_opt_tick_slot_ms; /* tick-slot-ms: tick phases snap to slots this wide (0: free) */
void match_registry_init(void);
void match_registry_put(match *m);
void match_registry_del(match *m); /* from the registry only: the caller frees */
/* Stop the timers and free every match left, then the maps. */
void match_registry_destroy(void);
void match_free(match *m);
seat *match_seat(match *m, const char *player_id);
/* [{player_id, username, connected}] of the joined seats (new reference). */
json_t *match_players_json(const match *m);
/* Close player_id's open history entry with left_at and reason. */
void match_history_left(match *m, const char *player_id, const char *reason);
#define MATCH_LABEL_MAX_KEY 32
/* 1..MATCH_LABEL_MAX_KEY characters of A-Z a-z 0-9 _ - (set_label, list filters) */
bool match_label_key_ok(const char *k, size_t n);
/* Send a message (payload stolen) to every connected player. */
void match_broadcast_json(match *m, const char *type, json_t *payload);
/* The cluster directory (docs/CLUSTER.md); each returns at once without
 * --redis-url. added again at each join (the entry lists the players). */
void match_cluster_added(match *m);
void match_cluster_removed(match *m);
/* add "node_id" and "url" (this node's when NULL) to o in cluster mode */
void match_cluster_decorate(json_t *o, const char *node_id, const char *url);

/* match_lua.c: the match object, contexts and protected calls */
extern double *match_m_messages_out;
void match_lua_setup(match *m); /* builds the match table; raises nothing */
int match_push_player(match *m, seat *s);
/* mb_lua_vm_pcall on m->vm in context ctx (match_end_call uses it, and the
 * calls made without match_begin_call: init, timers, reload). */
mb_lua_status match_pcall(match *m, match_ctx ctx, int nargs, int nresults, char *err, size_t errlen);
/* Seed math.random of the match's VM. MB_ERR: the call failed (logged). */
mb_status match_lua_seed(match *m, uint64_t seed);
/* The match_ext_on_ended listeners (calls.c, as the match ends). */
void match_ext_notify_ended(match *m);
/* Cancel the pending timer id: true if it was pending. */
bool match_cancel_timer(match *m, uint64_t id);

/* calls.c: callbacks, failure and the end of a match */
extern double *match_m_finished, *match_m_failed;
/* Push M[callback of ctx], match, state; false (nothing pushed) when the
 * mode does not define it. match_end_call runs it in context ctx. */
bool match_begin_call(match *m, match_ctx ctx);
bool match_end_call(match *m, int nargs, int nresults);
void match_fail(match *m, const char *msg);
/* End now: terminate (when call_terminate), match.finished, persistence;
 * the match is freed after the running callback returns. */
void match_finalize(match *m, bool call_terminate);

/* seats.c: seats, joining, leaving, and the safe point after a callback */
/* Apply what scripts queued during a callback: kicks, start, finish. */
void match_post_call(match *m);
/* Build the seat's Lua player table (s->lua_ref); MB_ERR: the match failed. */
mb_status match_seat_make_player(match *m, seat *s);
void match_seat_set_connected(match *m, seat *s, bool c);
/* Run leave(match, state, player, reason) and drop the seat. */
void match_seat_leave(match *m, seat *s, const char *reason);
/* Each tick: expire reservations, end the grace of disconnected players. */
void match_check_seats(match *m, int64_t now);
typedef enum { J_OK, J_NOT_FOUND, J_FORBIDDEN, J_CONFLICT, J_INTERNAL } join_rc;
/* Seat player_id (or reconnect it): capacity, join_attempt, join. reason
 * says why when not J_OK. */
join_rc match_do_join(match *m, const char *player_id, const char *username, json_t *metadata, char *reason,
                      size_t rlen);

/* state.c: get_state rendered and sent */
extern match_state_observer match_observer;
extern void *match_observer_ud;
extern double *match_m_states_sent, *match_m_states_out;
extern unsigned char match_digest_key[crypto_shorthash_KEYBYTES];
/* Call get_state(match, state, viewer) and append the payload JSON
 * (object with "tick") to m->out. viewer NULL = nil. */
bool match_render_state(match *m, seat *viewer);
/* Digest of a state payload without its tick (send_state = "on_change"). */
uint64_t match_state_digest(const char *payload, size_t len, size_t *body_len);
/* on_change: false when viewer s already got this body; else remembers it. */
bool match_state_changed_for(match *m, seat *s, uint64_t digest, size_t body_len);
void match_send_states(match *m);

/* migrate.c: hot reload of running matches */
void match_migrate(match *m);
void match_mode_reloaded(const char *mode);

/* tick.c: the tick loop */
extern mb_histogram *match_lateness_h;
extern double *match_m_ticks;
void match_tick_cb(struct ev_loop *loop, ev_timer *w, int revents);
/* Decode an input (JSON text) into the match's VM and queue it for the
 * next tick. Returns MB_LUA_OK, or the decoder's status with err set. */
mb_lua_status match_enqueue_input(match *m, const char *player_id, const char *text, size_t len, char *err,
                                  size_t errlen);

/* life.c: creating matches, the runtime's init and end */
/* First tick of a new match (pure, for tests): one to two periods
 * after now; with slot_us > 0 on a slot boundary of the period grid shared
 * by all matches of this period; rnd picks the slot (or the phase). */
int64_t match_first_due_us(int64_t now, int64_t period_us, int64_t slot_us, uint32_t rnd);

/* rest_query.c: GET /v1/matches over this node's matches for the request's
 * query, or for query args ["name=value", ...] (a node-to-node call): NULL
 * with a reason in err; a stored match by id; a reply for GET
 * /v1/matches/{id} with the fields other modules add */
json_t *match_list_request(mb_http_req *r, char *err, size_t errlen, long *limit);
json_t *match_list_local(json_t *query, char *err, size_t errlen, long *limit);
void match_get_stored(mb_http_req *r, const char *id);
void match_respond(mb_http_req *r, json_t *j, const char *id);

/* cluster_glue.c: the match module in cluster mode (docs/CLUSTER.md); each
 * returns at once (false) without --redis-url */
void match_cluster_init(void);
bool match_cluster_join(mb_session *s, const char *cid, const char *match_id);
bool match_cluster_place(mb_http_req *r, bool admin, const char *mode, json_t *params, const uint64_t *seed,
                         bool show_seed);
void match_cluster_list(mb_http_req *r, json_t *local, json_t *query, long limit);
bool match_cluster_get(mb_http_req *r, const char *id);

#endif
