/* db.c - async libpq pool on libev (see db.h). */
#include "db.h"
#include "log.h"
#include "mb.h"
#include "loop.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_QUEUE 20000

typedef struct query {
    struct query *next;
    char *sql;
    int nparams;
    char **params;
    mb_db_fn cb;
    void *ud;
    int64_t queued_us;
} query;

typedef enum { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY } conn_state;

typedef struct conn {
    PGconn *pg;
    conn_state state;
    ev_io io;
    ev_timer retry;
    int backoff_ms;
    query *q;          /* in flight */
    PGresult *last;    /* last result of the in-flight query */
    int polling_write; /* PQconnectPoll asked for write */
} conn;

static struct {
    char *url;
    int size;
    int timeout_ms;
    conn *conns;
    query *head, *tail;
    int queued;
    bool stopped;
    mb_db_stats stats;
} db;

static size_t dur_n; /* durable writes queued (see below) */

/* Results delivered later from the prepare hook (never re-entrantly). */
typedef struct deferred_fail {
    query *q;
    mb_errcode code;
} deferred_fail;

static void query_free(query *q)
{
    for (int i = 0; i < q->nparams; i++) free(q->params[i]);
    free(q->params);
    free(q->sql);
    free(q);
}

static void deliver_fail(void *ud)
{
    deferred_fail *d = ud;
    mb_db_result r = {.ok = false,
                      .code = d->code,
                      .sqlstate = "",
                      .message = d->code == MB_E_UNAVAILABLE ? "database unavailable" : "error"};
    if (d->code == MB_E_UNAVAILABLE) db.stats.unavailable++;
    d->q->cb(d->q->ud, &r);
    query_free(d->q);
    free(d);
}

