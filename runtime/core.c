/*
 * core.c - the loop, deferred work, the worker thread, module registry,
 * token keys, signals and graceful shutdown.
 */
#include "core.h"
#include "internal.h"
#include "jwt.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct ev_loop *loop;
static const mb_config *cfg;
static const mb_module *const *mods;
static bool shutting_down;
static int64_t shutdown_deadline;
static ev_prepare prepare_w;
static ev_signal sigterm_w, sigint_w;
static ev_timer shutdown_w;

double *mb_m_sessions, *mb_m_sessions_total, *mb_m_errors[MB_E__COUNT];

struct ev_loop *mb_loop(void) { return loop; }
const mb_config *mb_cfg(void) { return cfg; }
bool mb_shutting_down(void) { return shutting_down; }

void mb_uuid(char out[37])
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

/* ------------------------------------------------------------- defer */
typedef struct deferred {
    mb_defer_fn fn;
    void *ud;
} deferred;
static deferred *dq;
static size_t dq_n, dq_cap;

void mb_defer(mb_defer_fn fn, void *ud)
{
    if (dq_n == dq_cap) {
        dq_cap = dq_cap ? dq_cap * 2 : 64;
        dq = mb_realloc(dq, dq_cap * sizeof *dq);
    }
    dq[dq_n++] = (deferred){fn, ud};
    /* make sure the loop does not sleep before running it */
    ev_feed_event(loop, &prepare_w, EV_CUSTOM);
}

static void run_deferred(void)
{
    /* Callbacks may defer more work: run until empty (bounded by work). */
    for (int rounds = 0; dq_n && rounds < 64; rounds++) {
        size_t n = dq_n;
        deferred *batch = mb_malloc(n * sizeof *batch);
        memcpy(batch, dq, n * sizeof *batch);
        memmove(dq, dq + n, (dq_n - n) * sizeof *dq);
        dq_n -= n;
        for (size_t i = 0; i < n; i++) batch[i].fn(batch[i].ud);
        free(batch);
    }
}

static void token_cache_tick(void);

static void prepare_cb(struct ev_loop *l, ev_prepare *w, int revents)
{
    run_deferred();
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->before_sleep) (*m)->before_sleep();
    run_deferred();
    mb_sessions_flush();
    mb_sessions_reap();
    token_cache_tick();
}

/* ------------------------------------------------------------ worker */
typedef struct work {
    struct work *next;
    mb_work_fn work, done;
    void *ud;
} work;

static pthread_t worker_thread;
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcond = PTHREAD_COND_INITIALIZER;
static work *todo_head, *todo_tail, *done_head;
static bool worker_stop, worker_started;
static ev_async done_w;

static void *worker_main(void *arg)
{
    pthread_mutex_lock(&wmu);
    for (;;) {
        while (!todo_head && !worker_stop) pthread_cond_wait(&wcond, &wmu);
        if (!todo_head && worker_stop) break;
        work *w = todo_head;
        todo_head = w->next;
        if (!todo_head) todo_tail = NULL;
        pthread_mutex_unlock(&wmu);
        w->work(w->ud);
        pthread_mutex_lock(&wmu);
        w->next = done_head;
        done_head = w;
        ev_async_send(loop, &done_w);
    }
    pthread_mutex_unlock(&wmu);
    return NULL;
}

static void done_cb(struct ev_loop *l, ev_async *w, int revents)
{
    pthread_mutex_lock(&wmu);
    work *list = done_head;
    done_head = NULL;
    pthread_mutex_unlock(&wmu);
    /* reverse to completion order */
    work *rev = NULL;
    while (list) {
        work *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        work *n = rev->next;
        rev->done(rev->ud);
        free(rev);
        rev = n;
    }
}

