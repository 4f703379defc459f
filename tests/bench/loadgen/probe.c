/*
 * probe.c - what the server says about itself: CPU and RSS from
 * /proc/<pid> (so the figures do not depend on how busy the load generator
 * is), and series and histograms from GET /metrics.
 */
#include "loadgen.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

lg_proc lg_proc_sample(int pid)
{
    lg_proc p = {.at = lg_now()};
    if (pid <= 0) return p;
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return p;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* fields after "(comm)": state is field 3; utime 14, stime 15 */
    char *s = strrchr(buf, ')');
    if (!s) return p;
    unsigned long long ut = 0, st = 0;
    if (sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return p;
    p.cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    p.sys_s = (double)st / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f) return p;
    while (fgets(buf, sizeof buf, f))
        if (strncmp(buf, "VmRSS:", 6) == 0) p.rss_kib = strtol(buf + 6, NULL, 10);
    fclose(f);
    p.ok = true;
    return p;
}

/* 1 + 2^7 pages: at one 16-byte sample per ms of a fully busy thread,
 * 32 s of samples; the callers drain every second or so. */
#define MODES_DATA_PAGES 128

bool lg_modes_open(lg_modes *m, int pid)
{
    memset(m, 0, sizeof *m);
    m->fd = -1;
    if (pid <= 0) return false;
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.sample_period = 997000; /* ns of the thread's CPU time: not a divisor of the tick or slot periods */
    a.sample_type = PERF_SAMPLE_IP;
    a.disabled = 1;
    a.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &a, pid, -1, -1, 0);
    if (fd < 0) {
        lg_say("no sampled user/kernel split of the server's CPU: perf_event_open: %s", strerror(errno));
        return false;
    }
    long page = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)page * (1 + MODES_DATA_PAGES);
    void *ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) {
        lg_say("no sampled user/kernel split of the server's CPU: mmap: %s", strerror(errno));
        close(fd);
        return false;
    }
    m->fd = fd;
    m->ring = ring;
    m->ring_len = len;
    return true;
}

void lg_modes_enable(lg_modes *m, bool on)
{
    if (m->fd < 0) return;
    ioctl(m->fd, on ? PERF_EVENT_IOC_ENABLE : PERF_EVENT_IOC_DISABLE, 0);
    if (!on) lg_modes_drain(m); /* everything up to the disable */
}

/* Copy n bytes at ring offset off (records may wrap around the end). */
static void ring_copy(const unsigned char *data, size_t size, uint64_t off, void *to, size_t n)
{
    for (size_t i = 0; i < n; i++) ((unsigned char *)to)[i] = data[(off + i) % size];
}

void lg_modes_drain(lg_modes *m)
{
    if (m->fd < 0) return;
    struct perf_event_mmap_page *pg = m->ring;
    uint64_t head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE);
    const unsigned char *data = (const unsigned char *)m->ring + pg->data_offset;
    size_t size = (size_t)pg->data_size;
    uint64_t tail = m->tail;
    while (tail + sizeof(struct perf_event_header) <= head) {
        struct perf_event_header h;
        ring_copy(data, size, tail, &h, sizeof h);
        if (h.size < sizeof h) break;
        if (h.type == PERF_RECORD_SAMPLE) {
            unsigned mode = h.misc & PERF_RECORD_MISC_CPUMODE_MASK;
            if (mode == PERF_RECORD_MISC_USER) m->user++;
            else if (mode == PERF_RECORD_MISC_KERNEL) m->kernel++;
        } else if (h.type == PERF_RECORD_LOST && h.size >= sizeof h + 16) {
            uint64_t lost[2]; /* id, lost */
            ring_copy(data, size, tail + sizeof h, lost, sizeof lost);
            m->lost += lost[1];
        }
        tail += h.size;
    }
    m->tail = tail;
    __atomic_store_n(&pg->data_tail, tail, __ATOMIC_RELEASE);
}

void lg_modes_close(lg_modes *m)
{
    if (m->fd < 0) return;
    munmap(m->ring, m->ring_len);
    close(m->fd);
    m->fd = -1;
}

double lg_modes_user_share(const lg_modes *m)
{
    uint64_t n = m->user + m->kernel;
    return n ? (double)m->user / (double)n : NAN;
}

char *lg_metrics_fetch(void)
{
    char *body = NULL;
    int st = lg_http_call("GET", "/metrics", NULL, NULL, &body);
    if (st != 200) {
        free(body);
        return NULL;
    }
    return body;
}

/* Find "name " or "name{" at a line start. */
static const char *find_line(const char *body, const char *name, char next)
{
    size_t n = strlen(name);
    for (const char *p = body; p && *p;) {
        if (strncmp(p, name, n) == 0 && p[n] == next) return p + n;
        p = strchr(p, '\n');
        if (p) p++;
    }
    return NULL;
}

double lg_metrics_value(const char *body, const char *name)
{
    const char *p = body ? find_line(body, name, ' ') : NULL;
    return p ? strtod(p + 1, NULL) : NAN;
}

bool lg_metrics_hist(const char *body, const char *name, lg_hist *out)
{
    memset(out, 0, sizeof *out);
    if (!body) return false;
    char bname[128];
    snprintf(bname, sizeof bname, "%s_bucket", name);
    size_t bn = strlen(bname);
    for (const char *p = body; p && *p;) {
        if (strncmp(p, bname, bn) == 0 && strncmp(p + bn, "{le=\"", 5) == 0 && out->n < LG_HIST_MAX) {
            const char *q = p + bn + 5;
            double le = strncmp(q, "+Inf", 4) == 0 ? INFINITY : strtod(q, NULL);
            const char *v = strchr(q, ' ');
            if (v) {
                out->le[out->n] = le;
                out->cum[out->n] = strtod(v + 1, NULL);
                out->n++;
            }
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return out->n > 0;
}

lg_hist lg_hist_delta(const lg_hist *after, const lg_hist *before)
{
    lg_hist d = *after;
    if (before->n == after->n)
        for (int i = 0; i < d.n; i++) d.cum[i] = after->cum[i] - before->cum[i];
    return d;
}

double lg_hist_pct(const lg_hist *h, double p)
{
    if (h->n == 0) return NAN;
    double total = h->cum[h->n - 1];
    if (total <= 0) return NAN;
    double rank = p / 100.0 * total;
    double lo = 0, below = 0;
    for (int i = 0; i < h->n; i++) {
        if (h->cum[i] >= rank) {
            if (isinf(h->le[i])) return lo; /* beyond the last bound: report it */
            double in = h->cum[i] - below;
            return in > 0 ? lo + (h->le[i] - lo) * (rank - below) / in : h->le[i];
        }
        lo = h->le[i];
        below = h->cum[i];
    }
    return lo;
}

double lg_hist_frac_le(const lg_hist *h, double bound)
{
    if (h->n == 0 || h->cum[h->n - 1] <= 0) return NAN;
    for (int i = 0; i < h->n; i++)
        if (fabs(h->le[i] - bound) < 1e-12) return h->cum[i] / h->cum[h->n - 1];
    return NAN;
}

/* -------------------------------------------------------------- stats */

void lg_lat_add(lg_lat *l, double ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) lg_die("out of memory");
    }
    l->v[l->n++] = ms;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lg_lat_pct(lg_lat *l, double p)
{
    if (!l->n) return 0;
    qsort(l->v, l->n, sizeof *l->v, cmp_d);
    size_t i = (size_t)ceil(p / 100.0 * (double)l->n);
    if (i > 0) i--;
    if (i >= l->n) i = l->n - 1;
    return l->v[i];
}

void lg_lat_free(lg_lat *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}