static void fail_later(query *q, mb_errcode code)
{
    deferred_fail *d = mb_malloc(sizeof *d);
    d->q = q;
    d->code = code;
    mb_defer(deliver_fail, d);
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void conn_connect(conn *c);
static void pump(void);

static int count_connected(void)
{
    int n = 0;
    for (int i = 0; i < db.size; i++)
        if (db.conns[i].state == C_IDLE || db.conns[i].state == C_BUSY) n++;
    return n;
}

bool mb_db_available(void) { return count_connected() > 0; }
int mb_db_pending(void)
{
    int n = db.queued + (int)dur_n;
    for (int i = 0; i < db.size; i++)
        if (db.conns[i].q) n++;
    return n;
}

const mb_db_stats *mb_db_get_stats(void)
{
    db.stats.pool_size = db.size;
    db.stats.connected = count_connected();
    int busy = 0;
    for (int i = 0; i < db.size; i++)
        if (db.conns[i].state == C_BUSY) busy++;
    db.stats.busy = busy;
    db.stats.queued = (uint64_t)db.queued;
    return &db.stats;
}

static void fail_all_queued(void)
{
    while (db.head) {
        query *q = db.head;
        db.head = q->next;
        fail_later(q, MB_E_UNAVAILABLE);
    }
    db.tail = NULL;
    db.queued = 0;
}

static void conn_set_io(conn *c, int events)
{
    struct ev_loop *loop = mb_loop();
    ev_io_stop(loop, &c->io); /* also clears an event already pending */
    if (!c->pg || PQsocket(c->pg) < 0) return;
    ev_io_set(&c->io, PQsocket(c->pg), events);
    ev_io_start(loop, &c->io);
}

static void conn_down(conn *c, const char *why)
{
    struct ev_loop *loop = mb_loop();
    bool was_up = c->state == C_IDLE || c->state == C_BUSY;
    ev_io_stop(loop, &c->io); /* also clears an event already pending */
    if (c->last) {
        PQclear(c->last);
        c->last = NULL;
    }
    if (c->q) {
        fail_later(c->q, MB_E_UNAVAILABLE);
        c->q = NULL;
    }
    if (c->pg) {
        if (was_up || c->backoff_ms <= 100) {
            char q[256];
            mb_warn("db_connection_lost", "conn=%d reason=%s", (int)(c - db.conns),
                    mb_log_quote(q, sizeof q, why));
        }
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->state = C_DOWN;
    /* No connection left: requests waiting would wait forever. */
    if (count_connected() == 0) fail_all_queued();
    if (db.stopped) return;
    ev_timer_set(&c->retry, c->backoff_ms / 1000.0, 0.);
    ev_timer_start(loop, &c->retry);
    c->backoff_ms = c->backoff_ms * 2 > 5000 ? 5000 : c->backoff_ms * 2;
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    conn *c = w->data;
    conn_connect(c);
}

static void conn_connect(conn *c)
{
    char opts[64];
    snprintf(opts, sizeof opts, "-c statement_timeout=%d", db.timeout_ms);
    const char *keys[] = {"dbname",          "options",         "application_name",
                          "connect_timeout", "keepalives_idle", NULL};
    const char *vals[] = {db.url, opts, "moonbase", "5", "10", NULL};
    c->pg = PQconnectStartParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        conn_down(c, c->pg ? PQerrorMessage(c->pg) : "out of memory");
        return;
    }
    PQsetnonblocking(c->pg, 1);
    c->state = C_CONNECTING;
    conn_set_io(c, EV_WRITE);
}

static void conn_ready(conn *c)
{
    bool first = count_connected() == 0;
    c->state = C_IDLE;
    c->backoff_ms = 100;
    conn_set_io(c, EV_READ);
    if (first) mb_info("db_connected", "conn=%d", (int)(c - db.conns));
    pump();
}

static void finish_query(conn *c)
{
    query *q = c->q;
    PGresult *res = c->last;
    c->q = NULL;
    c->last = NULL;
    c->state = C_IDLE;
    double lat = (double)(mb_now_us() - q->queued_us) / 1e6;
    db.stats.queries++;
    db.stats.latency_sum_s += lat;
    static const double bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25};
    int b = 0;
    while (b < 7 && lat > bounds[b]) b++;
    db.stats.latency_buckets[b]++;

    mb_db_result r = {0};
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        r.ok = true;
        r.sqlstate = "";
        r.message = "";
        r.res = res;
    } else {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        r.sqlstate = state ? state : "";
        r.message = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
        if (strncmp(r.sqlstate, "23505", 5) == 0) r.code = MB_E_CONFLICT;
        else if (strncmp(r.sqlstate, "22", 2) == 0 || strncmp(r.sqlstate, "23", 2) == 0)
            r.code = MB_E_BAD_REQUEST;
        else if (strncmp(r.sqlstate, "08", 2) == 0 || strncmp(r.sqlstate, "57", 2) == 0 || !*r.sqlstate)
            r.code = MB_E_UNAVAILABLE;
        else r.code = MB_E_INTERNAL;
        db.stats.errors++;
        char m[512];
        mb_warn("db_query_failed", "sqlstate=%s message=%s", r.sqlstate,
                mb_log_quote(m, sizeof m, r.message));
        r.res = res;
    }
    q->cb(q->ud, &r);
    if (res) PQclear(res);
    query_free(q);
}

static void conn_send(conn *c, query *q)
{
    c->q = q;
    c->state = C_BUSY;
    if (!PQsendQueryParams(c->pg, q->sql, q->nparams, NULL, (const char *const *)q->params, NULL, NULL, 0)) {
        conn_down(c, PQerrorMessage(c->pg));
        return;
    }
    int f = PQflush(c->pg);
    if (f < 0) {
        conn_down(c, PQerrorMessage(c->pg));
        return;
    }
    conn_set_io(c, f == 1 ? EV_READ | EV_WRITE : EV_READ);
}