void mb_worker_submit(mb_work_fn fn, mb_work_fn done, void *ud)
{
    work *w = mb_calloc(1, sizeof *w);
    w->work = fn;
    w->done = done;
    w->ud = ud;
    pthread_mutex_lock(&wmu);
    if (todo_tail) todo_tail->next = w;
    else todo_head = w;
    todo_tail = w;
    pthread_cond_signal(&wcond);
    pthread_mutex_unlock(&wmu);
}

static void worker_shutdown(void)
{
    if (!worker_started) return;
    pthread_mutex_lock(&wmu);
    worker_stop = true;
    pthread_cond_signal(&wcond);
    pthread_mutex_unlock(&wmu);
    pthread_join(worker_thread, NULL);
    done_cb(loop, &done_w, 0);
    worker_started = false;
}

/* ------------------------------------------------------------ tokens */
static unsigned char jwt_key[MB_JWT_KEY_MAX];
static size_t jwt_key_len;
static char *admin_token;

const unsigned char *mb_jwt_key(size_t *len)
{
    *len = jwt_key_len;
    return jwt_key;
}
const char *mb_admin_token(void) { return admin_token; }

static int mkdir_p(const char *dir)
{
    char *tmp = mb_strdup(dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(tmp, 0700);
        *p = '/';
    }
    int rc = mkdir(tmp, 0700);
    free(tmp);
    return rc == 0 || errno == EEXIST ? 0 : -1;
}

/* Read a secret file of the data dir, creating it with random bytes
 * (hex) on first use. Only the first run writes it: start-up only. */
static char *dev_secret(const char *dir, const char *name, size_t bytes)
{
    if (mkdir_p(dir) < 0) {
        mb_error("data_dir_unusable", "dir=%s error=%s", dir, strerror(errno));
        return NULL;
    }
    char *path = mb_sprintf("%s/%s", dir, name);
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (strlen(buf) < bytes * 2) {
        unsigned char raw[64];
        randombytes_buf(raw, bytes);
        sodium_bin2hex(buf, sizeof buf, raw, bytes);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
            mb_error("data_dir_unusable", "file=%s error=%s", path, strerror(errno));
            if (fd >= 0) close(fd);
            free(path);
            return NULL;
        }
        close(fd);
        mb_info("dev_secret_created", "file=%s", path);
    }
    free(path);
    return mb_strdup(buf);
}

int mb_core_keys_init(const mb_config *c)
{
    bool prod = mb_config_production(c);
    char *key = NULL;
    if (c->jwt_secret) key = mb_strdup(c->jwt_secret);
    else if (prod) {
        mb_error("config_refused", "reason=\"production mode needs --jwt-secret (MOONBASE_JWT_SECRET); the development key is refused\"");
        return -1;
    } else {
        key = dev_secret(c->data_dir, "dev-jwt-key", 32);
        if (!key) return -1;
    }
    jwt_key_len = strlen(key) < MB_JWT_KEY_MAX ? strlen(key) : MB_JWT_KEY_MAX;
    memcpy(jwt_key, key, jwt_key_len);
    sodium_memzero(key, strlen(key));
    free(key);

    free(admin_token);
    admin_token = NULL;
    if (c->admin_token && *c->admin_token) {
        static const char *weak[] = {"admin", "password", "changeme", "moonbase", "admin-admin-admin"};
        for (size_t i = 0; i < MB_ARRAY_LEN(weak); i++)
            if (prod && strcmp(c->admin_token, weak[i]) == 0) {
                mb_error("config_refused", "reason=\"default admin token refused in production\"");
                return -1;
            }
        admin_token = mb_strdup(c->admin_token);
    } else if (!prod) {
        admin_token = dev_secret(c->data_dir, "dev-admin-token", 16);
        if (admin_token)
            mb_info("admin_token", "file=%s/dev-admin-token note=\"development admin token\"",
                    c->data_dir);
    }
    return 0;
}

