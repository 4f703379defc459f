/* metrics.c - metric table and Prometheus rendering (see metrics.h). */
#include "metrics.h"
#include "mb.h"
#include "map.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct metric {
    char *name, *labels, *help;
    mb_metric_kind kind;
    double *value;
} metric;

typedef struct table_gauge {
    const char *name;
    const mb_smap *sm;
    const mb_imap *im;
    size_t (*count)(void);
} table_gauge;
static table_gauge *tables;
static size_t n_tables;

static void table_add(const char *name, const mb_smap *sm, const mb_imap *im, size_t (*count)(void))
{
    size_t i = 0;
    while (i < n_tables && strcmp(tables[i].name, name) != 0) i++;
    if (i == n_tables) tables = mb_realloc(tables, ++n_tables * sizeof *tables);
    tables[i] = (table_gauge){name, sm, im, count};
}
void mb_metric_table_smap(const char *name, const mb_smap *m) { table_add(name, m, NULL, NULL); }
void mb_metric_table_imap(const char *name, const mb_imap *m) { table_add(name, NULL, m, NULL); }
void mb_metric_table_count(const char *name, size_t (*count)(void)) { table_add(name, NULL, NULL, count); }

static metric *table;
static size_t n_metrics, cap_metrics;
static mb_histogram **hists;
static unsigned epoch;

unsigned mb_metrics_epoch(void) { return epoch; }
static size_t n_hists;

double *mb_metric(const char *name, const char *labels, mb_metric_kind kind, const char *help)
{
    for (size_t i = 0; i < n_metrics; i++)
        if (strcmp(table[i].name, name) == 0 && strcmp(table[i].labels, labels) == 0) return table[i].value;
    if (n_metrics == cap_metrics) {
        cap_metrics = cap_metrics ? cap_metrics * 2 : 64;
        table = mb_realloc(table, cap_metrics * sizeof *table);
    }
    metric *m = &table[n_metrics++];
    m->name = mb_strdup(name);
    m->labels = mb_strdup(labels);
    m->help = mb_strdup(help ? help : name);
    m->kind = kind;
    m->value = mb_calloc(1, sizeof(double)); /* separate allocation: stable */
    return m->value;
}

typedef struct sbuf {
    char *s;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)(n > 0 ? n : 64);
        b->s = mb_realloc(b->s, b->cap);
    }
}

char *mb_metrics_render(void)
{
    sbuf b = {mb_malloc(4096), 0, 4096};
    b.s[0] = '\0';
    for (size_t i = 0; i < n_metrics; i++) {
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (strcmp(table[j].name, table[i].name) == 0) first = false;
        if (!first) continue;
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", table[i].name, table[i].help, table[i].name,
                  table[i].kind == MB_COUNTER ? "counter" : "gauge");
        for (size_t j = i; j < n_metrics; j++) {
            if (strcmp(table[j].name, table[i].name) != 0) continue;
            if (*table[j].labels)
                sb_printf(&b, "%s{%s} %.17g\n", table[j].name, table[j].labels, *table[j].value);
            else sb_printf(&b, "%s %.17g\n", table[j].name, *table[j].value);
        }
    }
    for (int pass = 0; n_tables && pass < 2; pass++) {
        const char *name = pass ? "moonbase_table_slots" : "moonbase_table_entries";
        sb_printf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name,
                  pass ? "slots allocated by an in-memory table" : "entries in an in-memory table", name);
        for (size_t i = 0; i < n_tables; i++) {
            const table_gauge *t = &tables[i];
            size_t n = t->sm   ? (pass ? t->sm->cap : t->sm->count)
                       : t->im ? (pass ? t->im->cap : t->im->count)
                               : (pass ? 0 : t->count());
            sb_printf(&b, "%s{table=\"%s\"} %zu\n", name, t->name, n);
        }
    }
    for (size_t i = 0; i < n_hists; i++) {
        mb_histogram *h = hists[i];
        sb_printf(&b, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
        uint64_t cum = 0;
        for (size_t k = 0; k < h->nbounds; k++) {
            cum += h->buckets[k];
            sb_printf(&b, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->bounds[k], (unsigned long long)cum);
        }
        cum += h->buckets[h->nbounds];
        sb_printf(&b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", h->name,
                  (unsigned long long)cum, h->name, h->sum, h->name, (unsigned long long)h->count);
    }
    return b.s;
}

mb_histogram *mb_histogram_new(const char *name, const char *help, const double *bounds, size_t n)
{
    mb_histogram *h = mb_calloc(1, sizeof *h);
    h->name = name;
    h->help = help;
    h->bounds = bounds;
    h->nbounds = n;
    h->buckets = mb_calloc(n + 1, sizeof *h->buckets);
    hists = mb_realloc(hists, (n_hists + 1) * sizeof *hists);
    hists[n_hists++] = h;
    return h;
}

void mb_histogram_observe(mb_histogram *h, double v)
{
    size_t k = 0;
    while (k < h->nbounds && v > h->bounds[k]) k++;
    h->buckets[k]++;
    h->sum += v;
    h->count++;
}

double mb_histogram_quantile(const mb_histogram *h, double q)
{
    if (!h->count) return 0;
    uint64_t target = (uint64_t)(q * (double)h->count);
    if (target >= h->count) target = h->count - 1;
    uint64_t cum = 0;
    for (size_t k = 0; k <= h->nbounds; k++) {
        cum += h->buckets[k];
        if (cum > target) return k < h->nbounds ? h->bounds[k] : h->bounds[h->nbounds - 1];
    }
    return h->bounds[h->nbounds - 1];
}

void mb_metrics_destroy(void)
{
    epoch++;
    for (size_t i = 0; i < n_metrics; i++) {
        free(table[i].name);
        free(table[i].labels);
        free(table[i].help);
        free(table[i].value);
    }
    free(table);
    table = NULL;
    n_metrics = cap_metrics = 0;
    for (size_t i = 0; i < n_hists; i++) {
        free(hists[i]->buckets);
        free(hists[i]);
    }
    free(hists);
    hists = NULL;
    n_hists = 0;
    free(tables);
    tables = NULL;
    n_tables = 0;
}
