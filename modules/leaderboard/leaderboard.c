/*
 * leaderboard.c - leaderboards in memory and their durable copy (see
 * lb_internal.h for the parts and the durability rules, docs/LEADERBOARDS.md
 * for the behaviour).
 *
 * Every board's current period is an order-statistic tree (ostree.c)
 * ordered by score (descending or ascending), then subscore (same way),
 * then seq (who got there first), then owner id; so ranks, the top from a
 * cursor and the records around a player are O(log n) reads from memory.
 * PostgreSQL holds the same rows; they are loaded back at start-up.
 */
#include "leaderboard.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lb_internal.h"

/* ------------------------------------------------------------ state */

static mb_smap boards;    /* id -> lb_board */
static lb_board **sorted; /* by id, for listing */
static size_t n_sorted;
static int64_t clock_offset; /* development: moves the boards' clock */
static uint64_t last_seq;
static ev_timer reset_w, retry_w;
static double *m_boards, *m_records, *m_queue, *m_batches, *m_batch_fail, *m_batch_ops, *m_batch_s;
static int64_t batch_sent_us; /* when the batch in flight was sent */

int64_t lb_now_ms(void) { return mb_wall_ms() + clock_offset; }
void lb_set_clock_offset(int64_t ms) { clock_offset = ms; }
int64_t lb_clock_offset(void) { return clock_offset; }

static uint64_t next_seq(void)
{
    uint64_t now = (uint64_t)mb_wall_ms() * 1000u + (uint64_t)(mb_now_us() % 1000);
    last_seq = now > last_seq ? now : last_seq + 1;
    return last_seq;
}

static const char *const op_names[] = {"best", "set", "incr"};
const char *lb_op_name(lb_operator op) { return op_names[op]; }
int lb_op_parse(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, op_names[i]) == 0) return i;
    return -1;
}

const char *lb_check_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 1 || n > LB_ID_MAX) return "id must be 1..64 characters of A-Z a-z 0-9 _ . : -";
    for (const char *p = id; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == ':' || c == '-'))
            return "id must be 1..64 characters of A-Z a-z 0-9 _ . : -";
    }
    return NULL;
}

const char *lb_check_metadata(const json_t *v)
{
    if (!json_is_object(v)) return "metadata must be an object";
    char *s = json_dumps(v, JSON_COMPACT);
    size_t n = s ? strlen(s) : SIZE_MAX;
    free(s);
    return n > LB_METADATA_MAX ? "metadata must be at most 4096 bytes of JSON" : NULL;
}

void lb_iso(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100, tm.tm_sec % 100,
             (int)(ms % 1000 + 1000) % 1000);
}

/* ------------------------------------------------------------ order */

static int cmp_records(const ost_node *a, const ost_node *b, const void *ctx)
{
    const lb_record *x = (const lb_record *)a, *y = (const lb_record *)b;
    bool desc = *(const bool *)ctx;
    if (x->score != y->score) return (x->score > y->score) == desc ? -1 : 1;
    if (x->subscore != y->subscore) return (x->subscore > y->subscore) == desc ? -1 : 1;
    if (x->seq != y->seq) return x->seq < y->seq ? -1 : 1;
    return strcmp(x->owner, y->owner);
}

/* new (score, subscore) better than old's, by the board's sort */
static bool better(const lb_board *b, int64_t s, int64_t ss, const lb_record *old)
{
    if (s != old->score) return (s > old->score) == b->desc;
    if (ss != old->subscore) return (ss > old->subscore) == b->desc;
    return false;
}

size_t lb_rank(const lb_record *r) { return ost_rank(&r->board->tree, &r->node); }

lb_record *lb_find(lb_board *b, const char *owner) { return mb_smap_get(&b->owners, owner); }

/* ---------------------------------------------------------- records */

static void record_free(lb_record *r)
{
    if (!r) return;
    free(r->username);
    free(r->metadata);
    free(r);
}

static void record_free_node(ost_node *n, void *ud)
{
    (void)ud;
    record_free((lb_record *)n);
}

static void set_str(char **dst, const char *src)
{
    if (*dst == src) return;
    free(*dst);
    *dst = src ? mb_strdup(src) : NULL;
}

/* Put the values of v (a detached record) into the board's tree: updates
 * the owner's record or adds one. v is copied. */
static lb_record *apply(lb_board *b, const lb_record *v)
{
    lb_record *r = mb_smap_get(&b->owners, v->owner);
    if (r) ost_remove(&b->tree, &r->node);
    else {
        r = mb_calloc(1, sizeof *r);
        r->board = b;
        memcpy(r->owner, v->owner, sizeof r->owner);
        mb_smap_put(&b->owners, r->owner, r);
        *m_records += 1;
    }
    if (v->username) set_str(&r->username, v->username);
    set_str(&r->metadata, v->metadata);
    r->score = v->score;
    r->subscore = v->subscore;
    r->seq = v->seq;
    r->num_submits = v->num_submits;
    r->updated_ms = v->updated_ms;
    ost_insert(&b->tree, &r->node);
    return r;
}

/* The operator: the record after submission s, given the previous one
 * (NULL: none). out gets owned copies of the strings. 0 or -1 with err. */
static mb_status compute(const lb_board *b, const lb_record *old, const lb_submit *s, lb_record *out,
                         char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    memcpy(out->owner, s->owner, sizeof out->owner);
    out->updated_ms = lb_now_ms();
    char *meta = s->metadata ? json_dumps(s->metadata, JSON_COMPACT) : NULL;
    if (!old) {
        out->score = s->score;
        out->subscore = s->subscore;
        out->seq = next_seq();
        out->num_submits = 1;
        out->metadata = meta;
    } else {
        out->score = old->score;
        out->subscore = old->subscore;
        out->seq = old->seq;
        out->num_submits = old->num_submits < INT32_MAX ? old->num_submits + 1 : INT32_MAX;
        out->metadata = old->metadata ? mb_strdup(old->metadata) : NULL;
        bool replace_meta = false;
        if (b->op == LB_BEST) {
            if (better(b, s->score, s->subscore, old)) {
                out->score = s->score;
                out->subscore = s->subscore;
                out->seq = next_seq();
                replace_meta = true;
            }
        } else if (b->op == LB_SET) {
            if (s->score != old->score || s->subscore != old->subscore) out->seq = next_seq();
            out->score = s->score;
            out->subscore = s->subscore;
            replace_meta = true;
        } else {
            int64_t a, c;
            if (__builtin_add_overflow(old->score, s->score, &a) ||
                __builtin_add_overflow(old->subscore, s->subscore, &c) || (double)a > LB_SCORE_LIMIT ||
                (double)a < -LB_SCORE_LIMIT || (double)c > LB_SCORE_LIMIT || (double)c < -LB_SCORE_LIMIT) {
                free(meta);
                free(out->metadata);
                out->metadata = NULL;
                snprintf(err, errlen, "the score would leave the range -2^53..2^53");
                return MB_ERR;
            }
            if (a != old->score || c != old->subscore) out->seq = next_seq();
            out->score = a;
            out->subscore = c;
            replace_meta = true;
        }
        if (replace_meta && meta) {
            free(out->metadata);
            out->metadata = meta;
            meta = NULL;
        }
        free(meta);
    }
    out->username = s->username ? mb_strdup(s->username) : NULL;
    return MB_OK;
}

