/*
 * core.c - the top of the runtime (below main.c only): the module
 * registry, start-up in order, the prepare hook, signals and graceful
 * shutdown. It wires the upward callbacks of the layers below (session.c
 * and http.c reach the modules and the transport only through the hooks
 * set here). The loop itself is loop.c, tokens token.c.
 */
#include "core.h"
#include "http_internal.h"
#include "loop.h"
#include "redis.h"
#include "session_internal.h"
#include "token.h"
#include "transport.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const mb_config *cfg;
static const mb_module *const *mods;
static int64_t shutdown_deadline;
static ev_signal sigterm_w, sigint_w;
static ev_timer shutdown_w;

/* The prepare hook (loop.c runs deferred work first). */
static void prepare_cb(void)
{
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->before_sleep) (*m)->before_sleep();
    mb_loop_run_deferred();
    mb_sessions_flush();
    mb_sessions_reap();
    mb_token_cache_tick();
}

/* ----------------------------------------------------------- modules */
void mb_modules_session_authed(mb_session *s)
{
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->session_authed) (*m)->session_authed(s);
}

void mb_modules_session_closed(mb_session *s)
{
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->session_closed) (*m)->session_closed(s);
}

char *mb_modules_metrics(void)
{
    char *all = mb_strdup("");
    for (const mb_module *const *m = mods; m && *m; m++) {
        if (!(*m)->metrics) continue;
        char *t = (*m)->metrics();
        if (!t) continue;
        char *n = mb_sprintf("%s%s", all, t);
        free(all);
        free(t);
        all = n;
    }
    return all;
}

/* Every module valid, named once, and each module it requires listed
 * before it. */
mb_status mb_modules_check(const mb_module *const *modules, char *err, size_t errlen)
{
    size_t n = 0;
    for (const mb_module *const *m = modules; m && *m; m++, n++) {
        const char *name = (*m)->name ? (*m)->name : "?";
        if ((*m)->api != MB_MODULE_API || !(*m)->name || !(*m)->init || !(*m)->destroy) {
            snprintf(err, errlen,
                     "module %s is invalid (api %d, want %d; name, init and destroy are mandatory)", name,
                     (*m)->api, MB_MODULE_API);
            return MB_ERR;
        }
        if (n >= MB_MODULES_MAX) {
            snprintf(err, errlen, "more than %d modules", MB_MODULES_MAX);
            return MB_ERR;
        }
        for (const mb_module *const *p = modules; p != m; p++)
            if (strcmp((*p)->name, name) == 0) {
                snprintf(err, errlen, "module %s is listed twice", name);
                return MB_ERR;
            }
        for (const char *const *r = (*m)->requires; r && *r; r++) {
            const mb_module *const *p = modules;
            while (p != m && strcmp((*p)->name, *r) != 0) p++;
            if (p != m) continue;
            bool later = false;
            for (const mb_module *const *q = m + 1; *q; q++) later = later || strcmp((*q)->name, *r) == 0;
            snprintf(err, errlen, "module %s requires module %s, which %s", name, *r,
                     later ? "must come before it in the module list (runtime/main.c)" : "is not registered");
            return MB_ERR;
        }
    }
    return MB_OK;
}

mb_config_status mb_core_config_load(mb_config *c, const mb_module *const *modules, int argc, char **argv,
                                     char **envp, char *err, size_t errlen)
{
    static mb_option_group groups[MB_MODULES_MAX + 1];
    memset(c, 0, sizeof *c);
    if (mb_modules_check(modules, err, errlen) != MB_OK) return MB_CONFIG_ERR;
    size_t n = 0;
    for (const mb_module *const *m = modules; m && *m; m++)
        if ((*m)->options) groups[n++] = (mb_option_group){(*m)->name, (*m)->options};
    groups[n] = (mb_option_group){NULL, NULL};
    return mb_config_load_groups(c, groups, argc, argv, envp, err, errlen);
}

/* ---------------------------------------------------------- shutdown */
static void shutdown_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    bool sessions_gone = mb_session_count() == 0;
    bool db_idle = mb_db_pending() == 0;
    if ((sessions_gone && db_idle) || mb_now_ms() >= shutdown_deadline) {
        if (!(sessions_gone && db_idle))
            mb_warn("shutdown_forced", "sessions=%zu db_pending=%d", mb_session_count(), mb_db_pending());
        ev_timer_stop(l, w);
        ev_break(l, EVBREAK_ALL);
    }
}