static void pump(void)
{
    for (int i = 0; i < db.size && db.head; i++) {
        conn *c = &db.conns[i];
        if (c->state != C_IDLE) continue;
        query *q = db.head;
        db.head = q->next;
        if (!db.head) db.tail = NULL;
        db.queued--;
        conn_send(c, q);
    }
}

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    conn *c = w->data;
    if (c->state == C_CONNECTING) {
        PostgresPollingStatusType p = PQconnectPoll(c->pg);
        switch (p) {
        case PGRES_POLLING_READING: conn_set_io(c, EV_READ); return;
        case PGRES_POLLING_WRITING: conn_set_io(c, EV_WRITE); return;
        case PGRES_POLLING_OK: conn_ready(c); return;
        default: conn_down(c, PQerrorMessage(c->pg)); return;
        }
    }
    if (revents & EV_WRITE) {
        int f = PQflush(c->pg);
        if (f < 0) {
            conn_down(c, PQerrorMessage(c->pg));
            return;
        }
        if (f == 0) conn_set_io(c, EV_READ);
    }
    if (!(revents & EV_READ)) return;
    if (!PQconsumeInput(c->pg)) {
        conn_down(c, PQerrorMessage(c->pg));
        return;
    }
    if (c->state == C_IDLE) {
        /* Unexpected input while idle: notices are fine, a dead socket is not. */
        if (PQstatus(c->pg) == CONNECTION_BAD) conn_down(c, PQerrorMessage(c->pg));
        return;
    }
    while (c->q && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        if (!res) {
            finish_query(c);
            if (c->state == C_IDLE && PQstatus(c->pg) == CONNECTION_BAD) {
                conn_down(c, PQerrorMessage(c->pg));
                return;
            }
            pump();
            return;
        }
        if (c->last) PQclear(c->last);
        c->last = res;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) conn_down(c, PQerrorMessage(c->pg));
}

void mb_db_start(const char *url, int pool_size, int query_timeout_ms)
{
    memset(&db, 0, sizeof db);
    db.url = mb_strdup(url);
    db.size = pool_size;
    db.timeout_ms = query_timeout_ms;
    db.conns = mb_calloc((size_t)pool_size, sizeof *db.conns);
    for (int i = 0; i < pool_size; i++) {
        conn *c = &db.conns[i];
        ev_init(&c->io, conn_io_cb);
        c->io.data = c;
        ev_init(&c->retry, retry_cb);
        c->retry.data = c;
        c->backoff_ms = 100;
        conn_connect(c);
    }
}

void mb_db_stop(void)
{
    struct ev_loop *loop = mb_loop();
    db.stopped = true;
    for (int i = 0; i < db.size; i++) {
        conn *c = &db.conns[i];
        ev_timer_stop(loop, &c->retry);
        ev_io_stop(loop, &c->io); /* also clears an event already pending */
        if (c->last) PQclear(c->last);
        c->last = NULL;
        if (c->q) fail_later(c->q, MB_E_UNAVAILABLE);
        c->q = NULL;
        if (c->pg) PQfinish(c->pg);
        c->pg = NULL;
        c->state = C_DOWN;
    }
    fail_all_queued();
}

/* ------------------------------------------------------------ durable */

typedef struct durable {
    struct durable *next;
    char *what, *sql;
    int nparams;
    char **params;
    int attempts;
} durable;

static durable *dur_head, *dur_tail;
static size_t dur_n;
static bool dur_inflight;
static durable *dur_current; /* the write in flight, still findable */
static ev_timer dur_retry;
static bool dur_timer_init;

static void durable_free(durable *d)
{
    for (int i = 0; i < d->nparams; i++) free(d->params[i]);
    free(d->params);
    free(d->sql);
    free(d->what);
    free(d);
}

static void durable_pump(void);