char *mb_token_issue(const char *player_id, const char *username, int version)
{
    int64_t now = mb_wall_ms() / 1000;
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I}", "sub", player_id, "usn", username ? username : "",
                               "iat", (json_int_t)now, "exp", (json_int_t)(now + cfg->token_ttl_s));
    if (version > 0) json_object_set_new(claims, "tv", json_integer(version));
    char *t = mb_jwt_sign(claims, jwt_key, jwt_key_len);
    json_decref(claims);
    return t;
}

/* Verified tokens, so a client calling REST in a loop does not pay for
 * base64 + HMAC + two JSON parses per request. Keyed by the whole token
 * string: only tokens that verified are stored. Bounded: at most
 * TOKEN_CACHE_MAX entries, the oldest one evicted first (a ring in insertion
 * order), and expired entries are swept every TOKEN_SWEEP_MS. It used to be
 * emptied only at 10000 entries: every login adds a token, so under steady
 * auth churn it grew by ~500 bytes a login for over an hour (reliability
 * round 2, item 8). A miss only costs one verification. */
#define TOKEN_CACHE_MAX 1024
#define TOKEN_SWEEP_MS 5000
typedef struct token_entry {
    char player_id[64], username[64];
    int64_t exp;
    int version; /* the token's "tv" claim (account token version) */
    char *token; /* the key (the map owns its own copy) */
} token_entry;
static mb_smap token_cache;
static token_entry *token_ring[TOKEN_CACHE_MAX]; /* oldest at token_head */
static size_t token_head, token_n;
static int64_t token_swept_ms;

static void token_entry_drop(token_entry *e)
{
    mb_smap_del(&token_cache, e->token);
    free(e->token);
    free(e);
}

/* Revoked tokens (mb_token_block): player id -> block_entry. Checked on
 * every verification, cached or not, so a revocation is immediate for REST
 * and session.connect alike. Bounded by MB_TOKEN_BLOCK_MAX; an entry goes
 * when its until passes (lazily on lookup, or in a sweep when full). */
typedef struct block_entry {
    mb_tokens_state state;
    int min_version;
    int64_t until_ms;
} block_entry;
static mb_smap token_blocks;

static void token_blocks_clear(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&token_blocks, &it, NULL, &v)) free(v);
    mb_smap_free(&token_blocks);
}

static void token_blocks_prune(void)
{
    int64_t now = mb_wall_ms();
    char **dead = mb_malloc((token_blocks.count + 1) * sizeof *dead);
    size_t n = 0, it = 0;
    const char *k;
    void *v;
    while (mb_smap_next(&token_blocks, &it, &k, &v))
        if (((block_entry *)v)->until_ms <= now) dead[n++] = mb_strdup(k);
    for (size_t i = 0; i < n; i++) {
        free(mb_smap_del(&token_blocks, dead[i]));
        free(dead[i]);
    }
    free(dead);
}

bool mb_token_block_room(void)
{
    if (token_blocks.count < MB_TOKEN_BLOCK_MAX) return true;
    token_blocks_prune();
    return token_blocks.count < MB_TOKEN_BLOCK_MAX;
}

size_t mb_token_block_count(void) { return token_blocks.count; }

mb_status mb_token_block(const char *player_id, mb_tokens_state state, int min_version, int64_t until_wall_ms)
{
    if (!player_id || strlen(player_id) >= 64) return MB_ERR;
    block_entry *e = mb_smap_get(&token_blocks, player_id);
    if (state == MB_TOKENS_OK || until_wall_ms <= mb_wall_ms()) {
        free(mb_smap_del(&token_blocks, player_id));
        return MB_OK;
    }
    if (!e) {
        if (!mb_token_block_room()) {
            mb_warn("token_block_full", "entries=%zu player=%s", token_blocks.count, player_id);
            return MB_ERR;
        }
        e = mb_calloc(1, sizeof *e);
        mb_smap_put(&token_blocks, player_id, e);
    }
    e->state = state;
    e->min_version = min_version;
    e->until_ms = until_wall_ms;
    return MB_OK;
}

