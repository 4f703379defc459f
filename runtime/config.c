/* config.c - option table, parsing and precedence (see config.h). */
#include "config.h"
#include "mb.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(field) MB_OPT_STR, offsetof(mb_config, field), NULL
#define I(field) MB_OPT_INT, offsetof(mb_config, field), NULL

static const mb_option opts[] = {
    {"host", S(host), "127.0.0.1", 0, 0, "address to listen on (IPv4 or IPv6; :: = IPv6 and IPv4)"},
    {"port", I(port), "7350", 1, 65535, "TCP port for WebSocket and HTTP"},
    {"tls-cert", S(tls_cert), NULL, 0, 0,
     "PEM certificate chain: serve https/wss (with --tls-key; SIGHUP reloads both)"},
    {"tls-key", S(tls_key), NULL, 0, 0, "PEM private key of --tls-cert"},
    {"database-url", S(database_url), NULL, 0, 0, "PostgreSQL connection URL (required)"},
    {"scripts", S(scripts_dir), "./scripts", 0, 0, "Lua scripts folder (modes/, lib/, server.lua)"},
    {"data-dir", S(data_dir), ".moonbase", 0, 0, "state folder (development keys)"},
    {"migrations", S(migrations_dir), "./migrations", 0, 0, "SQL migrations folder"},
    {"static", S(static_dir), ".", 0, 0, "folder holding console/ and demo/"},
    {"log-level", S(log_level), "info", 0, 0, "debug | info | warn | error"},
    {"mode", S(mode), "development", 0, 0, "development | production (production refuses dev keys)"},
    {"jwt-secret", S(jwt_secret), NULL, 0, 0, "HS256 key for session tokens (>= 32 chars)"},
    {"admin-token", S(admin_token), NULL, 0, 0, "bearer token for /v1/admin/* (>= 16 chars)"},
    {"cors-origins", S(cors_origins), "", 0, 0, "allowed Origins for REST, comma separated or *"},
    {"token-ttl", I(token_ttl_s), "900", 10, 86400, "session token lifetime, seconds"},
    {"refresh-ttl", I(refresh_ttl_s), "2592000", 60, 31536000, "refresh token lifetime, seconds"},
    {"max-message-bytes", I(max_message_bytes), "65536", 256, 16777216, "largest WebSocket message"},
    {"max-json-depth", I(max_json_depth), "32", 2, 256, "deepest JSON nesting accepted"},
    {"msg-rate", I(msg_rate), "50", 1, 100000, "messages per second per connection"},
    {"msg-burst", I(msg_burst), "100", 1, 100000, "message burst per connection"},
    {"auth-rate", I(auth_rate_per_min), "60", 1, 1000000, "auth requests per minute per IP"},
    {"auth-timeout-ms", I(auth_timeout_ms), "10000", 100, 600000, "close sockets not authenticated by then"},
    {"idle-timeout-ms", I(idle_timeout_ms), "60000", 100, 3600000, "close sockets silent this long"},
    {"outbound-limit", I(outbound_limit_bytes), "1048576", 4096, 268435456,
     "queued bytes per socket before it is closed"},
    {"max-connections", I(max_connections), "20000", 1, 1000000, "open sockets at most"},
    {"db-pool-size", I(db_pool_size), "4", 1, 64, "PostgreSQL connections"},
    {"db-startup-timeout-ms", I(db_startup_timeout_ms), "30000", 0, 600000,
     "wait this long for PostgreSQL at start-up"},
    {"db-query-timeout-ms", I(db_query_timeout_ms), "5000", 100, 600000, "statement timeout"},
    {"shutdown-timeout-ms", I(shutdown_timeout_ms), "5000", 100, 600000, "graceful shutdown bound"},
    {"io-batch-us", I(io_batch_us), "1000", 0, 20000,
     "the loop polls sockets at most once per this many us (0: at once); see docs/PERFORMANCE.md"},
    /* cluster (docs/CLUSTER.md) */
    {"redis-url", S(redis_url), NULL, 0, 0,
     "redis://HOST:PORT[/DB]: cluster mode (membership, match directory, cross-node delivery)"},
    {"node-id", S(node_id), NULL, 0, 0, "this node's name in the cluster (default <hostname>-<port>)"},
    {"public-url", S(public_url), NULL, 0, 0,
     "base URL clients use to reach this node (default http://<host>:<port>)"},
    {"redis-grace-ms", I(redis_grace_ms), "10000", 0, 600000,
     "/healthz fails once Redis has been unreachable this long (cluster mode)"},
};

#undef S
#undef I

static void env_name(const char *name, char *buf, size_t cap)
{
    size_t o = (size_t)snprintf(buf, cap, "MOONBASE_");
    for (; *name && o + 1 < cap; name++) buf[o++] = *name == '-' ? '_' : (char)toupper((unsigned char)*name);
    buf[o] = '\0';
}