static void durable_done(void *ud, const mb_db_result *r)
{
    durable *d = ud;
    dur_inflight = false;
    dur_current = NULL;
    if (!r->ok && r->code == MB_E_UNAVAILABLE && !db.stopped) {
        d->attempts++;
        d->next = dur_head; /* keep order: retry it first */
        dur_head = d;
        if (!dur_tail) dur_tail = d;
        dur_n++;
        double delay = d->attempts < 10 ? 0.2 * d->attempts : 2.0;
        ev_timer_stop(mb_loop(), &dur_retry);
        ev_timer_set(&dur_retry, delay, 0.);
        ev_timer_start(mb_loop(), &dur_retry);
        return;
    }
    if (!r->ok) {
        char m[512];
        mb_error("durable_write_failed", "what=%s sqlstate=%s error=%s", d->what, r->sqlstate,
                 mb_log_quote(m, sizeof m, r->message));
    }
    durable_free(d);
    durable_pump();
}

static void durable_retry_cb(struct ev_loop *loop, ev_timer *w, int revents) { durable_pump(); }

static void durable_pump(void)
{
    if (dur_inflight || !dur_head || db.stopped) return;
    if (!mb_db_available()) {
        if (!ev_is_active(&dur_retry)) {
            ev_timer_set(&dur_retry, 0.5, 0.);
            ev_timer_start(mb_loop(), &dur_retry);
        }
        return;
    }
    durable *d = dur_head;
    dur_head = d->next;
    if (!dur_head) dur_tail = NULL;
    dur_n--;
    d->next = NULL;
    dur_inflight = true;
    dur_current = d;
    mb_db_query(d->sql, d->nparams, (const char *const *)d->params, durable_done, d);
}

void mb_db_durable(const char *what, const char *sql, int nparams, const char *const *params)
{
    if (!dur_timer_init) {
        ev_init(&dur_retry, durable_retry_cb);
        dur_timer_init = true;
    }
    durable *d = mb_calloc(1, sizeof *d);
    d->what = mb_strdup(what);
    d->sql = mb_strdup(sql);
    d->nparams = nparams;
    d->params = mb_calloc((size_t)(nparams ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++) d->params[i] = params[i] ? mb_strdup(params[i]) : NULL;
    if (dur_tail) dur_tail->next = d;
    else dur_head = d;
    dur_tail = d;
    dur_n++;
    durable_pump();
}

size_t mb_db_durable_pending(void) { return dur_n + (dur_inflight ? 1 : 0); }

char *const *mb_db_durable_find(const char *what, const char *key)
{
    /* The write in flight counts too: until its callback, readers must not
     * conclude the row does not exist. */
    durable *c = dur_current;
    if (c && strcmp(c->what, what) == 0 && c->nparams > 0 && c->params[0] && strcmp(c->params[0], key) == 0)
        return c->params;
    for (durable *d = dur_head; d; d = d->next)
        if (strcmp(d->what, what) == 0 && d->nparams > 0 && d->params[0] && strcmp(d->params[0], key) == 0)
            return d->params;
    return NULL;
}

void mb_db_destroy(void)
{
    if (dur_timer_init) ev_timer_stop(mb_loop(), &dur_retry);
    while (dur_head) {
        durable *d = dur_head;
        dur_head = d->next;
        mb_error("durable_write_lost", "what=%s key=%s reason=\"stopped while PostgreSQL was away\"", d->what,
                 d->nparams && d->params[0] ? d->params[0] : "");
        durable_free(d);
    }
    dur_tail = NULL;
    dur_n = 0;
    dur_timer_init = false;

    free(db.conns);
    free(db.url);
    db.conns = NULL;
    db.url = NULL;
    db.size = 0;
}

void mb_db_query(const char *sql, int nparams, const char *const *params, mb_db_fn cb, void *ud)
{
    query *q = mb_calloc(1, sizeof *q);
    q->sql = mb_strdup(sql);
    q->nparams = nparams;
    q->params = mb_calloc((size_t)(nparams ? nparams : 1), sizeof(char *));
    for (int i = 0; i < nparams; i++) q->params[i] = params[i] ? mb_strdup(params[i]) : NULL;
    q->cb = cb;
    q->ud = ud;
    q->queued_us = mb_now_us();
    if (db.stopped || !mb_db_available() || db.queued >= MAX_QUEUE) {
        fail_later(q, MB_E_UNAVAILABLE);
        return;
    }
    if (db.tail) db.tail->next = q;
    else db.head = q;
    db.tail = q;
    db.queued++;
    pump();
}

/* ------------------------------------------------------------ migrations */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (n < 0) {
        fclose(f);
        return NULL;
    }
    char *s = mb_malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = '\0';
    return s;
}