static block_entry *block_get(const char *player_id)
{
    if (!token_blocks.count) return NULL;
    block_entry *e = mb_smap_get(&token_blocks, player_id);
    if (e && e->until_ms <= mb_wall_ms()) {
        free(mb_smap_del(&token_blocks, player_id));
        return NULL;
    }
    return e;
}

mb_tokens_state mb_token_blocked(const char *player_id)
{
    block_entry *e = block_get(player_id);
    return e ? e->state : MB_TOKENS_OK;
}

/* NULL when the token of this player and version is not revoked. */
static const char *block_reason(const char *player_id, int version)
{
    block_entry *e = block_get(player_id);
    if (!e) return NULL;
    if (e->state == MB_TOKENS_DELETED) return "account deleted";
    if (e->state == MB_TOKENS_BANNED) return "account banned";
    if (version < e->min_version) return "session revoked";
    return NULL;
}

static void token_cache_clear(void)
{
    for (size_t i = 0; i < token_n; i++) {
        token_entry *e = token_ring[(token_head + i) % TOKEN_CACHE_MAX];
        free(e->token);
        free(e);
    }
    token_head = token_n = 0;
    mb_smap_free(&token_cache);
}

/* Drop expired entries, keeping the ring's order. */
static void token_cache_sweep(void)
{
    int64_t now = mb_wall_ms() / 1000;
    size_t kept = 0;
    for (size_t i = 0; i < token_n; i++) {
        token_entry *e = token_ring[(token_head + i) % TOKEN_CACHE_MAX];
        if (e->exp <= now) token_entry_drop(e);
        else token_ring[(token_head + kept++) % TOKEN_CACHE_MAX] = e;
    }
    token_n = kept;
}

static void token_cache_add(const char *token, const char *player_id, const char *username, int64_t exp,
                            int version)
{
    token_entry *e = mb_smap_get(&token_cache, token);
    if (!e) {
        if (token_n == TOKEN_CACHE_MAX) {
            token_entry_drop(token_ring[token_head]);
            token_head = (token_head + 1) % TOKEN_CACHE_MAX;
            token_n--;
        }
        e = mb_calloc(1, sizeof *e);
        e->token = mb_strdup(token);
        mb_smap_put(&token_cache, token, e);
        token_ring[(token_head + token_n++) % TOKEN_CACHE_MAX] = e;
    }
    memcpy(e->player_id, player_id, 64);
    memcpy(e->username, username, 64);
    e->exp = exp;
    e->version = version;
}

/* From the prepare hook: an O(TOKEN_CACHE_MAX) sweep every TOKEN_SWEEP_MS. */
static void token_cache_tick(void)
{
    int64_t now = mb_now_ms();
    if (now - token_swept_ms < TOKEN_SWEEP_MS) return;
    token_swept_ms = now;
    token_cache_sweep();
}

bool mb_token_verify(const char *token, char player_id[64], char username[64], const char **why)
{
    if (token && strlen(token) <= 4096) {
        token_entry *e = mb_smap_get(&token_cache, token);
        if (e && e->exp > mb_wall_ms() / 1000) {
            const char *revoked = block_reason(e->player_id, e->version);
            if (revoked) {
                *why = revoked;
                return false;
            }
            memcpy(player_id, e->player_id, 64);
            memcpy(username, e->username, 64);
            return true;
        }
    }
    json_t *claims = NULL;
    mb_jwt_result r = mb_jwt_verify(token, jwt_key, jwt_key_len, mb_wall_ms() / 1000, &claims);
    if (r != MB_JWT_OK) {
        *why = mb_jwt_result_str(r);
        return false;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *usn = json_string_value(json_object_get(claims, "usn"));
    if (!sub || strlen(sub) >= 64) {
        json_decref(claims);
        *why = "malformed token";
        return false;
    }
    json_t *tv = json_object_get(claims, "tv");
    json_int_t version = json_is_integer(tv) ? json_integer_value(tv) : 0;
    if (tv && (!json_is_integer(tv) || version < 0 || version > INT32_MAX)) {
        json_decref(claims);
        *why = "malformed token";
        return false;
    }
    const char *revoked = block_reason(sub, (int)version);
    if (revoked) {
        json_decref(claims);
        *why = revoked;
        return false;
    }
    snprintf(player_id, 64, "%s", sub);
    snprintf(username, 64, "%s", usn ? usn : "");
    if (strlen(token) <= 4096)
        token_cache_add(token, player_id, username, json_integer_value(json_object_get(claims, "exp")),
                        (int)version);
    json_decref(claims);
    return true;
}

/* ----------------------------------------------------------- modules */
void mb_modules_session_authed(mb_session *s)
{
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->session_authed) (*m)->session_authed(s);
}

