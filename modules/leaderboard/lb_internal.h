/*
 * lb_internal.h - what the files of modules/leaderboard share.
 *
 *   leaderboard.c  boards and records in memory (one order-statistic tree
 *                  per board: ostree.c), the ordered write queue to
 *                  PostgreSQL, the start-up load, scheduled resets (cron.c),
 *                  the module's hooks (lb_init, ...)
 *   lb_lua.c       moonbase.leaderboard.* for scripts
 *   lb_rest.c      the REST routes (client and admin) and the module table,
 *                  whose init calls lb_lua_init and lb_init
 *
 * The calls run one way: lb_rest.c -> lb_lua.c -> leaderboard.c.
 *
 * Durability (docs/LEADERBOARDS.md "What acknowledged means"):
 *   - REST writes (create, submit, reset) are computed when their batch is
 *     sent and applied to memory, and answered 2xx, only after the batch
 *     committed; a failed batch answers 503 and changes nothing.
 *   - Script writes are applied to memory at once and queued, in order, in
 *     the same queue; a failed batch keeps them queued and retries.
 *   - One batch (one call of leaderboard_write(), one transaction) is in
 *     flight at a time, so PostgreSQL sees the writes in queue order.
 */
#ifndef MB_LB_INTERNAL_H
#define MB_LB_INTERNAL_H

#include <jansson.h>
#include <lua.h>
#include <stdbool.h>
#include <stdint.h>

#include "cron.h"
#include "ostree.h"
#include "server.h"

#define LB_ID_MAX 64
#define LB_METADATA_MAX 4096 /* bytes of JSON per record or board */
#define LB_MAX_BOARDS 1000
#define LB_READ_MAX 100                   /* records per read */
#define LB_QUEUE_MAX 200000               /* queued script writes */
#define LB_SCORE_LIMIT 9007199254740992.0 /* 2^53: exact in Lua numbers and JSON readers */

typedef enum { LB_BEST = 0, LB_SET, LB_INCR } lb_operator;

typedef struct lb_board lb_board;

typedef struct lb_record {
    ost_node node; /* first member */
    lb_board *board;
    char owner[37];
    char *username; /* NULL when unknown */
    char *metadata; /* JSON object text, NULL = {} */
    int64_t score, subscore;
    uint64_t seq; /* who got there first: smaller is earlier */
    int32_t num_submits;
    int64_t updated_ms;
} lb_record;

struct lb_board {
    char *id;
    bool desc;
    lb_operator op;
    char *reset; /* cron text or NULL */
    lb_cron cron;
    bool client_submit;
    char *metadata; /* JSON object text */
    int period;
    int64_t period_start, next_reset; /* ms; next_reset 0: never */
    int64_t created_ms;
    ost tree;
    mb_smap owners; /* owner id -> lb_record */
};

/* A score submission (REST or script), before the operator ran. */
typedef struct lb_submit {
    char owner[37];
    const char *username; /* may be NULL */
    int64_t score, subscore;
    const json_t *metadata; /* object or NULL */
} lb_submit;

/* The definition of a board to create. */
typedef struct lb_def {
    const char *id;
    bool desc;
    lb_operator op;
    const char *reset; /* NULL: never */
    bool client_submit;
    const json_t *metadata; /* object or NULL */
} lb_def;

/* --------------------------------------------------- leaderboard.c */

int64_t lb_now_ms(void); /* wall clock + the development clock offset */
void lb_set_clock_offset(int64_t ms);
int64_t lb_clock_offset(void);
const char *lb_op_name(lb_operator op);
int lb_op_parse(const char *s); /* -1 when unknown */
/* NULL when the id is fine, else a static reason. */
const char *lb_check_id(const char *id);
const char *lb_check_metadata(const json_t *v);

/* The board (its scheduled reset applied first when due), or NULL. */
lb_board *lb_board_get(const char *id);
size_t lb_board_count(void);
lb_board *lb_board_at(size_t i); /* sorted by id; NULL past the end */
/* 0-based rank of a record. */
size_t lb_rank(const lb_record *r);
lb_record *lb_find(lb_board *b, const char *owner);

/* JSON views (new references). */
json_t *lb_board_json(const lb_board *b);
json_t *lb_record_json(const lb_record *r);
/* Reads, as JSON text (malloc'd, length in *len):
 * {leaderboard, next_reset, records[], next_cursor} of the top from a
 * cursor (NULL and err when the cursor is malformed); {..., owner_rank} of
 * the records around an owner; {...} of the given owners, best first. */
char *lb_read_top(lb_board *b, size_t limit, const char *cursor, size_t *len, char *err, size_t errlen);
char *lb_read_around(lb_board *b, const char *owner, size_t n, size_t *len);
char *lb_read_owners(lb_board *b, const json_t *owners, size_t *len);

/* Script writes: applied now, queued durably. 0 or -1 with err
 * ("unavailable", "busy" or a reason). */
mb_status lb_create_now(const lb_def *d, lb_board **out, bool *created, char *err, size_t errlen);
mb_status lb_submit_now(lb_board *b, const lb_submit *s, lb_record **out, char *err, size_t errlen);

/* REST writes: answered once their batch committed (or failed). The
 * request is answered by the queue; the inputs are copied. */
void lb_create_rest(mb_http_req *req, const lb_def *d);
void lb_submit_rest(mb_http_req *req, const char *board_id, const lb_submit *s);
void lb_reset_rest(mb_http_req *req, const char *board_id);

/* Archived period top from PostgreSQL (answers req itself). */
void lb_read_archive(mb_http_req *req, lb_board *b, int period, size_t limit, size_t offset);

/* ISO 8601 UTC with ms into out (32 bytes). */
void lb_iso(int64_t ms, char out[32]);

/* The module's hooks (lb_rest.c holds the module table). */
mb_status lb_init(void);
void lb_before_sleep(void);
void lb_shutdown(void);
void lb_destroy(void);

/* -------------------------------------------------------- lb_lua.c */

void lb_lua_init(void);

#endif
