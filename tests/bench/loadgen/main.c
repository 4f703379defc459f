/*
 * main.c - options, the loop, phases, and output: one JSON object per run
 * on stdout (and appended to --out), a human table on stderr, and
 * `loadgen table FILE...` to print one table from many JSON lines.
 */
#include "loadgen.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

lg_opts lg_opt = {
    .host = "127.0.0.1",
    .port = 7350,
    .prefix = "lg",
    .label = "",
    .clients = 1000,
    .matches = 100,
    .players = 8,
    .mode = "arena",
    .tick_hz = 20,
    .input_hz = 10,
    .heartbeat_s = 15,
    .duration_s = 10,
    .warmup_s = 3,
    .connections = 32,
    .rate = 200,
    .senders = 10,
    .connect_concurrency = 128,
    .max_seconds = 240,
    .uring_buffers = 4096,
};
struct ev_loop *lg_loop;

/* ------------------------------------------------------------ helpers */

double lg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void lg_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

_Noreturn void lg_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void *lg_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) lg_die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

double lg_round(double v, int digits)
{
    if (!isfinite(v)) return v;
    double f = pow(10, digits);
    return round(v * f) / f;
}

static bool phase_over;
static ev_timer phase_timer;

static void phase_timeout(struct ev_loop *loop, ev_timer *w, int revents) { ev_break(loop, EVBREAK_ONE); }

void lg_phase_done(void)
{
    phase_over = true;
    ev_break(lg_loop, EVBREAK_ONE);
}

bool lg_phase_run(double seconds)
{
    phase_over = false;
    ev_timer_init(&phase_timer, phase_timeout, seconds, 0);
    ev_timer_start(lg_loop, &phase_timer);
    ev_run(lg_loop, 0);
    ev_timer_stop(lg_loop, &phase_timer);
    bool done = phase_over;
    phase_over = false;
    return done;
}

void lg_put_proc(json_t *out, const char *prefix, const lg_proc *a, const lg_proc *b)
{
    char k[96];
    if (!a->ok || !b->ok) return;
    double wall = b->at - a->at, cpu = b->cpu_s - a->cpu_s;
    snprintf(k, sizeof k, "%s_server_cpu_s", prefix);
    json_object_set_new(out, k, json_real(lg_round(cpu, 3)));
    snprintf(k, sizeof k, "%s_server_cpu_pct", prefix);
    json_object_set_new(out, k, json_real(lg_round(wall > 0 ? 100 * cpu / wall : 0, 1)));
    snprintf(k, sizeof k, "%s_server_rss_kib", prefix);
    json_object_set_new(out, k, json_integer(b->rss_kib));
}

void lg_figure(json_t *out, const char *figure, double value, const char *unit, const char *target, int met)
{
    json_t *f = json_pack("{s:s,s:f,s:s}", "figure", figure, "value",
                          isfinite(value) ? lg_round(value, 3) : 0.0, "unit", unit ? unit : "");
    if (!isfinite(value)) json_object_set_new(f, "value", json_string("n/a"));
    if (target) json_object_set_new(f, "target", json_string(target));
    if (met >= 0) json_object_set_new(f, "met", json_boolean(met));
    json_array_append_new(json_object_get(out, "headline"), f);
}

/* ------------------------------------------------------------- output */

static double loadavg1(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = NAN;
        fclose(f);
    }
    return l;
}

/* One line per headline figure: "scenario  figure  value unit  target  met". */
static void print_row(FILE *o, json_t *run)
{
    const char *sc = json_string_value(json_object_get(run, "scenario"));
    const char *label = json_string_value(json_object_get(run, "label"));
    char name[64];
    snprintf(name, sizeof name, "%s%s%s", sc ? sc : "?", label && *label ? " " : "", label ? label : "");
    if (json_object_get(run, "skipped")) {
        fprintf(o, "%-40s %-36s %s\n", name, "skipped", json_string_value(json_object_get(run, "skipped")));
        return;
    }
    json_t *figs = json_object_get(run, "headline");
    size_t i;
    json_t *f;
    json_array_foreach (figs, i, f) {
        const char *fn = json_string_value(json_object_get(f, "figure"));
        const char *unit = json_string_value(json_object_get(f, "unit"));
        const char *target = json_string_value(json_object_get(f, "target"));
        json_t *met = json_object_get(f, "met");
        double v = json_number_value(json_object_get(f, "value"));
        char val[48];
        if (json_is_string(json_object_get(f, "value")))
            snprintf(val, sizeof val, "%s", json_string_value(json_object_get(f, "value")));
        else if (fabs(v) >= 1000 || v == floor(v)) snprintf(val, sizeof val, "%.0f", v);
        else if (fabs(v) >= 10) snprintf(val, sizeof val, "%.1f", v);
        else snprintf(val, sizeof val, "%.3g", v);
        fprintf(o, "%-40s %-36s %12s %-10s %-14s %s\n", i == 0 ? name : "", fn ? fn : "", val,
                unit ? unit : "", target ? target : "",
                json_is_boolean(met) ? (json_is_true(met) ? "MET" : "MISSED") : "");
    }
}