/* The k-th option of the runtime's table and then of each group's, or NULL
 * past the end. */
static const mb_option *opt_at(const mb_option_group *groups, size_t k)
{
    if (k < MB_ARRAY_LEN(opts)) return &opts[k];
    k -= MB_ARRAY_LEN(opts);
    for (const mb_option_group *g = groups; g && g->owner; g++)
        for (const mb_option *o = g->options; o && o->name; o++)
            if (k-- == 0) return o;
    return NULL;
}

static void *opt_slot(mb_config *cfg, const mb_option *o)
{
    return o->var ? o->var : (char *)cfg + o->offset;
}

static mb_status set_opt(mb_config *cfg, const mb_option *o, const char *val, const char *src, char *err,
                         size_t errlen)
{
    char *base = opt_slot(cfg, o);
    if (o->type == MB_OPT_STR) {
        char **p = (char **)base;
        free(*p);
        *p = val ? mb_strdup(val) : NULL;
        return MB_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end != '\0' || v < o->min || v > o->max) {
        snprintf(err, errlen, "%s: option %s must be an integer in %ld..%ld (got \"%s\")", src, o->name,
                 o->min, o->max, val);
        return MB_ERR;
    }
    *(int *)base = (int)v;
    return MB_OK;
}

static const mb_option *find_opt(const mb_option_group *groups, const char *name, size_t len)
{
    const mb_option *o;
    for (size_t i = 0; (o = opt_at(groups, i)); i++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static mb_status load_file(mb_config *cfg, const char *path, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "config file %s: %s (line %d)", path, jerr.text, jerr.line);
        return MB_ERR;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "config file %s: must be a JSON object", path);
        json_decref(root);
        return MB_ERR;
    }
    const char *key;
    json_t *val;
    json_object_foreach (root, key, val) {
        const mb_option *o = find_opt(cfg->groups, key, strlen(key));
        if (!o) {
            snprintf(err, errlen, "config file %s: unknown option \"%s\"", path, key);
            json_decref(root);
            return MB_ERR;
        }
        char num[32];
        const char *text;
        if (json_is_string(val)) text = json_string_value(val);
        else if (json_is_integer(val)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(val));
            text = num;
        } else {
            snprintf(err, errlen, "config file %s: option \"%s\" must be a string or integer", path, key);
            json_decref(root);
            return MB_ERR;
        }
        if (set_opt(cfg, o, text, path, err, errlen) != MB_OK) {
            json_decref(root);
            return MB_ERR;
        }
    }
    json_decref(root);
    return MB_OK;
}

static void usage_rows(const mb_option *o, size_t n)
{
    char env[64];
    for (; n-- && o->name; o++) {
        env_name(o->name, env, sizeof env);
        printf("  --%-24s %s\n  %-26s env %s, default %s\n", o->name, o->help, "", env,
               o->def ? o->def : "(none)");
    }
}

void mb_config_usage(const char *prog, const mb_option_group *groups)
{
    printf(
        "Usage: %s [serve|migrate|simulate|describe] [options]\n\n"
        "Commands:\n"
        "  serve      run the server (default)\n"
        "  migrate    apply migrations and exit\n"
        "  simulate   run a match offline: simulate <mode> --players N --ticks T [--inputs FILE]\n"
        "  describe   print the message types, REST routes (with their body fields) and error codes as JSON\n\n"
        "Options (flag > MOONBASE_* environment > --config FILE (JSON) > default):\n",
        prog);
    usage_rows(opts, MB_ARRAY_LEN(opts));
    printf("  --%-24s %s\n  --%-24s %s\n  --%-24s %s\n", "config FILE", "JSON config file", "help",
           "show this help", "version", "print the version");
    for (const mb_option_group *g = groups; g && g->owner; g++) {
        if (!g->options || !g->options->name) continue;
        printf("\nOptions of module %s:\n", g->owner);
        usage_rows(g->options, SIZE_MAX);
    }
}

mb_config_status mb_config_load(mb_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen)
{
    return mb_config_load_groups(cfg, NULL, argc, argv, envp, err, errlen);
}