static void vals_free(lb_record *v)
{
    free(v->username);
    free(v->metadata);
    v->username = v->metadata = NULL;
}

/* ------------------------------------------------------------ boards */

static lb_board *board_new(const lb_def *d, int period, int64_t period_start, int64_t next_reset,
                           int64_t created)
{
    lb_board *b = mb_calloc(1, sizeof *b);
    b->id = mb_strdup(d->id);
    b->desc = d->desc;
    b->op = d->op;
    if (d->reset) {
        char err[160];
        b->reset = mb_strdup(d->reset);
        if (lb_cron_parse(d->reset, &b->cron, err, sizeof err) !=
            MB_OK) { /* checked before; stored rows too */
            mb_error("leaderboard_bad_reset", "id=%s error=\"%s\"", d->id, err);
            free(b->reset);
            b->reset = NULL;
        }
    }
    b->client_submit = d->client_submit;
    b->metadata = d->metadata ? json_dumps(d->metadata, JSON_COMPACT) : mb_strdup("{}");
    b->period = period;
    b->period_start = period_start;
    b->next_reset = next_reset;
    b->created_ms = created;
    ost_init(&b->tree, cmp_records, &b->desc, mb_hash_bytes(d->id, strlen(d->id)) | 1);
    mb_smap_init(&b->owners);
    return b;
}

static void board_free(lb_board *b)
{
    if (!b) return;
    *m_records -= (double)ost_size(&b->tree);
    ost_clear(&b->tree, record_free_node, NULL);
    mb_smap_free(&b->owners);
    free(b->id);
    free(b->reset);
    free(b->metadata);
    free(b);
}

static int cmp_board_ptr(const void *a, const void *b)
{
    return strcmp((*(lb_board *const *)a)->id, (*(lb_board *const *)b)->id);
}

static void board_add(lb_board *b)
{
    mb_smap_put(&boards, b->id, b);
    sorted = mb_realloc(sorted, (n_sorted + 1) * sizeof *sorted);
    sorted[n_sorted++] = b;
    qsort(sorted, n_sorted, sizeof *sorted, cmp_board_ptr);
    *m_boards = (double)n_sorted;
}

size_t lb_board_count(void) { return n_sorted; }
lb_board *lb_board_at(size_t i) { return i < n_sorted ? sorted[i] : NULL; }

static void queue_durable(const char *section, json_t *op);

/* Close the current period in memory and start the next one. durable:
 * also queue the write (a REST reset is already written). */
static void reset_mem(lb_board *b, int64_t at, bool durable)
{
    int closed = b->period;
    int64_t started = b->period_start;
    *m_records -= (double)ost_size(&b->tree);
    ost_clear(&b->tree, record_free_node, NULL);
    mb_smap_free(&b->owners);
    mb_smap_init(&b->owners);
    b->period++;
    b->period_start = at;
    b->next_reset = b->reset ? lb_cron_next(&b->cron, at) : 0;
    if (b->next_reset < 0) b->next_reset = 0;
    mb_info("leaderboard_reset", "id=%s closed=%d period=%d next_reset=%" PRId64, b->id, closed, b->period,
            b->next_reset);
    if (durable)
        queue_durable("resets", json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "id", b->id, "closed", closed,
                                          "period", b->period, "started", (json_int_t)started, "ended",
                                          (json_int_t)at, "next_reset", (json_int_t)b->next_reset));
}

static void check_reset(lb_board *b)
{
    if (!b->next_reset) return;
    int64_t now = lb_now_ms();
    if (now >= b->next_reset) reset_mem(b, now, true);
}

lb_board *lb_board_get(const char *id)
{
    lb_board *b = id ? mb_smap_get(&boards, id) : NULL;
    if (b) check_reset(b);
    return b;
}

static void reset_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    for (size_t i = 0; i < n_sorted; i++) check_reset(sorted[i]);
}

/* ------------------------------------------------------------- views */

static json_t *iso_or_null(int64_t ms)
{
    if (!ms) return json_null();
    char t[32];
    lb_iso(ms, t);
    return json_string(t);
}

static json_t *json_text(const char *s)
{
    json_t *v = s ? json_loads(s, 0, NULL) : NULL;
    return v ? v : json_object();
}

json_t *lb_board_json(const lb_board *b)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(b->id));
    json_object_set_new(o, "sort", json_string(b->desc ? "desc" : "asc"));
    json_object_set_new(o, "operator", json_string(lb_op_name(b->op)));
    json_object_set_new(o, "reset", b->reset ? json_string(b->reset) : json_null());
    json_object_set_new(o, "client_submit", json_boolean(b->client_submit));
    json_object_set_new(o, "metadata", json_text(b->metadata));
    json_object_set_new(o, "period", json_integer(b->period));
    json_object_set_new(o, "period_start", iso_or_null(b->period_start));
    json_object_set_new(o, "next_reset", iso_or_null(b->next_reset));
    json_object_set_new(o, "total", json_integer((json_int_t)ost_size(&b->tree)));
    return o;
}

