/*
 * config.h - server configuration.
 *
 * Precedence: command-line flags > MOONBASE_* environment > config file
 * (--config FILE, a JSON object whose keys are the long flag names) >
 * defaults. Every option is described once, in a table of mb_option rows
 * that drives parsing, the environment names and `moonbase --help`: the
 * runtime's own in config.c (fields of mb_config), and each module's in
 * its mb_module record (.options: variables of the module; module.h).
 */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { MB_OPT_STR, MB_OPT_INT } mb_opt_type;

/* One option: flag --<name>, environment MOONBASE_<NAME> (upper case, '-'
 * -> '_'), config-file key <name>. The value goes to var (a module's
 * `int` or `char *` variable, see MB_OPT_I/MB_OPT_S) or, when var is NULL,
 * to the mb_config field at offset (the runtime's table). Strings are
 * malloc'd and freed by mb_config_free. A table ends with {NULL}. */
typedef struct mb_option {
    const char *name;
    mb_opt_type type;
    size_t offset;
    void *var;
    const char *def; /* default as text; NULL = unset */
    long min, max;   /* MB_OPT_INT: accepted range */
    const char *help;
} mb_option;
/* Row heads for a module's table: {"chat-rate", MB_OPT_I(chat_rate), "10", 1, 10000, "help"} */
#define MB_OPT_I(var) MB_OPT_INT, 0, &(var)
#define MB_OPT_S(var) MB_OPT_STR, 0, &(var)

/* The option tables of the modules (--help prints them under the module's
 * name), as a list ending with {NULL}. */
typedef struct mb_option_group {
    const char *owner; /* module name */
    const mb_option *options;
} mb_option_group;

typedef struct mb_config {
    char *host;
    int port;
    char *tls_cert; /* NULL: plain ws:// and http:// */
    char *tls_key;
    char *database_url;
    char *scripts_dir;
    char *data_dir;
    char *migrations_dir;
    char *static_dir; /* console/ and demo files root */
    char *log_level;
    char *mode;         /* "development" | "production" */
    char *jwt_secret;   /* NULL: development key under data_dir */
    char *admin_token;  /* NULL: admin routes disabled (dev: generated) */
    char *cors_origins; /* comma list or "*" */
    int token_ttl_s;
    int refresh_ttl_s;
    int max_message_bytes;
    int max_json_depth;
    int msg_rate; /* messages per second per connection */
    int msg_burst;
    int auth_rate_per_min; /* auth REST calls per IP per minute */
    int auth_timeout_ms;
    int idle_timeout_ms;
    int outbound_limit_bytes; /* per socket; past it the socket is closed */
    int max_connections;
    int db_pool_size;
    int db_startup_timeout_ms;
    int db_query_timeout_ms;
    int shutdown_timeout_ms;
    int io_batch_us; /* minimum time between two polls (libev io collect interval) */
    /* Module options (input-rate, tick-slot-ms, lua-*, chat-*,
     * matchmaker-interval-ms) live in the modules that own them. */
    const mb_option_group *groups; /* the module tables this config was loaded with */
    /* cluster (docs/CLUSTER.md): NULL redis_url = one node, no Redis. These
     * stay runtime options like database-url: runtime/redis.c is a runtime
     * service (layer 2) and /healthz reports it. */
    char *redis_url;
    char *node_id;    /* NULL: <hostname>-<port> */
    char *public_url; /* NULL: http(s)://<host>:<port> */
    int redis_grace_ms;
} mb_config;

/* The three outcomes of loading the configuration. */
typedef enum mb_config_status {
    MB_CONFIG_OK = 0,
    MB_CONFIG_ERR = -1, /* the reason is in err */
    MB_CONFIG_HELP = 1, /* --help or --version was printed: the caller exits 0 */
} mb_config_status;

/* Fill cfg from defaults, file, environment and argv (argv[0] and the
 * subcommand already consumed: pass the remaining flags). On error writes
 * the reason to err (MB_CONFIG_ERR). cfg owns its strings: mb_config_free. */
mb_config_status mb_config_load(mb_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen);
/* The same with the modules' tables too (groups: borrowed for the life of
 * cfg; NULL = none). A name used twice (runtime and module, or two
 * modules) is an error. */
mb_config_status mb_config_load_groups(mb_config *cfg, const mb_option_group *groups, int argc, char **argv,
                                       char **envp, char *err, size_t errlen);
void mb_config_free(mb_config *cfg);
/* Print the option tables (for --help) to stdout: the runtime's, then
 * each group's under its owner's name. */
void mb_config_usage(const char *prog, const mb_option_group *groups);
/* true in production mode */
bool mb_config_production(const mb_config *cfg);

#endif