void mb_modules_session_closed(mb_session *s)
{
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->session_closed) (*m)->session_closed(s);
}

char *mb_modules_metrics(void)
{
    char *all = mb_strdup("");
    for (const mb_module *const *m = mods; m && *m; m++) {
        if (!(*m)->metrics) continue;
        char *t = (*m)->metrics();
        if (!t) continue;
        char *n = mb_sprintf("%s%s", all, t);
        free(all);
        free(t);
        all = n;
    }
    return all;
}

static mb_smap in_metrics, out_metrics;

static double *msg_metric(mb_smap *m, const char *name, const char *type)
{
    double *v = mb_smap_get(m, type);
    if (v) return v;
    char labels[128];
    char safe[65];
    size_t j = 0;
    for (const char *p = type; *p && j < 64; p++)
        safe[j++] = (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20) ? '_' : *p;
    safe[j] = '\0';
    snprintf(labels, sizeof labels, "type=\"%s\"", safe);
    v = mb_metric(name, labels, MB_COUNTER, m == &in_metrics ? "messages received by type"
                                                             : "messages sent by type");
    if (m->count < 512) mb_smap_put(m, type, v);
    return v;
}

double *mb_metric_msg_in(const char *type) { return msg_metric(&in_metrics, "moonbase_messages_in_total", type); }
double *mb_metric_msg_out(const char *type) { return msg_metric(&out_metrics, "moonbase_messages_out_total", type); }

/* ---------------------------------------------------------- shutdown */
static void shutdown_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    bool sessions_gone = mb_session_count() == 0;
    bool db_idle = mb_db_pending() == 0;
    if ((sessions_gone && db_idle) || mb_now_ms() >= shutdown_deadline) {
        if (!(sessions_gone && db_idle))
            mb_warn("shutdown_forced", "sessions=%zu db_pending=%d", mb_session_count(),
                    mb_db_pending());
        ev_timer_stop(l, w);
        ev_break(l, EVBREAK_ALL);
    }
}

static void begin_shutdown(struct ev_loop *l, ev_signal *w, int revents)
{
    if (shutting_down) {
        mb_warn("shutdown_again", "signal=%d note=\"already shutting down\"", w->signum);
        return;
    }
    shutting_down = true;
    mb_info("shutdown_begin", "signal=%d", w->signum);
    shutdown_deadline = mb_now_ms() + cfg->shutdown_timeout_ms;
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->shutdown) (*m)->shutdown();
    /* Close every socket with 1001 "going away" once modules flushed. */
    size_t it = 0;
    mb_session *s;
    while (mb_session_next(&it, &s)) mb_session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    ev_timer_init(&shutdown_w, shutdown_tick, 0.05, 0.05);
    ev_timer_start(l, &shutdown_w);
}