static json_t *values_json(const lb_record *r, json_int_t rank)
{
    json_t *o = json_object();
    json_object_set_new(o, "owner_id", json_string(r->owner));
    json_object_set_new(o, "username", r->username ? json_string(r->username) : json_null());
    json_object_set_new(o, "score", json_integer(r->score));
    json_object_set_new(o, "subscore", json_integer(r->subscore));
    json_object_set_new(o, "num_submits", json_integer(r->num_submits));
    json_object_set_new(o, "metadata", json_text(r->metadata));
    json_object_set_new(o, "rank", rank > 0 ? json_integer(rank) : json_null());
    json_object_set_new(o, "updated_at", iso_or_null(r->updated_ms));
    return o;
}

json_t *lb_record_json(const lb_record *r) { return values_json(r, (json_int_t)lb_rank(r) + 1); }

/* Reads write their JSON text directly (a page of 100 records is most of a read's cost, and
 * jansson objects for each record cost several times more than the text). */
typedef struct lb_text {
    char *p;
    size_t n, cap;
} lb_text;

static void t_put(lb_text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        while (t->n + n + 1 > t->cap) t->cap = t->cap ? t->cap * 2 : 4096;
        t->p = mb_realloc(t->p, t->cap);
    }
    memcpy(t->p + t->n, s, n);
    t->n += n;
    t->p[t->n] = '\0';
}

static void t_cstr(lb_text *t, const char *s) { t_put(t, s, strlen(s)); }

/* s as a JSON string (s is valid UTF-8: usernames and ids come checked) */
static void t_jstr(lb_text *t, const char *s)
{
    t_put(t, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        t_put(t, run, (size_t)(s - run));
        char esc[8];
        if (c == '"' || c == '\\') snprintf(esc, sizeof esc, "\\%c", c);
        else snprintf(esc, sizeof esc, "\\u%04x", c);
        t_cstr(t, esc);
        run = s + 1;
    }
    t_put(t, run, (size_t)(s - run));
    t_put(t, "\"", 1);
}

static void t_record(lb_text *t, const lb_record *r, size_t rank)
{
    char num[160];
    t_cstr(t, "{\"owner_id\":\"");
    t_put(t, r->owner, 36);
    t_cstr(t, "\",\"username\":");
    if (r->username) t_jstr(t, r->username);
    else t_cstr(t, "null");
    char at[32] = "";
    if (r->updated_ms) lb_iso(r->updated_ms, at);
    char rk[24] = "null"; /* 0: no rank (the record is not in the current period) */
    if (rank) snprintf(rk, sizeof rk, "%zu", rank);
    int n = snprintf(
        num, sizeof num,
        ",\"score\":%lld,\"subscore\":%lld,\"num_submits\":%d,\"rank\":%s,\"updated_at\":%s%s%s,\"metadata\":",
        (long long)r->score, (long long)r->subscore, (int)r->num_submits, rk, at[0] ? "\"" : "",
        at[0] ? at : "null", at[0] ? "\"" : "");
    t_put(t, num, (size_t)n);
    t_cstr(t, r->metadata ? r->metadata : "{}"); /* stored as compact JSON text */
    t_put(t, "}", 1);
}

/* {"leaderboard":...,"next_reset":...,"records":[ -- the caller adds records and closes */
static void t_iso(lb_text *t, int64_t ms)
{
    if (!ms) {
        t_cstr(t, "null");
        return;
    }
    char at[32];
    lb_iso(ms, at);
    t_jstr(t, at);
}

/* {"leaderboard":{...},"next_reset":... (lb_board_json's members, as text) */
static void t_board(lb_text *t, const lb_board *b)
{
    t_cstr(t, "{\"leaderboard\":{\"id\":");
    t_jstr(t, b->id);
    t_cstr(t, b->desc ? ",\"sort\":\"desc\",\"operator\":\"" : ",\"sort\":\"asc\",\"operator\":\"");
    t_cstr(t, lb_op_name(b->op));
    t_cstr(t, "\",\"reset\":");
    if (b->reset) t_jstr(t, b->reset);
    else t_cstr(t, "null");
    t_cstr(t, b->client_submit ? ",\"client_submit\":true,\"metadata\":"
                               : ",\"client_submit\":false,\"metadata\":");
    t_cstr(t, b->metadata ? b->metadata : "{}");
    char num[64];
    snprintf(num, sizeof num, ",\"period\":%d,\"period_start\":", b->period);
    t_cstr(t, num);
    t_iso(t, b->period_start);
    t_cstr(t, ",\"next_reset\":");
    t_iso(t, b->next_reset);
    snprintf(num, sizeof num, ",\"total\":%zu},\"next_reset\":", ost_size(&b->tree));
    t_cstr(t, num);
    t_iso(t, b->next_reset);
}

/* {"leaderboard":...,"next_reset":...,"records":[ -- the caller adds records and closes */
static void t_head(lb_text *t, const lb_board *b)
{
    t_board(t, b);
    t_cstr(t, ",\"records\":[");
}

/* cursor: "<score>:<subscore>:<seq>:<owner>" of the last record of a page */
static bool parse_cursor(const char *c, lb_record *key)
{
    long long s, ss;
    unsigned long long q;
    int used = 0;
    if (sscanf(c, "%lld:%lld:%llu:%n", &s, &ss, &q, &used) != 3 || used == 0) return false;
    const char *owner = c + used;
    if (strlen(owner) != 36 || !mb_uuid_valid(owner)) return false;
    memset(key, 0, sizeof *key);
    key->score = s;
    key->subscore = ss;
    key->seq = q;
    memcpy(key->owner, owner, 37);
    return true;
}

char *lb_read_top(lb_board *b, size_t limit, const char *cursor, size_t *len, char *err, size_t errlen)
{
    size_t start = 0;
    if (cursor && *cursor) {
        lb_record key;
        if (!parse_cursor(cursor, &key)) {
            snprintf(err, errlen, "cursor is not one this server returned");
            return NULL;
        }
        start = ost_rank(&b->tree, &key.node);
        ost_node *at = ost_at(&b->tree, start);
        if (at && cmp_records(at, &key.node, &b->desc) == 0) start++;
    }
    lb_text t = {0};
    t_head(&t, b);
    size_t total = ost_size(&b->tree), i;
    const lb_record *last = NULL;
    for (i = start; i < total && i - start < limit; i++) {
        last = (const lb_record *)ost_at(&b->tree, i);
        if (i > start) t_put(&t, ",", 1);
        t_record(&t, last, i + 1);
    }
    t_cstr(&t, "],\"next_cursor\":");
    if (last && i < total) {
        char c[160];
        snprintf(c, sizeof c, "\"%lld:%lld:%llu:%s\"", (long long)last->score, (long long)last->subscore,
                 (unsigned long long)last->seq, last->owner);
        t_cstr(&t, c);
    } else t_cstr(&t, "null");
    t_put(&t, "}", 1);
    *len = t.n;
    return t.p;
}

