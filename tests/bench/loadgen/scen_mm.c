/*
 * scen_mm.c - matchmaking: N connected players each submit one
 * matchmaker.add for the arena mode (properties: skill around 1500, region
 * one of three) at --rate tickets per second; each measures the time from
 * its add to its matchmaker.matched. Waits for stragglers up to the
 * arena's fill_after_ms (5 s) + 3 s after the last ticket.
 */
#include "loadgen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct mm_player {
    double t_add;
    bool added, acked, matched;
} mm_player;

static lg_client *cl;
static mm_player *mp;
static int n_cl, next_add, n_added, n_acked, n_matched, n_removed, n_errors, shown;
static double carry, last, t_first, t_last_add;
static lg_lat lat;

static void on_message(lg_client *c, const char *data, size_t len)
{
    mm_player *p = c->ud;
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) type = "";
    if (strcmp(type, "matchmaker.ticket") == 0 && !p->acked) {
        p->acked = true;
        n_acked++;
    } else if (strcmp(type, "matchmaker.matched") == 0 && !p->matched) {
        p->matched = true;
        n_matched++;
        lg_lat_add(&lat, (lg_now() - p->t_add) * 1000);
        if (n_matched + n_removed + n_errors == n_cl) lg_phase_done();
    } else if (strcmp(type, "matchmaker.removed") == 0) {
        n_removed++;
    } else if (strcmp(type, "error") == 0) {
        n_errors++;
        if (shown++ < 5) lg_say("client %d: %.*s", c->idx, (int)(len > 300 ? 300 : len), data);
    }
    json_decref(j);
}

static void add_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    double now = lg_now();
    carry += lg_opt.rate * (now - last);
    last = now;
    static const char *regions[] = {"eu", "us", "asia"};
    while (carry >= 1 && next_add < n_cl) {
        carry -= 1;
        int i = next_add++;
        /* skill: 1500 + a bell curve of sd ~ 290 (sum of three uniforms) */
        unsigned r = (unsigned)i * 2654435761u;
        double u = ((r & 1023) + ((r >> 10) & 1023) + ((r >> 20) & 1023)) / 1023.0 - 1.5;
        json_t *pl = json_pack("{s:s,s:{s:i,s:s}}", "mode", "arena", "properties", "skill",
                               (int)(1500 + u * 500), "region", regions[i % 3]);
        mp[i].t_add = now;
        if (lg_ws_send_json(&cl[i], "matchmaker.add", pl)) {
            mp[i].added = true;
            n_added++;
            if (!t_first) t_first = now;
            t_last_add = now;
        }
    }
    if (next_add >= n_cl || now - t_first > lg_opt.duration_s) ev_timer_stop(loop, w);
}

int lg_scen_matchmaker(json_t *out)
{
    n_cl = lg_opt.clients;
    json_object_set_new(out, "clients", json_integer(n_cl));
    json_object_set_new(out, "rate", json_real(lg_opt.rate));
    lg_account *acc = lg_accounts_create(n_cl);
    static const lg_ws_handlers h = {.on_message = on_message};
    lg_ws_init(&h);
    cl = lg_calloc((size_t)n_cl, sizeof *cl);
    mp = lg_calloc((size_t)n_cl, sizeof *mp);
    for (int i = 0; i < n_cl; i++) {
        cl[i].acct = &acc[i];
        cl[i].ud = &mp[i];
    }
    double elapsed;
    int ok = lg_ws_connect_all(cl, n_cl, 180, &elapsed);
    if (ok < n_cl) {
        return -1;
    }
    lg_proc s0 = lg_proc_sample(lg_opt.server_pid);
    ev_timer w;
    last = lg_now();
    ev_timer_init(&w, add_cb, 0.005, 0.005);
    ev_timer_start(lg_loop, &w);
    /* issue for up to --duration, then wait for matches up to 8 s more */
    lg_phase_run(lg_opt.duration_s + 8);
    ev_timer_stop(lg_loop, &w);
    lg_proc s1 = lg_proc_sample(lg_opt.server_pid);
    double span = t_last_add - t_first;
    double tps = span > 0 ? (n_added - 1) / span : 0;
    double p50 = lg_lat_pct(&lat, 50), p99 = lg_lat_pct(&lat, 99);
    json_object_set_new(out, "tickets", json_integer(n_added));
    json_object_set_new(out, "tickets_acked", json_integer(n_acked));
    json_object_set_new(out, "tickets_per_s", json_real(lg_round(tps, 1)));
    json_object_set_new(out, "matched", json_integer(n_matched));
    json_object_set_new(out, "removed", json_integer(n_removed));
    json_object_set_new(out, "errors", json_integer(n_errors));
    json_object_set_new(out, "time_to_matched_p50_ms", json_real(lg_round(p50, 1)));
    json_object_set_new(out, "time_to_matched_p99_ms", json_real(lg_round(p99, 1)));
    lg_put_proc(out, "window", &s0, &s1);
    lg_figure(out, "tickets/s submitted", tps, "/s", NULL, -1);
    lg_figure(out, "tickets matched", n_matched, "", NULL, -1);
    lg_figure(out, "time to matched p50", p50, "ms", NULL, -1);
    lg_figure(out, "time to matched p99", p99, "ms", NULL, -1);
    if (s0.ok && s1.ok && n_added)
        lg_figure(out, "server CPU per ticket (+its matches)", (s1.cpu_s - s0.cpu_s) / n_added * 1e6, "us",
                  NULL, -1);
    lg_lat_free(&lat);
    return n_errors == 0 ? 0 : -1;
}
