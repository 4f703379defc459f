/*
 * script_errors.c - the last runtime errors of each mode's match scripts,
 * for the console (GET /v1/admin/scripts/errors): a bounded ring per mode
 * of MATCH_SCRIPT_ERRORS_MAX entries, oldest dropped first, in memory only
 * (a restart clears it; the server log keeps every error).
 *
 * Recorded by match_fail() (any callback of a running match: error, time
 * or memory budget) and by a failed init (POST /v1/matches -> 500).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

typedef struct script_error {
    char match_id[40];
    int version;
    uint64_t tick;
    int64_t at;      /* wall ms */
    char *message;   /* first line */
    char *location;  /* "path/file.lua:line" or NULL */
    char *traceback; /* the lines after the first, or NULL */
} script_error;

typedef struct error_ring {
    script_error items[MATCH_SCRIPT_ERRORS_MAX];
    size_t next;  /* slot of the next entry */
    size_t count; /* entries held (<= MAX) */
    uint64_t total;
} error_ring;

static mb_smap rings; /* mode -> error_ring */
static bool rings_ready;

static void entry_clear(script_error *e)
{
    free(e->message);
    free(e->location);
    free(e->traceback);
    memset(e, 0, sizeof *e);
}

/* "…/modes/x.lua:12" inside msg, or NULL: the first "<non-space>.lua:<digits>". */
static char *find_location(const char *msg, size_t len)
{
    for (const char *p = msg; p + 5 <= msg + len; p++) {
        if (strncmp(p, ".lua:", 5) != 0) continue;
        const char *d = p + 5, *e = d;
        while (e < msg + len && *e >= '0' && *e <= '9') e++;
        if (e == d) continue;
        const char *s = p;
        while (s > msg && s[-1] != ' ' && s[-1] != '\t' && s[-1] != '"' && s[-1] != '\'') s--;
        return mb_strndup(s, (size_t)(e - s));
    }
    return NULL;
}

void match_script_error_record(const char *mode, int version, const char *match_id, uint64_t tick,
                               const char *msg)
{
    if (!rings_ready) {
        mb_smap_init(&rings);
        rings_ready = true;
    }
    error_ring *r = mb_smap_get(&rings, mode);
    if (!r) {
        r = mb_calloc(1, sizeof *r);
        mb_smap_put(&rings, mode, r);
    }
    script_error *e = &r->items[r->next];
    entry_clear(e);
    r->next = (r->next + 1) % MATCH_SCRIPT_ERRORS_MAX;
    if (r->count < MATCH_SCRIPT_ERRORS_MAX) r->count++;
    r->total++;
    snprintf(e->match_id, sizeof e->match_id, "%s", match_id ? match_id : "");
    e->version = version;
    e->tick = tick;
    e->at = mb_wall_ms();
    if (!msg) msg = "(no message)";
    size_t first = strcspn(msg, "\n");
    e->message = mb_strndup(msg, first);
    e->location = find_location(msg, first);
    if (msg[first] == '\n' && msg[first + 1]) e->traceback = mb_strdup(msg + first + 1);
}

static json_t *ring_json(const char *mode, const error_ring *r, size_t limit)
{
    json_t *arr = json_array();
    size_t n = r ? r->count : 0;
    for (size_t i = 0; i < n && i < limit; i++) {
        /* newest first */
        const script_error *e =
            &r->items[(r->next + MATCH_SCRIPT_ERRORS_MAX - 1 - i) % MATCH_SCRIPT_ERRORS_MAX];
        json_array_append_new(
            arr, json_pack("{s:s,s:i,s:I,s:I,s:s,s:o,s:o}", "match_id", e->match_id, "script_version",
                           e->version, "tick", (json_int_t)e->tick, "at", (json_int_t)e->at, "message",
                           e->message, "location", e->location ? json_string(e->location) : json_null(),
                           "traceback", e->traceback ? json_string(e->traceback) : json_null()));
    }
    return json_pack("{s:s,s:I,s:o}", "mode", mode, "total", (json_int_t)(r ? r->total : 0), "errors", arr);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *match_script_errors_json(const char *mode, size_t limit)
{
    json_t *modes = json_array();
    if (mode) {
        json_array_append_new(modes, ring_json(mode, rings_ready ? mb_smap_get(&rings, mode) : NULL, limit));
    } else if (rings_ready) {
        /* every mode with errors, by name */
        size_t it = 0, n = 0;
        const char *k;
        void *v;
        const char **names = mb_malloc((rings.count + 1) * sizeof *names);
        while (mb_smap_next(&rings, &it, &k, &v)) names[n++] = k;
        qsort(names, n, sizeof *names, cmp_name);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(modes, ring_json(names[i], mb_smap_get(&rings, names[i]), limit));
        free(names);
    }
    return json_pack("{s:i,s:o}", "capacity", MATCH_SCRIPT_ERRORS_MAX, "modes", modes);
}

void match_script_errors_destroy(void)
{
    if (!rings_ready) return;
    size_t it = 0;
    void *v;
    while (mb_smap_next(&rings, &it, NULL, &v)) {
        error_ring *r = v;
        for (size_t i = 0; i < MATCH_SCRIPT_ERRORS_MAX; i++) entry_clear(&r->items[i]);
        free(r);
    }
    mb_smap_free(&rings);
    rings_ready = false;
}