char *lb_read_around(lb_board *b, const char *owner, size_t n, size_t *len)
{
    lb_text t = {0};
    t_head(&t, b);
    lb_record *r = lb_find(b, owner);
    size_t k = 0;
    if (r) {
        k = lb_rank(r);
        size_t total = ost_size(&b->tree);
        size_t from = k > n ? k - n : 0, to = k + n < total ? k + n : total - 1;
        for (size_t i = from; i <= to; i++) {
            if (i > from) t_put(&t, ",", 1);
            t_record(&t, (const lb_record *)ost_at(&b->tree, i), i + 1);
        }
    }
    char tail[64];
    if (r) snprintf(tail, sizeof tail, "],\"owner_rank\":%zu}", k + 1);
    else snprintf(tail, sizeof tail, "],\"owner_rank\":null}");
    t_cstr(&t, tail);
    *len = t.n;
    return t.p;
}

static int cmp_rank(const void *a, const void *b)
{
    size_t x = lb_rank(*(lb_record *const *)a), y = lb_rank(*(lb_record *const *)b);
    return (x > y) - (x < y);
}

char *lb_read_owners(lb_board *b, const json_t *owners, size_t *len)
{
    size_t n = json_array_size(owners), k = 0;
    lb_record **found = mb_calloc(n ? n : 1, sizeof *found);
    for (size_t i = 0; i < n; i++) {
        const char *id = json_string_value(json_array_get(owners, i));
        char low[37];
        if (!id || !mb_uuid_valid(id)) continue;
        for (int j = 0; j < 36; j++) low[j] = (char)(id[j] >= 'A' && id[j] <= 'F' ? id[j] + 32 : id[j]);
        low[36] = '\0';
        lb_record *r = lb_find(b, low);
        bool dup = false;
        for (size_t j = 0; r && j < k; j++)
            if (found[j] == r) dup = true;
        if (r && !dup) found[k++] = r;
    }
    if (k > 1) qsort(found, k, sizeof *found, cmp_rank);
    lb_text t = {0};
    t_head(&t, b);
    for (size_t i = 0; i < k; i++) {
        if (i) t_put(&t, ",", 1);
        t_record(&t, found[i], lb_rank(found[i]) + 1);
    }
    t_cstr(&t, "]}");
    free(found);
    *len = t.n;
    return t.p;
}

/* ------------------------------------------------------- write queue */

typedef enum { Q_DURABLE, Q_REST_CREATE, Q_REST_SUBMIT, Q_REST_RESET } qkind;

typedef struct qitem {
    qkind kind;
    struct qitem *next;
    /* Q_DURABLE: the op, and the batch section it goes to */
    const char *section; /* "boards", "resets", "records" */
    json_t *op;
    /* REST */
    mb_http_req *req;
    char *board_id;
    json_t *def;   /* Q_REST_CREATE: the request body (copied) */
    lb_submit sub; /* Q_REST_SUBMIT (username and metadata owned) */
    /* computed when the batch is built */
    bool answered;       /* answered while building (404, 400, already exists) */
    lb_board *new_board; /* Q_REST_CREATE */
    lb_record vals;      /* Q_REST_SUBMIT */
    bool superseded;     /* a script submit built on vals while in flight */
    int period;          /* Q_REST_SUBMIT: the period vals belong to */
    int closed;          /* Q_REST_RESET */
} qitem;

static qitem *q_head, *q_tail;
static size_t q_len, q_script;
static qitem *inflight;    /* the batch being written */
static mb_smap overlay;    /* "board\x1fowner" -> qitem (REST submits of the batch in flight) */
static int64_t fail_until; /* no new batch before this (ms, after a failure) */

static void q_push(qitem *it)
{
    it->next = NULL;
    if (q_tail) q_tail->next = it;
    else q_head = it;
    q_tail = it;
    q_len++;
    if (it->kind == Q_DURABLE) q_script++;
    *m_queue = (double)q_len;
}

static void item_free(qitem *it)
{
    json_decref(it->op);
    json_decref(it->def);
    free(it->board_id);
    free((char *)it->sub.username);
    json_decref((json_t *)it->sub.metadata);
    vals_free(&it->vals);
    if (it->new_board) board_free(it->new_board);
    free(it);
}

static void queue_durable(const char *section, json_t *op)
{
    qitem *it = mb_calloc(1, sizeof *it);
    it->kind = Q_DURABLE;
    it->section = section;
    it->op = op;
    q_push(it);
}

static json_t *record_op(const lb_board *b, const lb_record *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "b", json_string(b->id));
    json_object_set_new(o, "p", json_integer(b->period));
    json_object_set_new(o, "o", json_string(v->owner));
    json_object_set_new(o, "u", v->username ? json_string(v->username) : json_null());
    json_object_set_new(o, "s", json_integer(v->score));
    json_object_set_new(o, "ss", json_integer(v->subscore));
    json_object_set_new(o, "n", json_integer(v->num_submits));
    json_object_set_new(o, "m", json_text(v->metadata));
    json_object_set_new(o, "q", json_integer((json_int_t)v->seq));
    json_object_set_new(o, "t", json_integer(v->updated_ms));
    return o;
}

static json_t *board_op(const lb_board *b)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:b,s:o,s:i,s:I,s:o}", "id", b->id, "sort", b->desc ? "desc" : "asc",
                     "operator", lb_op_name(b->op), "reset", b->reset ? json_string(b->reset) : json_null(),
                     "client_submit", b->client_submit, "metadata", json_text(b->metadata), "period",
                     b->period, "period_start", (json_int_t)b->period_start, "next_reset",
                     b->next_reset ? json_integer(b->next_reset) : json_null());
}

static char *overlay_key(const char *board, const char *owner)
{
    return mb_sprintf("%s\x1f%s", board, owner);
}

static void batch_done(void *ud, const mb_db_result *res);

static void answer_unavailable(qitem *it)
{
    if (!it->answered && it->req) mb_http_error(it->req, MB_E_UNAVAILABLE, "database unavailable, try again");
    it->answered = true;
}