static void begin_shutdown(struct ev_loop *l, ev_signal *w, int revents)
{
    if (mb_shutting_down()) {
        mb_warn("shutdown_again", "signal=%d note=\"already shutting down\"", w->signum);
        return;
    }
    mb_loop_begin_shutdown();
    mb_info("shutdown_begin", "signal=%d", w->signum);
    shutdown_deadline = mb_now_ms() + cfg->shutdown_timeout_ms;
    for (const mb_module *const *m = mods; m && *m; m++)
        if ((*m)->shutdown) (*m)->shutdown();
    /* Close every socket with 1001 "going away" once modules flushed. */
    size_t it = 0;
    mb_session *s;
    while (mb_session_next(&it, &s)) mb_session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    ev_timer_init(&shutdown_w, shutdown_tick, 0.05, 0.05);
    ev_timer_start(l, &shutdown_w);
}

/* ------------------------------------------------------------- serve */
int mb_core_serve(const mb_config *c, const mb_module *const *modules)
{
    cfg = c;
    mods = modules;
    mb_loop_init(c, prepare_cb);
    struct ev_loop *loop = mb_loop();
    signal(SIGPIPE, SIG_IGN);

    mb_m_sessions = mb_metric("moonbase_sessions", "", MB_GAUGE, "open WebSocket sessions");
    mb_m_sessions_total = mb_metric("moonbase_sessions_total", "", MB_COUNTER, "sessions opened");
    for (int i = 0; i < MB_E__COUNT; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "code=\"%s\"", mb_errcode_str((mb_errcode)i));
        mb_m_errors[i] = mb_metric("moonbase_errors_total", labels, MB_COUNTER, "errors sent by code");
    }

    mb_tokens_register_tables();
    mb_session_register_tables();
    mb_session_set_hooks(
        &(mb_session_hooks){mb_transport_wake, mb_modules_session_authed, mb_modules_session_closed});
    mb_http_set_hooks(&(mb_http_hooks){mb_transport_connections, mb_modules_metrics});

    ev_signal_init(&sigterm_w, begin_shutdown, SIGTERM);
    ev_signal_start(loop, &sigterm_w);
    ev_signal_init(&sigint_w, begin_shutdown, SIGINT);
    ev_signal_start(loop, &sigint_w);

    mb_session_register_builtin();
    mb_http_register_builtin();
    int rc = 0;
    size_t inited = 0;
    char why[256];
    if (mb_modules_check(mods, why, sizeof why) != MB_OK) {
        char q[300];
        mb_error("module_invalid", "reason=%s", mb_log_quote(q, sizeof q, why));
        rc = 1;
    }
    for (const mb_module *const *m = mods; rc == 0 && m && *m; m++) {
        if (mb_protocol_register((*m)->messages, (*m)->n_messages) != MB_OK) {
            mb_error("module_invalid", "module=%s reason=\"duplicate message type\"", (*m)->name);
            rc = 1;
            break;
        }
        mb_http_register((*m)->routes, (*m)->n_routes);
        if ((*m)->init() != MB_OK) {
            mb_error("module_init_failed", "module=%s", (*m)->name);
            rc = 1;
            break;
        }
        inited++;
    }
    for (const mb_module *const *m = mods; rc == 0 && m && *m; m++)
        if ((*m)->start && (*m)->start() != MB_OK) {
            mb_error("module_start_failed", "module=%s", (*m)->name);
            rc = 1;
        }

    mb_db_start(cfg->database_url, cfg->db_pool_size, cfg->db_query_timeout_ms);
    if (rc == 0 && cfg->redis_url && mb_redis_start(cfg->redis_url) != MB_OK) rc = 1; /* cluster mode */
    if (rc == 0 && mb_transport_start() != MB_OK) rc = 1;
    if (rc == 0) {
        mb_info("listening", "host=%s port=%d mode=%s", cfg->host, cfg->port, cfg->mode);
        ev_run(loop, 0);
        mb_info("shutdown_sockets_closed", "sessions=%zu", mb_session_count());
    }

    /* Tear down in reverse: transport first (no more events), then modules. */
    mb_transport_stop();
    mb_db_stop();
    mb_redis_stop();
    mb_loop_run_deferred();
    for (size_t i = inited; i-- > 0;) mods[i]->destroy();
    mb_loop_run_deferred();
    mb_loop_worker_stop();
    mb_sessions_free_all();
    mb_http_free_all();
    mb_db_destroy();
    mb_redis_destroy();
    mb_metric_msg_destroy();
    mb_tokens_destroy();
    mb_metrics_destroy();
    mb_protocol_reset();
    ev_signal_stop(loop, &sigterm_w);
    ev_signal_stop(loop, &sigint_w);
    mb_loop_destroy();
    if (rc == 0) mb_info("shutdown_done", "exit=0");
    return rc;
}