static void print_header(FILE *o)
{
    fprintf(o, "%-40s %-36s %12s %-10s %-14s %s\n", "scenario", "figure", "value", "unit", "target", "");
    fprintf(o, "%.*s\n", 122,
            "--------------------------------------------------------------------"
            "--------------------------------------------------------------------");
}

/* An in-process bench line ({"bench":...}): one row with its main figure. */
static void print_inproc(FILE *o, json_t *b)
{
    const char *name = json_string_value(json_object_get(b, "bench"));
    const char *cfg = json_string_value(json_object_get(b, "method"));
    if (!cfg) cfg = json_string_value(json_object_get(b, "config"));
    static const struct {
        const char *key, *fig, *unit;
    } keys[] = {
        {"median_ms", "median", "ms"},           {"p99_ms", "p99", "ms"},
        {"pass_median_ms", "pass median", "ms"}, {"backlog_pass_max_ms", "backlog pass max", "ms"},
        {"p99_wait_ms", "wait p99", "ms"},       {"median_ns", "per op", "ns"},
    };
    bool first = true;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(b, keys[i].key);
        if (!json_is_number(v)) continue;
        char bn[64], fig[96];
        snprintf(bn, sizeof bn, "bench_%s", name ? name : "?");
        snprintf(fig, sizeof fig, "%s %s", cfg ? cfg : "", keys[i].fig);
        fprintf(o, "%-40s %-36.36s %12.3f %-10s\n", first ? bn : "", fig, json_number_value(v), keys[i].unit);
        first = false;
    }
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs with the same scenario and label become one row set: each headline
 * value is the median of the runs ("met" is re-judged on the median by
 * taking the median run's verdict for that figure). */
static json_t *median_of(json_t *runs)
{
    size_t n = json_array_size(runs);
    json_t *first = json_array_get(runs, 0);
    if (n == 1) return json_incref(first);
    json_t *m = json_deep_copy(first);
    json_t *figs = json_object_get(m, "headline");
    size_t i;
    json_t *f;
    json_array_foreach (figs, i, f) {
        double *v = calloc(n, sizeof *v);
        json_t **who = calloc(n, sizeof *who);
        size_t k = 0;
        for (size_t r = 0; r < n; r++) {
            json_t *g = json_array_get(json_object_get(json_array_get(runs, r), "headline"), i);
            if (json_is_number(json_object_get(g, "value")))
                v[k++] = json_number_value(json_object_get(g, "value"));
        }
        if (k) {
            double *sorted = malloc(k * sizeof *sorted);
            memcpy(sorted, v, k * sizeof *v);
            qsort(sorted, k, sizeof *sorted, cmp_dbl);
            double med = k % 2 ? sorted[k / 2] : (sorted[k / 2 - 1] + sorted[k / 2]) / 2;
            json_object_set_new(f, "value", json_real(med));
            /* the verdict of the run closest to the median */
            size_t best = 0;
            for (size_t r = 0, kk = 0; r < n; r++) {
                json_t *g = json_array_get(json_object_get(json_array_get(runs, r), "headline"), i);
                if (!json_is_number(json_object_get(g, "value"))) continue;
                if (fabs(v[kk] - med) < fabs(v[best] - med)) best = kk;
                who[kk++] = g;
            }
            json_t *met = json_object_get(who[best], "met");
            if (met) json_object_set(f, "met", met);
            free(sorted);
        }
        free(v);
        free(who);
    }
    char lbl[160];
    snprintf(lbl, sizeof lbl, "%s (median of %zu)", json_string_value(json_object_get(m, "label")), n);
    json_object_set_new(m, "label", json_string(lbl));
    return m;
}

static int table_main(int argc, char **argv)
{
    bool median = argc > 0 && strcmp(argv[0], "--median") == 0;
    if (median) {
        argc--;
        argv++;
    }
    json_t *groups = json_array(); /* [[run, run...], ...] in first-seen order */
    json_t *inproc = json_array();
    json_t *failed = json_array();
    for (int i = 0; i < argc; i++) {
        FILE *f = strcmp(argv[i], "-") == 0 ? stdin : fopen(argv[i], "r");
        if (!f) {
            fprintf(stderr, "loadgen table: %s: %s\n", argv[i], strerror(errno));
            return 1;
        }
        char *line = NULL;
        size_t cap = 0;
        while (getline(&line, &cap, f) > 0) {
            json_t *run = json_loads(line, 0, NULL);
            if (!json_is_object(run)) {
                json_decref(run);
                continue;
            }
            if (json_object_get(run, "bench")) {
                json_array_append_new(inproc, run);
                continue;
            }
            /* A failed run (ok false: it stopped before measuring) has no
             * figures; in a median it would hide its group's. Named below. */
            if (median && json_is_false(json_object_get(run, "ok"))) {
                json_array_append_new(failed, run);
                continue;
            }
            json_t *g = NULL;
            size_t k;
            json_t *cand;
            json_array_foreach (groups, k, cand) {
                json_t *r0 = json_array_get(cand, 0);
                if (median && json_equal(json_object_get(r0, "scenario"), json_object_get(run, "scenario")) &&
                    json_equal(json_object_get(r0, "label"), json_object_get(run, "label")))
                    g = cand;
            }
            if (!g) {
                g = json_array();
                json_array_append_new(groups, g);
            }
            json_array_append_new(g, run);
        }
        free(line);
        if (f != stdin) fclose(f);
    }
    print_header(stdout);
    size_t k;
    json_t *g;
    json_array_foreach (groups, k, g) {
        json_t *m = median_of(g);
        print_row(stdout, m);
        json_decref(m);
    }
    json_array_foreach (inproc, k, g) print_inproc(stdout, g);
    json_array_foreach (failed, k, g)
        printf("%-40s left out of the medians: this run failed (see its log)\n",
               json_string_value(json_object_get(g, "label")));
    json_decref(groups);
    json_decref(inproc);
    json_decref(failed);
    return 0;
}

/* -------------------------------------------------------------- main */

static void on_alarm(int sig)
{
    static const char msg[] = "loadgen: error: --max-seconds reached; stopping\n";
    (void)sig;
    if (write(2, msg, sizeof msg - 1) < 0) {
    }
    _exit(3);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen SCENARIO [options]     SCENARIO: idle | match | matchmaker | rpc | chat\n"
            "       loadgen table FILE...          print the table of JSON lines (- for stdin)\n"
            "options (defaults in brackets):\n"
            "  --host ADDR [127.0.0.1]  --port N [7350]   loopback only\n"
            "  --server-pid PID         read server CPU and RSS from /proc/PID\n"
            "  --clients N [1000]       idle, matchmaker, chat sessions\n"
            "  --matches M [100] --players P [8] --tick-hz T [20] --input-hz I [10]   match\n"
            "  --mode NAME [arena]      match: mode of the matches (its state must echo seq like arena's)\n"
            "  --heartbeat S [15]       seconds between session.heartbeat (idle)\n"
            "  --connections C [32]     keep-alive HTTP connections (rpc)\n"
            "  --rate R [200]           tickets/s (matchmaker), messages/s (chat)\n"
            "  --senders N [10]         chat senders\n"
            "  --duration S [10] --warmup S [3]   measured seconds, after a warm-up\n"
            "  --connect-concurrency K [128]      handshakes in flight\n"
            "  --prefix STR [lg]        device ids STR-0..: reused across runs\n"
            "  --label STR              copied into the JSON\n"
            "  --out FILE               append the JSON line to FILE too\n"
            "  --max-seconds S [240]    hard stop for the whole run (exit 3)\n"
            "  --io uring|epoll         WebSocket receive path [uring if the kernel allows]:\n"
            "                           multishot recv on io_uring / a recv() per epoll event\n"
            "  --uring-buffers N [4096] the io_uring path's 2 KiB buffers (a power of two, 1..32768)\n");
}