/* Send the next batch: everything queued (up to a bound), as one call of
 * leaderboard_write(). REST items are computed here, against memory as it
 * is after every earlier write applied. */
static void flush(void)
{
    if (inflight || !q_head) return;
    if (!mb_db_available() || mb_wall_ms() < fail_until) {
        /* REST callers do not wait for the database to come back */
        qitem **pp = &q_head, *it;
        while ((it = *pp)) {
            if (it->kind != Q_DURABLE && !mb_db_available()) {
                *pp = it->next;
                answer_unavailable(it);
                item_free(it);
                q_len--;
                continue;
            }
            pp = &it->next;
        }
        q_tail = NULL;
        for (it = q_head; it; it = it->next) q_tail = it;
        *m_queue = (double)q_len;
        if (q_head && !ev_is_active(&retry_w)) ev_timer_again(mb_loop(), &retry_w);
        return;
    }
    json_t *sec_boards = json_array(), *sec_resets = json_array(), *sec_records = json_array();
    mb_smap dedupe; /* "board\x1fperiod\x1fowner" -> index + 1 in sec_records */
    mb_smap_init(&dedupe);
    mb_smap pending_boards; /* REST creates of this batch */
    mb_smap_init(&pending_boards);
    qitem *batch = NULL, **tail = &batch;
    size_t n = 0;
    while (q_head && n < 5000) {
        qitem *it = q_head;
        q_head = it->next;
        if (!q_head) q_tail = NULL;
        q_len--;
        if (it->kind == Q_DURABLE) q_script--;
        it->next = NULL;
        *tail = it;
        tail = &it->next;
        n++;
        json_t *rec = NULL;
        const char *rec_board = NULL;
        int rec_period = 0;
        if (it->kind == Q_DURABLE) {
            if (strcmp(it->section, "records") == 0) {
                rec = it->op;
                rec_board = json_string_value(json_object_get(rec, "b"));
                rec_period = (int)json_integer_value(json_object_get(rec, "p"));
            } else json_array_append(strcmp(it->section, "boards") == 0 ? sec_boards : sec_resets, it->op);
        } else if (it->kind == Q_REST_CREATE) {
            const char *id = json_string_value(json_object_get(it->def, "id"));
            if (mb_smap_get(&boards, id) || mb_smap_get(&pending_boards, id))
                continue; /* answered at commit */
            const json_t *reset = json_object_get(it->def, "reset");
            lb_def d = {
                .id = id,
                .desc = !json_is_string(json_object_get(it->def, "sort")) ||
                        strcmp(json_string_value(json_object_get(it->def, "sort")), "asc") != 0,
                .op = json_is_string(json_object_get(it->def, "operator"))
                          ? (lb_operator)lb_op_parse(json_string_value(json_object_get(it->def, "operator")))
                          : LB_BEST,
                .reset = json_is_string(reset) ? json_string_value(reset) : NULL,
                .client_submit = json_is_true(json_object_get(it->def, "client_submit")),
                .metadata = json_object_get(it->def, "metadata")};
            int64_t now = lb_now_ms();
            it->new_board = board_new(&d, 1, now, 0, now);
            if (it->new_board->reset) {
                int64_t nx = lb_cron_next(&it->new_board->cron, now);
                it->new_board->next_reset = nx > 0 ? nx : 0;
            }
            mb_smap_put(&pending_boards, id, it->new_board);
            json_array_append_new(sec_boards, board_op(it->new_board));
        } else if (it->kind == Q_REST_SUBMIT) {
            lb_board *b = lb_board_get(it->board_id);
            if (!b) {
                mb_http_error(it->req, MB_E_NOT_FOUND, "no leaderboard '%s'", it->board_id);
                it->answered = true;
                continue;
            }
            char *key = overlay_key(b->id, it->sub.owner);
            qitem *prev = mb_smap_get(&overlay, key);
            if (prev && prev->period != b->period) prev = NULL; /* a reset came in between */
            const lb_record *old = prev ? &prev->vals : lb_find(b, it->sub.owner);
            it->period = b->period;
            char err[128];
            if (compute(b, old, &it->sub, &it->vals, err, sizeof err) != MB_OK) {
                mb_http_error(it->req, MB_E_BAD_REQUEST, "%s", err);
                it->answered = true;
                free(key);
                continue;
            }
            if (!it->vals.username && old && old->username) it->vals.username = mb_strdup(old->username);
            mb_smap_put(&overlay, key, it);
            free(key);
            rec = record_op(b, &it->vals);
            rec_board = b->id;
            rec_period = b->period;
        } else { /* Q_REST_RESET */
            lb_board *b = lb_board_get(it->board_id);
            if (!b) {
                mb_http_error(it->req, MB_E_NOT_FOUND, "no leaderboard '%s'", it->board_id);
                it->answered = true;
                continue;
            }
            int64_t now = lb_now_ms();
            int64_t nx = b->reset ? lb_cron_next(&b->cron, now) : 0;
            it->closed = b->period;
            json_array_append_new(sec_resets, json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "id", b->id, "closed",
                                                        b->period, "period", b->period + 1, "started",
                                                        (json_int_t)b->period_start, "ended", (json_int_t)now,
                                                        "next_reset", (json_int_t)(nx > 0 ? nx : 0)));
            break; /* later writes are computed once the reset applied */
        }
        if (rec) {
            char *dk = mb_sprintf("%s\x1f%d\x1f%s", rec_board, rec_period,
                                  json_string_value(json_object_get(rec, "o")));
            uintptr_t at = (uintptr_t)mb_smap_get(&dedupe, dk);
            if (at) json_array_set(sec_records, at - 1, rec);
            else {
                json_array_append(sec_records, rec);
                mb_smap_put(&dedupe, dk, (void *)(uintptr_t)json_array_size(sec_records));
            }
            free(dk);
            if (it->kind == Q_REST_SUBMIT) json_decref(rec);
        }
    }
    mb_smap_free(&dedupe);
    mb_smap_free(&pending_boards);
    *m_queue = (double)q_len;
    inflight = batch;
    json_t *ops =
        json_pack("{s:o,s:o,s:o}", "boards", sec_boards, "resets", sec_resets, "records", sec_records);
    char *text = json_dumps(ops, JSON_COMPACT);
    json_decref(ops);
    const char *p[] = {text};
    *m_batches += 1;
    *m_batch_ops += (double)n;
    batch_sent_us = mb_now_us();
    mb_db_query("SELECT leaderboard_write($1::jsonb)", 1, p, batch_done, batch);
    free(text);
}