/* ---------------------------------------------------------- describe */

static json_t *describe_number(double d)
{
    return d == (double)(json_int_t)d ? json_integer((json_int_t)d) : json_real(d);
}

static json_t *describe_fields(const mb_field *fields)
{
    json_t *arr = json_array();
    for (const mb_field *f = fields; f && f->name; f++) {
        json_t *o = json_pack("{s:s,s:s,s:b}", "name", f->name, "type", mb_field_type_name(f->type),
                              "required", f->required);
        if (f->min != 0) json_object_set_new(o, "min", describe_number(f->min));
        if (f->max != 0) json_object_set_new(o, "max", describe_number(f->max));
        if (f->format) json_object_set_new(o, "format", json_string(f->format));
        else if (f->check) json_object_set_new(o, "format", json_string("checked"));
        json_array_append_new(arr, o);
    }
    return arr;
}

static void describe_add_messages(json_t *arr, const char *module, size_t from)
{
    for (size_t i = from; i < mb_protocol_count(); i++) {
        const mb_msg_def *d = mb_protocol_at(i);
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:b,s:o}", "type", d->type, "module", module, "before_auth",
                                        d->before_auth, "fields", describe_fields(d->fields)));
    }
}

static void describe_add_routes(json_t *arr, const char *module, size_t from)
{
    static const char *const auths[] = {"none", "bearer", "admin"};
    for (size_t i = from; i < mb_http_route_count(); i++) {
        const mb_route *r = mb_http_route_at(i);
        json_t *body = json_null();
        if (r->body)
            body = json_pack("{s:b,s:b,s:o}", "required", (r->body_rules & MB_BODY_REQUIRED) != 0, "closed",
                             (r->body_rules & MB_BODY_CLOSED) != 0, "fields", describe_fields(r->body));
        json_t *query = r->query ? describe_fields(r->query) : json_null();
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:b,s:o,s:o}", "method", r->method, "path",
                                             r->pattern, "module", module, "auth", auths[r->auth],
                                             "auth_rate_limited", r->auth_rate_limited, "body", body, "query",
                                             query));
    }
}

int mb_core_describe(const mb_module *const *modules, FILE *out)
{
    char why[256];
    if (mb_modules_check(modules, why, sizeof why) != MB_OK) {
        fprintf(stderr, "moonbase: %s\n", why);
        return 1;
    }
    json_t *messages = json_array(), *routes = json_array(), *errors = json_array();
    int rc = 0;
    mb_session_register_builtin();
    mb_http_register_builtin();
    describe_add_messages(messages, "runtime", 0);
    describe_add_routes(routes, "runtime", 0);
    for (const mb_module *const *m = modules; m && *m; m++) {
        size_t nm = mb_protocol_count(), nr = mb_http_route_count();
        if (mb_protocol_register((*m)->messages, (*m)->n_messages) != MB_OK) {
            fprintf(stderr, "moonbase: module %s registers a message type twice\n", (*m)->name);
            rc = 1;
            break;
        }
        mb_http_register((*m)->routes, (*m)->n_routes);
        describe_add_messages(messages, (*m)->name, nm);
        describe_add_routes(routes, (*m)->name, nr);
    }
    for (int i = 0; i < MB_E__COUNT; i++)
        json_array_append_new(errors, json_pack("{s:s,s:i}", "code", mb_errcode_str((mb_errcode)i),
                                                "http_status", mb_errcode_http_status((mb_errcode)i)));
    json_t *doc = json_pack("{s:o,s:o,s:o}", "messages", messages, "routes", routes, "errors", errors);
    if (rc == 0 && json_dumpf(doc, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) fputc('\n', out);
    json_decref(doc);
    mb_http_free_all();
    mb_protocol_reset();
    return rc;
}