static mb_status exec_ok(PGconn *pg, const char *sql, const char *what)
{
    PGresult *r = PQexec(pg, sql);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) {
        char m[512];
        mb_error("migration_failed", "step=%s error=%s", what,
                 mb_log_quote(m, sizeof m, PQresultErrorMessage(r)));
    }
    PQclear(r);
    return ok ? MB_OK : MB_ERR;
}

mb_status mb_db_migrate(const char *url, const char *dir, int timeout_ms)
{
    int64_t deadline = mb_now_ms() + timeout_ms;
    PGconn *pg = NULL;
    int delay_ms = 100;
    for (;;) {
        const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
        const char *vals[] = {url, "5", "moonbase-migrate", NULL};
        pg = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(pg) == CONNECTION_OK) break;
        char m[512];
        mb_warn("db_connect_failed", "error=%s", mb_log_quote(m, sizeof m, PQerrorMessage(pg)));
        PQfinish(pg);
        pg = NULL;
        if (mb_now_ms() >= deadline) {
            mb_error("db_unreachable", "timeout_ms=%d", timeout_ms);
            return MB_ERR;
        }
        /* Start-up only, before the loop serves anything: a plain wait. */
        struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay_ms = delay_ms * 2 > 2000 ? 2000 : delay_ms * 2;
    }
    exec_ok(pg, "SET client_min_messages = warning", "settings");
    if (exec_ok(pg,
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                "schema_migrations") != MB_OK) {
        PQfinish(pg);
        return MB_ERR;
    }
    DIR *d = opendir(dir);
    if (!d) {
        mb_error("migrations_dir_missing", "dir=%s error=%s", dir, strerror(errno));
        PQfinish(pg);
        return MB_ERR;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && strcmp(e->d_name + l - 4, ".sql") == 0) {
            names = mb_realloc(names, (n + 1) * sizeof *names);
            names[n++] = mb_strdup(e->d_name);
        }
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str); /* qsort(NULL, 0) is undefined */
    mb_status rc = MB_OK;
    int applied = 0;
    for (size_t i = 0; i < n && rc == MB_OK; i++) {
        if (exec_ok(pg, "BEGIN", "begin") != MB_OK) {
            rc = MB_ERR;
            break;
        }
        /* Several servers starting at once: one applies, the others wait. */
        exec_ok(pg, "SELECT pg_advisory_xact_lock(7350001)", "lock");
        const char *p[1] = {names[i]};
        PGresult *r =
            PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p, NULL, NULL, 0);
        int done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
        PQclear(r);
        if (done) {
            exec_ok(pg, "COMMIT", "commit");
            continue;
        }
        char *path = mb_sprintf("%s/%s", dir, names[i]);
        char *sql = read_file(path);
        free(path);
        if (!sql || exec_ok(pg, sql, names[i]) != MB_OK) {
            exec_ok(pg, "ROLLBACK", "rollback");
            rc = MB_ERR;
        } else {
            r = PQexecParams(pg, "INSERT INTO schema_migrations(version) VALUES ($1)", 1, NULL, p, NULL, NULL,
                             0);
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
            PQclear(r);
            if (!ok || exec_ok(pg, "COMMIT", "commit") != MB_OK) rc = MB_ERR;
            else {
                applied++;
                mb_info("migration_applied", "version=%s", names[i]);
            }
        }
        free(sql);
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    PQfinish(pg);
    if (rc == MB_OK) mb_info("migrations_done", "applied=%d total=%zu", applied, n);
    return rc;
}