static void batch_done(void *ud, const mb_db_result *res)
{
    qitem *batch = ud, *it, *next;
    inflight = NULL;
    *m_batch_s += (double)(mb_now_us() - batch_sent_us) / 1e6;
    if (!res->ok) {
        char m[256];
        mb_warn("leaderboard_batch_failed", "sqlstate=%s error=%s", res->sqlstate ? res->sqlstate : "",
                mb_log_quote(m, sizeof m, res->message ? res->message : ""));
        *m_batch_fail += 1;
        fail_until = mb_wall_ms() + 250;
        /* REST writes fail; script writes go back to the head, in order */
        qitem *keep = NULL, **kt = &keep;
        size_t kept = 0;
        for (it = batch; it; it = next) {
            next = it->next;
            if (it->kind == Q_DURABLE && res->code != MB_E_UNAVAILABLE) {
                /* not retryable (an SQL error): retrying would fail forever */
                char *op = json_dumps(it->op, JSON_COMPACT);
                char m2[512];
                mb_error("leaderboard_write_dropped", "section=%s op=%s", it->section,
                         mb_log_quote(m2, sizeof m2, op ? op : ""));
                free(op);
                item_free(it);
            } else if (it->kind == Q_DURABLE) {
                it->next = NULL;
                *kt = it;
                kt = &it->next;
                kept++;
            } else {
                if (res->code == MB_E_UNAVAILABLE) answer_unavailable(it);
                else if (!it->answered) mb_http_db_error(it->req, res, NULL);
                it->answered = true;
                item_free(it);
            }
        }
        if (keep) {
            *kt = q_head;
            if (!q_head) {
                q_tail = keep;
                while (q_tail->next) q_tail = q_tail->next;
            }
            q_head = keep;
            q_len += kept;
            q_script += kept;
        }
        mb_smap_free(&overlay);
        mb_smap_init(&overlay);
        *m_queue = (double)q_len;
        if (q_head && !ev_is_active(&retry_w)) ev_timer_again(mb_loop(), &retry_w);
        return;
    }
    for (it = batch; it; it = next) {
        next = it->next;
        if (it->answered || it->kind == Q_DURABLE) {
            item_free(it);
            continue;
        }
        if (it->kind == Q_REST_CREATE) {
            const char *id = json_string_value(json_object_get(it->def, "id"));
            lb_board *b = mb_smap_get(&boards, id);
            int status = 200;
            if (!b && it->new_board) {
                b = it->new_board;
                it->new_board = NULL;
                board_add(b);
                status = 201;
                mb_info("leaderboard_created", "id=%s by=rest", b->id);
            }
            json_t *o = json_object();
            json_object_set_new(o, "created", json_boolean(status == 201));
            json_object_set_new(o, "leaderboard", b ? lb_board_json(b) : json_null());
            mb_http_respond(it->req, b ? status : 500, o);
        } else if (it->kind == Q_REST_SUBMIT) {
            lb_board *b = mb_smap_get(&boards, it->board_id);
            if (!b) mb_http_error(it->req, MB_E_NOT_FOUND, "no leaderboard '%s'", it->board_id);
            else {
                /* not when a script submit built on it (or on a later REST submit of the
                 * same record) while in flight: memory already has the newer value; nor
                 * when the period it was written for has closed meanwhile */
                char *key = overlay_key(b->id, it->vals.owner);
                qitem *latest = mb_smap_get(&overlay, key);
                free(key);
                bool skip = it->superseded || (latest && latest->superseded) || it->period != b->period;
                lb_record *r = skip ? lb_find(b, it->vals.owner) : apply(b, &it->vals);
                lb_text t = {0};
                t_board(&t, b);
                t_cstr(&t, ",\"record\":");
                t_record(&t, &it->vals, r ? lb_rank(r) + 1 : 0);
                t_put(&t, "}", 1);
                mb_http_respond_json(it->req, 200, t.p, t.n);
                free(t.p);
            }
        } else {
            lb_board *b = mb_smap_get(&boards, it->board_id);
            if (b && b->period == it->closed) reset_mem(b, lb_now_ms(), false);
            if (!b) mb_http_error(it->req, MB_E_NOT_FOUND, "no leaderboard '%s'", it->board_id);
            else {
                json_t *o = json_object();
                json_object_set_new(o, "closed_period", json_integer(it->closed));
                json_object_set_new(o, "leaderboard", lb_board_json(b));
                mb_http_respond(it->req, 200, o);
            }
        }
        item_free(it);
    }
    mb_smap_free(&overlay);
    mb_smap_init(&overlay);
    if (q_head) flush();
}

static void retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    flush();
    if (!q_head || inflight) ev_timer_stop(loop, w);
}

/* ------------------------------------------------------ script writes */

mb_status lb_create_now(const lb_def *d, lb_board **out, bool *created, char *err, size_t errlen)
{
    *created = false;
    lb_board *b = lb_board_get(d->id);
    if (b) {
        *out = b;
        return MB_OK;
    }
    if (n_sorted >= LB_MAX_BOARDS) {
        snprintf(err, errlen, "at most %d leaderboards", LB_MAX_BOARDS);
        return MB_ERR;
    }
    /* no database check: a create at start-up (server.lua's top level) comes before the pool is
     * up; the queued write waits for it */
    int64_t now = lb_now_ms();
    b = board_new(d, 1, now, 0, now);
    if (b->reset) {
        int64_t nx = lb_cron_next(&b->cron, now);
        b->next_reset = nx > 0 ? nx : 0;
    }
    board_add(b);
    queue_durable("boards", board_op(b));
    mb_info("leaderboard_created", "id=%s by=script", b->id);
    *out = b;
    *created = true;
    return MB_OK;
}

