/*
 * db.h - non-blocking PostgreSQL pool on the event loop (libpq async API
 * watched by libev). Parameterised statements only; results in text form.
 *
 * Every query's callback runs exactly once, on the loop, never from inside
 * mb_db_query itself: with the rows, with a database error, or with
 * `unavailable` when no connection is up (or the queue is full). Queries
 * are not retried: a query in flight when its connection dies fails with
 * `unavailable`, because it may or may not have committed; the caller
 * reports that to its client instead of claiming success.
 *
 * Connections reconnect by themselves with exponential backoff (100 ms up
 * to 5 s) while PostgreSQL is away.
 */
#ifndef MB_DB_H
#define MB_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "protocol.h"

typedef struct mb_db_result {
    bool ok;              /* true: res holds the rows */
    mb_errcode code;      /* when !ok: MB_E_UNAVAILABLE, MB_E_CONFLICT (unique
                              violation), MB_E_BAD_REQUEST (invalid input) or
                              MB_E_INTERNAL */
    const char *sqlstate; /* 5-char SQLSTATE or "" */
    const char *message;  /* error text for logs, never for clients */
    PGresult *res;        /* borrowed: valid during the callback */
} mb_db_result;

typedef void (*mb_db_fn)(void *ud, const mb_db_result *r);

typedef struct mb_db_stats {
    int pool_size, connected, busy;
    uint64_t queued, queries, errors, unavailable;
    double latency_sum_s;
    uint64_t latency_buckets[8]; /* <=1,5,10,25,50,100,250ms,+Inf */
} mb_db_stats;

/* Start the pool (connections come up asynchronously). url is copied. */
void mb_db_start(const char *url, int pool_size, int query_timeout_ms);
/* Close every connection and fail queued queries (callbacks still run). */
void mb_db_stop(void);
/* Run one statement. params are copied before returning. */
void mb_db_query(const char *sql, int nparams, const char *const *params, mb_db_fn cb, void *ud);
bool mb_db_available(void);
int mb_db_pending(void); /* queued + in flight */
const mb_db_stats *mb_db_get_stats(void);

void mb_db_destroy(void); /* after mb_db_stop and the last callback */

/* Durable write: a statement that must eventually commit even if
 * PostgreSQL is away right now (finished matches, vote audit rows). Queued
 * in order and retried with backoff while the database is unavailable;
 * dropped (and logged) only on a non-retryable SQL error or when the
 * process stops with writes still queued. `what` names it in logs. */
void mb_db_durable(const char *what, const char *sql, int nparams, const char *const *params);
size_t mb_db_durable_pending(void);
/* Find a queued durable write whose first parameter equals key (to answer
 * reads of rows not stored yet); returns its params or NULL. */
char *const *mb_db_durable_find(const char *what, const char *key);

/* Blocking helpers for start-up only (before the loop serves): apply the
 * numbered *.sql files in dir in order, each once, in one transaction per
 * file under an advisory lock, recorded in schema_migrations. Retries the
 * connection until timeout_ms. Returns MB_OK or MB_ERR (error logged). */
mb_status mb_db_migrate(const char *url, const char *dir, int timeout_ms);

#endif