static int parse_opts(int argc, char **argv)
{
    enum {
        O_HOST = 1000,
        O_PORT,
        O_PID,
        O_CLIENTS,
        O_MATCHES,
        O_PLAYERS,
        O_TICK,
        O_INPUT,
        O_HB,
        O_CONNS,
        O_RATE,
        O_SENDERS,
        O_DUR,
        O_WARM,
        O_CC,
        O_PREFIX,
        O_LABEL,
        O_OUT,
        O_MAX,
        O_MODE,
        O_IO,
        O_URING_BUFS
    };
    static const struct option lo[] = {
        {"host", 1, 0, O_HOST},
        {"port", 1, 0, O_PORT},
        {"server-pid", 1, 0, O_PID},
        {"clients", 1, 0, O_CLIENTS},
        {"matches", 1, 0, O_MATCHES},
        {"players", 1, 0, O_PLAYERS},
        {"tick-hz", 1, 0, O_TICK},
        {"input-hz", 1, 0, O_INPUT},
        {"heartbeat", 1, 0, O_HB},
        {"connections", 1, 0, O_CONNS},
        {"rate", 1, 0, O_RATE},
        {"senders", 1, 0, O_SENDERS},
        {"duration", 1, 0, O_DUR},
        {"warmup", 1, 0, O_WARM},
        {"connect-concurrency", 1, 0, O_CC},
        {"prefix", 1, 0, O_PREFIX},
        {"label", 1, 0, O_LABEL},
        {"out", 1, 0, O_OUT},
        {"max-seconds", 1, 0, O_MAX},
        {"help", 0, 0, 'h'},
        {"mode", 1, 0, O_MODE},
        {"io", 1, 0, O_IO},
        {"uring-buffers", 1, 0, O_URING_BUFS},
        {0, 0, 0, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (o) {
        case O_HOST: lg_opt.host = optarg; break;
        case O_PORT: lg_opt.port = atoi(optarg); break;
        case O_PID: lg_opt.server_pid = atoi(optarg); break;
        case O_CLIENTS: lg_opt.clients = atoi(optarg); break;
        case O_MATCHES: lg_opt.matches = atoi(optarg); break;
        case O_PLAYERS: lg_opt.players = atoi(optarg); break;
        case O_TICK: lg_opt.tick_hz = atof(optarg); break;
        case O_INPUT: lg_opt.input_hz = atof(optarg); break;
        case O_HB: lg_opt.heartbeat_s = atof(optarg); break;
        case O_CONNS: lg_opt.connections = atoi(optarg); break;
        case O_RATE: lg_opt.rate = atof(optarg); break;
        case O_SENDERS: lg_opt.senders = atoi(optarg); break;
        case O_DUR: lg_opt.duration_s = atof(optarg); break;
        case O_WARM: lg_opt.warmup_s = atof(optarg); break;
        case O_CC: lg_opt.connect_concurrency = atoi(optarg); break;
        case O_PREFIX: lg_opt.prefix = optarg; break;
        case O_LABEL: lg_opt.label = optarg; break;
        case O_OUT: lg_opt.out = optarg; break;
        case O_MAX: lg_opt.max_seconds = atoi(optarg); break;
        case O_MODE: lg_opt.mode = optarg; break;
        case O_IO:
            if (strcmp(optarg, "uring") == 0) lg_opt.io = LG_IO_URING;
            else if (strcmp(optarg, "epoll") == 0) lg_opt.io = LG_IO_EPOLL;
            else {
                fprintf(stderr, "loadgen: --io must be uring or epoll, not '%s'\n", optarg);
                return -1;
            }
            break;
        case O_URING_BUFS: lg_opt.uring_buffers = atoi(optarg); break;
        default: usage(); return -1;
        }
    }
    return 0;
}

static bool loopback(const char *h) { return strncmp(h, "127.", 4) == 0; }

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "table") == 0) return table_main(argc - 2, argv + 2);
    lg_opt.scenario = argv[1];
    if (parse_opts(argc - 1, argv + 1) < 0) return 2;
    /* Bounds: every run is limited in clients, seconds and address. */
    if (!loopback(lg_opt.host)) lg_die("--host must be a loopback address (127.x.y.z)");
    if (lg_opt.clients < 1 || lg_opt.clients > 19000) lg_die("--clients must be 1..19000");
    if (lg_opt.matches < 1 || lg_opt.players < 1 || lg_opt.matches * lg_opt.players > 19000)
        lg_die("--matches x --players must be 1..19000");
    if (lg_opt.duration_s <= 0 || lg_opt.duration_s > 600) lg_die("--duration must be 0..600 s");
    if (lg_opt.warmup_s < 0 || lg_opt.warmup_s > 120) lg_die("--warmup must be 0..120 s");
    if (lg_opt.connections < 1 || lg_opt.connections > 1000) lg_die("--connections must be 1..1000");
    if (lg_opt.max_seconds < 10 || lg_opt.max_seconds > 1800) lg_die("--max-seconds must be 10..1800");
    if (lg_opt.connect_concurrency < 1) lg_opt.connect_concurrency = 1;
    if (lg_opt.input_hz <= 0 || lg_opt.input_hz > 60)
        lg_die(
            "--input-hz must be more than 0 and at most 60 (inputs carry the seq that input-to-state latency is measured by)");
    if (lg_opt.rate <= 0 || lg_opt.rate > 100000) lg_die("--rate must be 0..100000");
    if (lg_opt.uring_buffers < 1 || lg_opt.uring_buffers > 32768 ||
        (lg_opt.uring_buffers & (lg_opt.uring_buffers - 1)))
        lg_die("--uring-buffers must be a power of two, 1..32768");

    signal(SIGALRM, on_alarm);
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)lg_opt.max_seconds);

    /* The fd limit here is 20,000 hard: take all of it. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    getrlimit(RLIMIT_NOFILE, &rl);

    lg_loop = ev_default_loop(EVBACKEND_EPOLL);
    if (!lg_loop) lg_die("no epoll libev loop");
    /* The receive path: one line on stderr says which and, on a fall-back, why. */
    if (lg_opt.io == LG_IO_EPOLL) lg_say("receive path: epoll + recv() (--io epoll)");
    else {
        char why[160];
        if (lg_uring_init(why, sizeof why)) lg_say("receive path: io_uring (%s)", lg_uring_describe());
        else if (lg_opt.io == LG_IO_URING) lg_die("--io uring: %s", why);
        else lg_say("receive path: epoll + recv(), not io_uring: %s", why);
    }

    json_t *out = json_object();
    json_object_set_new(out, "scenario", json_string(lg_opt.scenario));
    json_object_set_new(out, "label", json_string(lg_opt.label));
    time_t now = time(NULL);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(out, "date", json_string(ts));
    struct utsname un;
    if (uname(&un) == 0) json_object_set_new(out, "host", json_string(un.nodename));
    json_object_set_new(out, "cores", json_integer(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_set_new(out, "loadavg_before", json_real(lg_round(loadavg1(), 2)));
    json_object_set_new(out, "fd_limit", json_integer((json_int_t)rl.rlim_cur));
    json_object_set_new(out, "server_pid", json_integer(lg_opt.server_pid));
    json_object_set_new(out, "headline", json_array());
    json_object_set_new(out, "io", json_string(lg_uring_on() ? "uring" : "epoll"));
    if (lg_opt.server_pid <= 0) lg_say("no --server-pid: server CPU and RSS are not reported");

    lg_proc self0 = lg_proc_sample(getpid());
    int rc;
    if (strcmp(lg_opt.scenario, "idle") == 0) rc = lg_scen_idle(out);
    else if (strcmp(lg_opt.scenario, "match") == 0) rc = lg_scen_match(out);
    else if (strcmp(lg_opt.scenario, "matchmaker") == 0) rc = lg_scen_matchmaker(out);
    else if (strcmp(lg_opt.scenario, "rpc") == 0) rc = lg_scen_rpc(out);
    else if (strcmp(lg_opt.scenario, "chat") == 0) rc = lg_scen_chat(out);
    else {
        usage();
        return 2;
    }
    lg_proc self1 = lg_proc_sample(getpid());
    /* Close the WebSockets first: no client callback runs after this, so
     * scenarios may leave their client and account arrays to the exit. */
    lg_ws_shutdown();
    lg_uring_stats(out);
    /* The server's own count of sockets at the end (a cross-check). */
    char *mt = lg_metrics_fetch();
    double conns = lg_metrics_value(mt, "moonbase_connections");
    free(mt);
    if (isfinite(conns)) json_object_set_new(out, "server_connections_at_end", json_real(conns));
    if (self0.ok && self1.ok)
        json_object_set_new(out, "loadgen_cpu_s", json_real(lg_round(self1.cpu_s - self0.cpu_s, 2)));
    json_object_set_new(out, "loadavg_after", json_real(lg_round(loadavg1(), 2)));
    json_object_set_new(out, "ok", json_boolean(rc == 0));

    char *line = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", line);
    fflush(stdout);
    if (lg_opt.out) {
        FILE *f = fopen(lg_opt.out, "a");
        if (!f) lg_say("--out %s: %s", lg_opt.out, strerror(errno));
        else {
            fprintf(f, "%s\n", line);
            fclose(f);
        }
    }
    fputc('\n', stderr);
    print_header(stderr);
    print_row(stderr, out);
    free(line);
    json_decref(out);
    lg_ws_shutdown();
    lg_uring_destroy();
    return rc == 0 ? 0 : 1;
}
