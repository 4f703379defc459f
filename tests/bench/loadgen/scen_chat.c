/*
 * scen_chat.c - fan-out in one channel: N players chat.join "bench", S of
 * them send chat.send at --rate messages/s in total; every member counts
 * chat.message deliveries and the time since the send (the content carries
 * the sender's send time; one process, one clock). When the server has no
 * chat module (chat.join answered "unsupported"), the run is skipped.
 */
#include "loadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static lg_client *cl;
static int n_cl, n_joined, n_join_err, shown;
static bool measuring, unsupported;
static uint64_t delivered, sent, errors;
static double carry, last;
static size_t pos;
static lg_lat lat;
static char skip_reason[256];

static void on_message(lg_client *c, const char *data, size_t len)
{
    json_t *j = json_loadb(data, len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    json_t *p = json_object_get(j, "payload");
    if (!type) type = "";
    if (strcmp(type, "chat.message") == 0) {
        const char *content = json_string_value(json_object_get(p, "content"));
        double t;
        if (measuring) {
            delivered++;
            if (content && sscanf(content, "lg %lf", &t) == 1) lg_lat_add(&lat, (lg_now() - t) * 1000);
        }
    } else if (strcmp(type, "chat.joined") == 0 ||
               (json_object_get(j, "cid") &&
                strcmp(json_string_value(json_object_get(j, "cid")), "join") == 0 &&
                strcmp(type, "error") != 0)) {
        if (++n_joined + n_join_err == n_cl) lg_phase_done();
    } else if (strcmp(type, "error") == 0) {
        errors++;
        const char *code = json_string_value(json_object_get(p, "code"));
        const char *rt = json_string_value(json_object_get(p, "request_type"));
        if (rt && strcmp(rt, "chat.join") == 0) {
            if (code && strcmp(code, "unsupported") == 0) {
                unsupported = true;
                snprintf(skip_reason, sizeof skip_reason, "server has no chat module (chat.join: %s)",
                         json_string_value(json_object_get(p, "message")));
                lg_phase_done();
            } else if (++n_join_err + n_joined == n_cl) {
                lg_phase_done();
            }
        }
        if (shown++ < 5) lg_say("client %d: %.*s", c->idx, (int)(len > 300 ? 300 : len), data);
    }
    json_decref(j);
}

static void send_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    double now = lg_now();
    carry += lg_opt.rate * (now - last);
    last = now;
    int S = lg_opt.senders < n_cl ? lg_opt.senders : n_cl;
    while (carry >= 1) {
        carry -= 1;
        char content[64];
        snprintf(content, sizeof content, "lg %.6f", now);
        lg_client *c = &cl[pos++ % (size_t)S];
        if (lg_ws_send_json(c, "chat.send",
                            json_pack("{s:s,s:s}", "channel_id", "bench", "content", content)) &&
            measuring)
            sent++;
    }
}

int lg_scen_chat(json_t *out)
{
    n_cl = lg_opt.clients;
    json_object_set_new(out, "clients", json_integer(n_cl));
    json_object_set_new(out, "senders", json_integer(lg_opt.senders));
    json_object_set_new(out, "rate", json_real(lg_opt.rate));
    /* Ask first with one client: skip cleanly when chat does not exist. */
    int probe_n = n_cl < 1 ? n_cl : 1;
    lg_account *acc = lg_accounts_create(n_cl);
    static const lg_ws_handlers h = {.on_message = on_message};
    lg_ws_init(&h);
    cl = lg_calloc((size_t)n_cl, sizeof *cl);
    for (int i = 0; i < n_cl; i++) cl[i].acct = &acc[i];
    double elapsed;
    if (lg_ws_connect_all(cl, probe_n, 30, &elapsed) < probe_n) return -1;
    json_t *cid_join =
        json_pack("{s:s,s:s,s:{s:s}}", "cid", "join", "type", "chat.join", "payload", "channel_id", "bench");
    char *s = json_dumps(cid_join, JSON_COMPACT);
    json_decref(cid_join);
    int saved = n_cl;
    n_cl = probe_n;
    lg_ws_send(&cl[0], s, strlen(s));
    lg_phase_run(5);
    n_cl = saved;
    if (unsupported || n_joined == 0) {
        if (!unsupported) snprintf(skip_reason, sizeof skip_reason, "chat.join got no reply in 5 s");
        lg_say("chat: skipped: %s", skip_reason);
        json_object_set_new(out, "skipped", json_string(skip_reason));
        free(s);
        return 0;
    }
    if (lg_ws_connect_all(cl + 1, n_cl - 1, 180, &elapsed) < n_cl - 1) {
        free(s);
        return -1;
    }
    for (int i = 1; i < n_cl; i++) lg_ws_send(&cl[i], s, strlen(s));
    free(s);
    lg_phase_run(60);
    lg_say("%d joined the channel (%d refused)", n_joined, n_join_err);
    ev_timer w;
    last = lg_now();
    ev_timer_init(&w, send_cb, 0.005, 0.005);
    ev_timer_start(lg_loop, &w);
    lg_phase_run(lg_opt.warmup_s > 0 ? lg_opt.warmup_s : 1);
    lg_proc s0 = lg_proc_sample(lg_opt.server_pid);
    measuring = true;
    lg_phase_run(lg_opt.duration_s);
    measuring = false;
    lg_proc s1 = lg_proc_sample(lg_opt.server_pid);
    ev_timer_stop(lg_loop, &w);
    double win = s1.at - s0.at;
    double p50 = lg_lat_pct(&lat, 50), p99 = lg_lat_pct(&lat, 99);
    json_object_set_new(out, "joined", json_integer(n_joined));
    json_object_set_new(out, "sent", json_integer((json_int_t)sent));
    json_object_set_new(out, "delivered", json_integer((json_int_t)delivered));
    json_object_set_new(out, "deliveries_per_s", json_real(lg_round(delivered / win, 1)));
    json_object_set_new(out, "errors", json_integer((json_int_t)errors));
    json_object_set_new(out, "latency_p50_ms", json_real(lg_round(p50, 2)));
    json_object_set_new(out, "latency_p99_ms", json_real(lg_round(p99, 2)));
    lg_put_proc(out, "window", &s0, &s1);
    lg_figure(out, "chat deliveries/s", delivered / win, "/s", NULL, -1);
    lg_figure(out, "chat latency p50", p50, "ms", NULL, -1);
    lg_figure(out, "chat latency p99", p99, "ms", NULL, -1);
    if (s0.ok && s1.ok && delivered)
        lg_figure(out, "server CPU per 100k deliveries", (s1.cpu_s - s0.cpu_s) / delivered * 1e5, "s", NULL,
                  -1);
    lg_lat_free(&lat);
    return 0;
}
