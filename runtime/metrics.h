/*
 * metrics.h - Prometheus counters and gauges kept by the loop thread.
 *
 * A metric is a (name, labels) pair registered once; callers keep the
 * returned pointer and bump it (no lookups on the hot path). Rendering
 * walks the table and prints the Prometheus text format.
 */
#ifndef MB_METRICS_H
#define MB_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MB_COUNTER, MB_GAUGE } mb_metric_kind;

/* Returns a stable pointer to the value of metric name{labels}.
 * labels is the text inside the braces (e.g. "type=\"chat.send\"") or "". */
double *mb_metric(const char *name, const char *labels, mb_metric_kind kind, const char *help);
/* Prometheus text of every registered metric; malloc'd. */
char *mb_metrics_render(void);
/* Changes whenever mb_metrics_destroy() dropped every metric (cached
 * pointers from before are invalid then). */
unsigned mb_metrics_epoch(void);
void mb_metrics_destroy(void);

/* In-memory tables keyed by player, session, token, address...: each
 * registered one is rendered as two gauges, moonbase_table_entries{table=
 * "NAME"} (live entries) and moonbase_table_slots{table="NAME"} (slots
 * allocated; 0 for a count-only table), so a table that only grows shows
 * in /metrics and in tests/integration/memory_bounds.test.js. The map must
 * outlive the registration (static storage); registering a name again
 * replaces it. Dropped by mb_metrics_destroy(). */
struct mb_smap;
struct mb_imap;
void mb_metric_table_smap(const char *name, const struct mb_smap *m);
void mb_metric_table_imap(const char *name, const struct mb_imap *m);
void mb_metric_table_count(const char *name, size_t (*count)(void));

/* A fixed-bucket histogram (seconds). */
typedef struct mb_histogram {
    const char *name, *help;
    const double *bounds;
    size_t nbounds;
    uint64_t *buckets; /* nbounds + 1 */
    double sum;
    uint64_t count;
} mb_histogram;

mb_histogram *mb_histogram_new(const char *name, const char *help, const double *bounds, size_t n);
void mb_histogram_observe(mb_histogram *h, double v);
/* Approximate quantile (upper bound of the bucket holding it). */
double mb_histogram_quantile(const mb_histogram *h, double q);

#endif