mb_config_status mb_config_load_groups(mb_config *cfg, const mb_option_group *groups, int argc, char **argv,
                                       char **envp, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->groups = groups;
    const mb_option *o;
    for (size_t i = 0; (o = opt_at(groups, i)); i++)
        if (find_opt(groups, o->name, strlen(o->name)) != o) { /* before anything is allocated */
            snprintf(err, errlen, "option %s is declared twice (runtime or module tables)", o->name);
            cfg->groups = NULL;
            return MB_CONFIG_ERR;
        }
    for (size_t i = 0; (o = opt_at(groups, i)); i++) {
        if (o->type == MB_OPT_STR) *(char **)opt_slot(cfg, o) = NULL; /* a module's: from an earlier load */
        else *(int *)opt_slot(cfg, o) = 0;
        if (o->def) set_opt(cfg, o, o->def, "default", err, errlen);
    }

    /* config file: from --config (flag) or MOONBASE_CONFIG */
    const char *file = NULL;
    for (char **e = envp; e && *e; e++)
        if (strncmp(*e, "MOONBASE_CONFIG=", 16) == 0) file = *e + 16;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            mb_config_usage("moonbase", groups);
            return MB_CONFIG_HELP;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    }
    if (file && *file && load_file(cfg, file, err, errlen) != MB_OK) goto fail;

    char env[64];
    for (size_t i = 0; (o = opt_at(groups, i)); i++) {
        env_name(o->name, env, sizeof env);
        const char *v = NULL;
        size_t n = strlen(env);
        for (char **e = envp; e && *e; e++)
            if (strncmp(*e, env, n) == 0 && (*e)[n] == '=') v = *e + n + 1;
        if (v && set_opt(cfg, o, v, env, err, errlen) != MB_OK) goto fail;
    }

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", a);
            goto fail;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        const char *val = eq ? eq + 1 : NULL;
        if (len == 6 && strncmp(a, "config", 6) == 0) {
            if (!eq) i++;
            continue;
        }
        o = find_opt(groups, a, len);
        if (!o) {
            snprintf(err, errlen, "unknown option --%.*s (see --help)", (int)len, a);
            goto fail;
        }
        if (!val) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "option --%s needs a value", o->name);
                goto fail;
            }
            val = argv[++i];
        }
        if (set_opt(cfg, o, val, "flag", err, errlen) != MB_OK) goto fail;
    }

    if (strcmp(cfg->mode, "development") != 0 && strcmp(cfg->mode, "production") != 0) {
        snprintf(err, errlen, "option mode must be development or production (got \"%s\")", cfg->mode);
        goto fail;
    }
    if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level, "info") && strcmp(cfg->log_level, "warn") &&
        strcmp(cfg->log_level, "error")) {
        snprintf(err, errlen, "option log-level must be debug, info, warn or error (got \"%s\")",
                 cfg->log_level);
        goto fail;
    }
    if (cfg->jwt_secret && strlen(cfg->jwt_secret) < 32) {
        snprintf(err, errlen, "option jwt-secret must be at least 32 characters");
        goto fail;
    }
    if (cfg->admin_token && *cfg->admin_token && strlen(cfg->admin_token) < 16) {
        snprintf(err, errlen, "option admin-token must be at least 16 characters");
        goto fail;
    }
    if (cfg->tls_cert && !*cfg->tls_cert) {
        free(cfg->tls_cert);
        cfg->tls_cert = NULL;
    }
    if (cfg->tls_key && !*cfg->tls_key) {
        free(cfg->tls_key);
        cfg->tls_key = NULL;
    }
    if (!cfg->tls_cert != !cfg->tls_key) {
        snprintf(err, errlen, "options tls-cert and tls-key go together (got only %s)",
                 cfg->tls_cert ? "tls-cert" : "tls-key");
        goto fail;
    }
    if (cfg->msg_burst < 1) cfg->msg_burst = 1;
    if (cfg->redis_url && !*cfg->redis_url) {
        free(cfg->redis_url);
        cfg->redis_url = NULL;
    }
    if (cfg->node_id &&
        (!*cfg->node_id || strlen(cfg->node_id) > 64 || strpbrk(cfg->node_id, " \t\r\n:*?[]\"\\"))) {
        snprintf(err, errlen, "option node-id must be 1..64 characters without spaces, quotes or : * ? [ ]");
        goto fail;
    }
    if (cfg->public_url && *cfg->public_url && strncmp(cfg->public_url, "http://", 7) != 0 &&
        strncmp(cfg->public_url, "https://", 8) != 0) {
        snprintf(err, errlen, "option public-url must start with http:// or https:// (got \"%.80s\")",
                 cfg->public_url);
        goto fail;
    }
    return MB_CONFIG_OK;
fail:
    mb_config_free(cfg);
    return MB_CONFIG_ERR;
}

void mb_config_free(mb_config *cfg)
{
    const mb_option *o;
    for (size_t i = 0; (o = opt_at(cfg->groups, i)); i++) {
        if (o->type != MB_OPT_STR) continue;
        char **p = opt_slot(cfg, o);
        free(*p);
        *p = NULL;
    }
}

bool mb_config_production(const mb_config *cfg) { return cfg->mode && strcmp(cfg->mode, "production") == 0; }
