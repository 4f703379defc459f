/*
 * scen_idle.c - N authenticated sessions that only send session.heartbeat.
 * Reports the handshake rate (connect + upgrade + session.connect), the
 * server's CPU per handshake, its RSS per session (VmRSS after minus before,
 * over N) and its CPU while idle.
 */
#include "loadgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static lg_client *cl;
static int n_cl;
static size_t hb_pos;
static double hb_carry;
static uint64_t hb_sent;

static void hb_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    /* Every client once per --heartbeat seconds, spread evenly. */
    hb_carry += (double)n_cl * w->repeat / lg_opt.heartbeat_s;
    static const char msg[] = "{\"type\":\"session.heartbeat\",\"payload\":{}}";
    while (hb_carry >= 1) {
        hb_carry -= 1;
        lg_client *c = &cl[hb_pos++ % (size_t)n_cl];
        if (c->state == LG_C_AUTHED && lg_ws_send(c, msg, sizeof msg - 1)) hb_sent++;
    }
}

int lg_scen_idle(json_t *out)
{
    n_cl = lg_opt.clients;
    json_object_set_new(out, "clients", json_integer(n_cl));
    json_object_set_new(out, "heartbeat_s", json_real(lg_opt.heartbeat_s));
    json_object_set_new(out, "duration_s", json_real(lg_opt.duration_s));
    lg_account *acc = lg_accounts_create(n_cl);
    static const lg_ws_handlers h = {0};
    lg_ws_init(&h);
    cl = lg_calloc((size_t)n_cl, sizeof *cl);
    for (int i = 0; i < n_cl; i++) cl[i].acct = &acc[i];

    lg_proc p0 = lg_proc_sample(lg_opt.server_pid);
    double elapsed = 0;
    int ok = lg_ws_connect_all(cl, n_cl, 180, &elapsed);
    lg_proc p1 = lg_proc_sample(lg_opt.server_pid);
    double rate = elapsed > 0 ? ok / elapsed : 0;
    lg_say("%d sessions authenticated in %.2f s (%.0f handshakes/s)", ok, elapsed, rate);
    json_object_set_new(out, "sessions", json_integer(ok));
    json_object_set_new(out, "failed", json_integer(n_cl - ok));
    json_object_set_new(out, "connect_s", json_real(lg_round(elapsed, 3)));
    json_object_set_new(out, "handshakes_per_s", json_real(lg_round(rate, 1)));
    if (p0.ok && p1.ok && ok) {
        json_object_set_new(out, "server_cpu_us_per_handshake",
                            json_real(lg_round((p1.cpu_s - p0.cpu_s) / ok * 1e6, 1)));
        json_object_set_new(out, "server_rss_before_kib", json_integer(p0.rss_kib));
    }

    ev_timer hb;
    ev_timer_init(&hb, hb_cb, 0.05, 0.05);
    ev_timer_start(lg_loop, &hb);
    lg_phase_run(2); /* settle */
    lg_proc s0 = lg_proc_sample(lg_opt.server_pid);
    uint64_t hb0 = hb_sent;
    lg_phase_run(lg_opt.duration_s);
    lg_proc s1 = lg_proc_sample(lg_opt.server_pid);
    ev_timer_stop(lg_loop, &hb);
    int still = lg_ws_open_count();

    char *m = lg_metrics_fetch();
    double sessions_metric = lg_metrics_value(m, "moonbase_sessions");
    free(m);
    json_object_set_new(out, "open_at_end", json_integer(still));
    json_object_set_new(out, "server_sessions_metric",
                        json_real(sessions_metric == sessions_metric ? sessions_metric : -1));
    json_object_set_new(out, "heartbeats_sent", json_integer((json_int_t)(hb_sent - hb0)));
    lg_put_proc(out, "idle", &s0, &s1);

    double per = NAN;
    if (p0.ok && s1.ok && ok) {
        per = (double)(s1.rss_kib - p0.rss_kib) / ok;
        json_object_set_new(out, "server_rss_after_kib", json_integer(s1.rss_kib));
        json_object_set_new(out, "server_rss_per_session_kib", json_real(lg_round(per, 2)));
    }
    lg_figure(out, "sessions held", still, "", NULL, -1);
    lg_figure(out, "handshakes/s", rate, "/s", NULL, -1);
    if (p0.ok && p1.ok && ok)
        lg_figure(out, "server CPU per handshake", (p1.cpu_s - p0.cpu_s) / ok * 1e6, "us", NULL, -1);
    lg_figure(out, "server RSS per session", per, "KiB", "<= 12 @15k", ok >= 15000 ? per <= 12 : -1);
    if (s0.ok && s1.ok)
        lg_figure(out, "server CPU while idle", 100 * (s1.cpu_s - s0.cpu_s) / (s1.at - s0.at), "%", NULL, -1);
    return ok == n_cl ? 0 : -1;
}
