/*
 * scen_rpc.c - Lua RPC calls over REST: --connections keep-alive HTTP
 * connections, each with one POST /v1/rpc/echo in flight at a time (the
 * server does not pipeline), each with its own account's bearer token.
 * scripts/server.lua's echo does no database work.
 */
#include "loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct rconn {
    lg_http *h;
    const lg_account *a;
    double sent;
    uint64_t n;
} rconn;

static bool measuring, stopping;
static uint64_t calls, failures, shown;
static lg_lat lat;

static void issue(rconn *r);

static void done(lg_http *h, int status, const char *body, size_t len, void *ud)
{
    rconn *r = ud;
    double now = lg_now();
    if (measuring) {
        if (status == 200) {
            calls++;
            lg_lat_add(&lat, (now - r->sent) * 1000);
        } else {
            failures++;
        }
    }
    if (status != 200 && shown++ < 5) lg_say("rpc echo: status %d: %.200s", status, body);
    if (!stopping) issue(r);
}

static void issue(rconn *r)
{
    char body[64];
    snprintf(body, sizeof body, "{\"n\":%llu}", (unsigned long long)++r->n);
    r->sent = lg_now();
    lg_http_request(r->h, "POST", "/v1/rpc/echo", r->a->token, body, done, r);
}

int lg_scen_rpc(json_t *out)
{
    int C = lg_opt.connections;
    json_object_set_new(out, "connections", json_integer(C));
    json_object_set_new(out, "duration_s", json_real(lg_opt.duration_s));
    lg_account *acc = lg_accounts_create(C);
    rconn *rc = lg_calloc((size_t)C, sizeof *rc);
    for (int i = 0; i < C; i++) {
        rc[i].h = lg_http_new(lg_opt.host, lg_opt.port);
        rc[i].a = &acc[i];
        issue(&rc[i]);
    }
    lg_phase_run(lg_opt.warmup_s > 0 ? lg_opt.warmup_s : 0.5);
    lg_proc s0 = lg_proc_sample(lg_opt.server_pid), g0 = lg_proc_sample(getpid());
    measuring = true;
    lg_phase_run(lg_opt.duration_s);
    measuring = false;
    lg_proc s1 = lg_proc_sample(lg_opt.server_pid), g1 = lg_proc_sample(getpid());
    stopping = true;
    lg_phase_run(0.5); /* let the calls in flight finish */
    double win = s1.at - s0.at;
    double per_s = calls / win;
    json_object_set_new(out, "window_s", json_real(lg_round(win, 3)));
    json_object_set_new(out, "calls", json_integer((json_int_t)calls));
    json_object_set_new(out, "failures", json_integer((json_int_t)failures));
    json_object_set_new(out, "calls_per_s", json_real(lg_round(per_s, 1)));
    double p50 = lg_lat_pct(&lat, 50), p99 = lg_lat_pct(&lat, 99);
    json_object_set_new(out, "latency_p50_ms", json_real(lg_round(p50, 3)));
    json_object_set_new(out, "latency_p99_ms", json_real(lg_round(p99, 3)));
    lg_put_proc(out, "window", &s0, &s1);
    if (g0.ok && g1.ok)
        json_object_set_new(out, "loadgen_cpu_pct",
                            json_real(lg_round(100 * (g1.cpu_s - g0.cpu_s) / win, 1)));
    lg_figure(out, "rpc calls/s", per_s, "/s", ">= 50000", per_s >= 50000);
    lg_figure(out, "rpc latency p50", p50, "ms", NULL, -1);
    lg_figure(out, "rpc latency p99", p99, "ms", NULL, -1);
    if (s0.ok && s1.ok && calls) {
        lg_figure(out, "server CPU per call", (s1.cpu_s - s0.cpu_s) / calls * 1e6, "us", NULL, -1);
        lg_figure(out, "server CPU", 100 * (s1.cpu_s - s0.cpu_s) / win, "%", NULL, -1);
        json_object_set_new(out, "server_cpu_us_per_call",
                            json_real(lg_round((s1.cpu_s - s0.cpu_s) / calls * 1e6, 2)));
        lg_figure(out, "calls per server CPU-second", calls / (s1.cpu_s - s0.cpu_s), "/s", ">= 50000", -1);
    }
    if (g0.ok && g1.ok) lg_figure(out, "loadgen CPU", 100 * (g1.cpu_s - g0.cpu_s) / win, "%", NULL, -1);
    for (int i = 0; i < C; i++) lg_http_free(rc[i].h);
    /* Does the server still accept a new connection after that many
     * keep-alive requests? (It counts one connection per request; see
     * lg_http_set_close.) */
    int st = lg_http_call("GET", "/healthz", NULL, NULL, NULL);
    json_object_set_new(out, "new_connection_after_run", json_string(st == 200 ? "accepted" : "refused"));
    if (st != 200)
        lg_say("after %llu keep-alive calls the server refuses new connections (GET /healthz: %d)",
               (unsigned long long)calls, st);
    free(rc);
    lg_lat_free(&lat);
    lg_accounts_free(acc, C);
    return failures == 0 && calls > 0 ? 0 : -1;
}