/* ------------------------------------------------------------- serve */
int mb_core_serve(const mb_config *c, const mb_module *const *modules)
{
    cfg = c;
    mods = modules;
    loop = ev_default_loop(EVFLAG_AUTO);
    /* I/O batching: when the loop is about to wait, libev first lets up to
     * --io-batch-us pass since the previous poll (never past the next timer,
     * so ticks stay on time), then one epoll_wait collects everything that
     * arrived meanwhile. Under load that turns a wake-up per input into one
     * per millisecond (fewer context switches and epoll_wait calls) for at
     * most that much added latency; idle, it changes nothing. */
    ev_set_io_collect_interval(loop, cfg->io_batch_us / 1e6);
    signal(SIGPIPE, SIG_IGN);

    mb_m_sessions = mb_metric("moonbase_sessions", "", MB_GAUGE, "open WebSocket sessions");
    mb_m_sessions_total = mb_metric("moonbase_sessions_total", "", MB_COUNTER, "sessions opened");
    for (int i = 0; i < MB_E__COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "code=\"%s\"", mb_errcode_str((mb_errcode)i));
        mb_m_errors[i] = mb_metric("moonbase_errors_total", labels, MB_COUNTER, "errors sent by code");
    }

    mb_metric_table_smap("token_cache", &token_cache);
    mb_metric_table_smap("token_blocks", &token_blocks);
    mb_session_register_tables();

    ev_prepare_init(&prepare_w, prepare_cb);
    ev_prepare_start(loop, &prepare_w);
    ev_async_init(&done_w, done_cb);
    ev_async_start(loop, &done_w);
    ev_unref(loop); /* the async watcher alone must not keep the loop alive */
    if (pthread_create(&worker_thread, NULL, worker_main, NULL) == 0) worker_started = true;
    ev_signal_init(&sigterm_w, begin_shutdown, SIGTERM);
    ev_signal_start(loop, &sigterm_w);
    ev_signal_init(&sigint_w, begin_shutdown, SIGINT);
    ev_signal_start(loop, &sigint_w);

    mb_session_register_builtin();
    mb_http_register_builtin();
    int rc = 0;
    size_t inited = 0;
    for (const mb_module *const *m = mods; m && *m; m++) {
        if ((*m)->api != MB_MODULE_API || !(*m)->init || !(*m)->destroy) {
            mb_error("module_invalid", "module=%s", (*m)->name ? (*m)->name : "?");
            rc = 1;
            break;
        }
        if (mb_protocol_register((*m)->messages, (*m)->n_messages) < 0) {
            mb_error("module_invalid", "module=%s reason=\"duplicate message type\"", (*m)->name);
            rc = 1;
            break;
        }
        mb_http_register((*m)->routes, (*m)->n_routes);
        if ((*m)->init() != MB_OK) {
            mb_error("module_init_failed", "module=%s", (*m)->name);
            rc = 1;
            break;
        }
        inited++;
    }

    mb_db_start(cfg->database_url, cfg->db_pool_size, cfg->db_query_timeout_ms);
    if (rc == 0 && mb_transport_start() < 0) rc = 1;
    if (rc == 0) {
        mb_info("listening", "host=%s port=%d mode=%s", cfg->host, cfg->port, cfg->mode);
        ev_run(loop, 0);
        mb_info("shutdown_sockets_closed", "sessions=%zu", mb_session_count());
    }

    /* Tear down in reverse: transport first (no more events), then modules. */
    mb_transport_stop();
    mb_db_stop();
    run_deferred();
    for (size_t i = inited; i-- > 0;) mods[i]->destroy();
    run_deferred();
    worker_shutdown();
    mb_sessions_free_all();
    mb_http_free_all();
    mb_db_free();
    mb_smap_free(&in_metrics);
    mb_smap_free(&out_metrics);
    token_cache_clear();
    token_blocks_clear();
    mb_metrics_free();
    mb_protocol_reset();
    free(dq);
    dq = NULL;
    dq_n = dq_cap = 0;
    free(admin_token);
    admin_token = NULL;
    ev_signal_stop(loop, &sigterm_w);
    ev_signal_stop(loop, &sigint_w);
    ev_prepare_stop(loop, &prepare_w);
    ev_ref(loop);
    ev_async_stop(loop, &done_w);
    ev_loop_destroy(loop);
    if (rc == 0) mb_info("shutdown_done", "exit=0");
    return rc;
}