mb_status lb_submit_now(lb_board *b, const lb_submit *s, lb_record **out, char *err, size_t errlen)
{
    if (!mb_db_available()) {
        snprintf(err, errlen, "unavailable");
        return MB_ERR;
    }
    if (q_script >= LB_QUEUE_MAX) {
        snprintf(err, errlen, "busy");
        return MB_ERR;
    }
    char *key = overlay_key(b->id, s->owner);
    qitem *prev = mb_smap_get(&overlay, key);
    free(key);
    if (prev && prev->period != b->period) prev = NULL; /* in flight for the period before a reset */
    lb_record *cur = lb_find(b, s->owner);
    const lb_record *old = prev && !prev->superseded ? &prev->vals : cur;
    lb_record v;
    if (compute(b, old, s, &v, err, errlen) != MB_OK) return MB_ERR;
    if (!v.username && old && old->username) v.username = mb_strdup(old->username);
    if (prev) prev->superseded = true;
    *out = apply(b, &v);
    queue_durable("records", record_op(b, &v));
    vals_free(&v);
    return MB_OK;
}

/* -------------------------------------------------------- REST writes */

static qitem *rest_item(mb_http_req *req, qkind kind, const char *board_id)
{
    if (!mb_db_available()) {
        mb_http_error(req, MB_E_UNAVAILABLE, "database unavailable, try again");
        return NULL;
    }
    qitem *it = mb_calloc(1, sizeof *it);
    it->kind = kind;
    it->req = req;
    it->board_id = board_id ? mb_strdup(board_id) : NULL;
    return it;
}

void lb_create_rest(mb_http_req *req, const lb_def *d)
{
    (void)d;
    qitem *it = rest_item(req, Q_REST_CREATE, NULL);
    if (!it) return;
    it->def = json_deep_copy(mb_http_body(req));
    q_push(it);
}

void lb_submit_rest(mb_http_req *req, const char *board_id, const lb_submit *s)
{
    qitem *it = rest_item(req, Q_REST_SUBMIT, board_id);
    if (!it) return;
    it->sub = *s;
    it->sub.username = s->username ? mb_strdup(s->username) : NULL;
    it->sub.metadata = s->metadata ? json_deep_copy(s->metadata) : NULL;
    q_push(it);
}

void lb_reset_rest(mb_http_req *req, const char *board_id)
{
    qitem *it = rest_item(req, Q_REST_RESET, board_id);
    if (it) q_push(it);
}

/* ---------------------------------------------------------- archive */

typedef struct arch_ctx {
    mb_http_req *req;
    json_t *board;
    int period;
} arch_ctx;

static void archive_done(void *ud, const mb_db_result *res)
{
    arch_ctx *c = ud;
    if (!res->ok) {
        mb_http_db_error(c->req, res, NULL);
        json_decref(c->board);
        free(c);
        return;
    }
    json_t *arr = json_array();
    int n = PQntuples(res->res);
    json_t *period = NULL;
    for (int i = 0; i < n; i++) {
        PGresult *p = res->res;
        if (!period && !PQgetisnull(p, i, 9))
            period = json_pack("{s:i,s:s,s:s}", "period", c->period, "started_at", PQgetvalue(p, i, 9),
                               "ended_at", PQgetvalue(p, i, 10));
        if (PQgetisnull(p, i, 0)) continue; /* the period row alone */
        json_t *meta = json_loads(PQgetvalue(p, i, 6), 0, NULL);
        json_array_append_new(
            arr,
            json_pack("{s:s,s:o,s:I,s:I,s:I,s:o,s:I,s:s}", "owner_id", PQgetvalue(p, i, 0), "username",
                      PQgetisnull(p, i, 1) ? json_null() : json_string(PQgetvalue(p, i, 1)), "score",
                      (json_int_t)strtoll(PQgetvalue(p, i, 2), NULL, 10), "subscore",
                      (json_int_t)strtoll(PQgetvalue(p, i, 3), NULL, 10), "num_submits",
                      (json_int_t)strtoll(PQgetvalue(p, i, 4), NULL, 10), "metadata",
                      meta ? meta : json_object(), "rank", (json_int_t)strtoll(PQgetvalue(p, i, 5), NULL, 10),
                      "updated_at", PQgetvalue(p, i, 7)));
    }
    if (!period) {
        mb_http_error(c->req, MB_E_NOT_FOUND,
                      "period %d of this leaderboard is not closed (or does not exist)", c->period);
        json_decref(arr);
        json_decref(c->board);
        free(c);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "leaderboard", c->board);
    json_object_set_new(o, "next_reset", json_incref(json_object_get(c->board, "next_reset")));
    json_object_set_new(o, "archive", period);
    json_object_set_new(o, "records", arr);
    mb_http_respond(c->req, 200, o);
    free(c);
}

void lb_read_archive(mb_http_req *req, lb_board *b, int period, size_t limit, size_t offset)
{
    arch_ctx *c = mb_calloc(1, sizeof *c);
    c->req = req;
    c->board = lb_board_json(b);
    c->period = period;
    char ps[16], ls[24], os[24];
    snprintf(ps, sizeof ps, "%d", period);
    snprintf(ls, sizeof ls, "%zu", limit);
    snprintf(os, sizeof os, "%zu", offset);
    const char *p[] = {b->id, ps, ls, os, b->desc ? "1" : "0"};
    /* The period row joined with its page of records, ranked in SQL by the board's order. */
    mb_db_query(
        "SELECT r.owner_id::text, r.username, r.score, r.subscore, r.num_submits, r.rank, r.metadata::text,"
        " to_char(r.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 0,"
        " to_char(lp.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
        " to_char(lp.ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        " FROM leaderboard_periods lp LEFT JOIN LATERAL ("
        "  SELECT x.*, row_number() OVER (ORDER BY"
        "   CASE WHEN $5 = '1' THEN -x.score ELSE x.score END,"
        "   CASE WHEN $5 = '1' THEN -x.subscore ELSE x.subscore END, x.seq, x.owner_id) AS rank"
        "  FROM leaderboard_records x WHERE x.leaderboard_id = lp.leaderboard_id AND x.period = lp.period"
        "  ORDER BY rank OFFSET $4::bigint LIMIT $3::bigint) r ON true"
        " WHERE lp.leaderboard_id = $1 AND lp.period = $2::integer ORDER BY r.rank",
        5, p, archive_done, c);
}

/* ----------------------------------------------------------- start-up */

static int64_t ms_of(const char *s) { return s && *s ? strtoll(s, NULL, 10) : 0; }

/* Blocking, before the loop serves (like the migrations): every board and
 * the records of its current period, streamed row by row. */
static mb_status load(void)
{
    const char *keys[] = {"dbname", "connect_timeout", "application_name", NULL};
    const char *vals[] = {mb_cfg()->database_url, "10", "moonbase-leaderboards", NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    char m[512];
    if (PQstatus(pg) != CONNECTION_OK) {
        mb_error("leaderboard_load_failed", "error=%s", mb_log_quote(m, sizeof m, PQerrorMessage(pg)));
        PQfinish(pg);
        return MB_ERR;
    }
    PGresult *res = PQexec(pg, "SELECT id, sort, operator, reset, client_submit, metadata::text, period,"
                               " (extract(epoch FROM period_start) * 1000)::bigint,"
                               " (extract(epoch FROM next_reset) * 1000)::bigint,"
                               " (extract(epoch FROM created_at) * 1000)::bigint FROM leaderboards");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        mb_error("leaderboard_load_failed", "error=%s", mb_log_quote(m, sizeof m, PQresultErrorMessage(res)));
        PQclear(res);
        PQfinish(pg);
        return MB_ERR;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *meta = json_loads(PQgetvalue(res, i, 5), 0, NULL);
        lb_def d = {.id = PQgetvalue(res, i, 0),
                    .desc = strcmp(PQgetvalue(res, i, 1), "desc") == 0,
                    .op = (lb_operator)(lb_op_parse(PQgetvalue(res, i, 2)) < 0
                                            ? 0
                                            : lb_op_parse(PQgetvalue(res, i, 2))),
                    .reset = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3),
                    .client_submit = PQgetvalue(res, i, 4)[0] == 't',
                    .metadata = meta};
        board_add(board_new(&d, atoi(PQgetvalue(res, i, 6)), ms_of(PQgetvalue(res, i, 7)),
                            ms_of(PQgetvalue(res, i, 8)), ms_of(PQgetvalue(res, i, 9))));
        json_decref(meta);
    }
    PQclear(res);
    int64_t t0 = mb_now_ms();
    size_t loaded = 0;
    if (!PQsendQuery(
            pg, "SELECT r.leaderboard_id, r.owner_id::text, r.username, r.score, r.subscore,"
                " r.num_submits, r.metadata::text, r.seq, (extract(epoch FROM r.updated_at) * 1000)::bigint"
                " FROM leaderboard_records r JOIN leaderboards b"
                " ON b.id = r.leaderboard_id AND b.period = r.period") ||
        !PQsetSingleRowMode(pg)) {
        mb_error("leaderboard_load_failed", "error=%s", mb_log_quote(m, sizeof m, PQerrorMessage(pg)));
        PQfinish(pg);
        return MB_ERR;
    }
    mb_status st = MB_OK;
    while ((res = PQgetResult(pg))) {
        ExecStatusType es = PQresultStatus(res);
        if (es == PGRES_SINGLE_TUPLE) {
            lb_board *b = mb_smap_get(&boards, PQgetvalue(res, 0, 0));
            if (b) {
                lb_record v;
                memset(&v, 0, sizeof v);
                snprintf(v.owner, sizeof v.owner, "%s", PQgetvalue(res, 0, 1));
                v.username = PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2);
                v.score = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
                v.subscore = strtoll(PQgetvalue(res, 0, 4), NULL, 10);
                v.num_submits = atoi(PQgetvalue(res, 0, 5));
                const char *meta = PQgetvalue(res, 0, 6);
                v.metadata = strcmp(meta, "{}") == 0 ? NULL : (char *)meta;
                v.seq = strtoull(PQgetvalue(res, 0, 7), NULL, 10);
                v.updated_ms = ms_of(PQgetvalue(res, 0, 8));
                apply(b, &v);
                if (v.seq > last_seq) last_seq = v.seq;
                loaded++;
            }
        } else if (es != PGRES_TUPLES_OK) {
            mb_error("leaderboard_load_failed", "error=%s",
                     mb_log_quote(m, sizeof m, PQresultErrorMessage(res)));
            st = MB_ERR;
        }
        PQclear(res);
    }
    PQfinish(pg);
    mb_info("leaderboards_loaded", "boards=%zu records=%zu ms=%" PRId64, n_sorted, loaded, mb_now_ms() - t0);
    return st;
}

/* ------------------------------------------------------------- module */

mb_status lb_init(void)
{
    mb_smap_init(&boards);
    mb_smap_init(&overlay);
    m_boards = mb_metric("moonbase_leaderboards", "", MB_GAUGE, "leaderboards in memory");
    m_records =
        mb_metric("moonbase_leaderboard_records", "", MB_GAUGE, "records of current periods in memory");
    m_queue =
        mb_metric("moonbase_leaderboard_queue", "", MB_GAUGE, "leaderboard writes waiting for PostgreSQL");
    m_batches =
        mb_metric("moonbase_leaderboard_batches_total", "", MB_COUNTER, "leaderboard write batches sent");
    m_batch_ops = mb_metric("moonbase_leaderboard_batch_ops_total", "", MB_COUNTER, "writes sent in batches");
    m_batch_s = mb_metric("moonbase_leaderboard_batch_seconds_total", "", MB_COUNTER,
                          "time from sending a batch to its result (sum)");
    m_batch_fail = mb_metric("moonbase_leaderboard_batch_failures_total", "", MB_COUNTER,
                             "leaderboard batches that did not commit");
    ev_init(&retry_w, retry_cb);
    retry_w.repeat = 0.25;
    ev_timer_init(&reset_w, reset_cb, 1.0, 1.0);
    ev_timer_start(mb_loop(), &reset_w);
    return load();
}

void lb_before_sleep(void) { flush(); }

void lb_shutdown(void) { flush(); }

void lb_destroy(void)
{
    ev_timer_stop(mb_loop(), &reset_w);
    ev_timer_stop(mb_loop(), &retry_w);
    if (q_script)
        mb_error("leaderboard_writes_lost", "writes=%zu note=\"script writes not yet in PostgreSQL\"",
                 q_script);
    qitem *it, *next;
    for (it = q_head; it; it = next) {
        next = it->next;
        item_free(it);
    }
    q_head = q_tail = NULL;
    q_len = q_script = 0;
    mb_smap_free(&overlay);
    for (size_t i = 0; i < n_sorted; i++) board_free(sorted[i]);
    free(sorted);
    sorted = NULL;
    n_sorted = 0;
    mb_smap_free(&boards);
}
