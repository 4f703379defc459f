/*
 * config.h - server configuration.
 *
 * Precedence: command-line flags > MOONBASE_* environment > config file
 * (--config FILE, a JSON object whose keys are the long flag names) >
 * defaults. Every option is described once, in the table in config.c,
 * which drives parsing, the environment names and `moonbase --help`.
 */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    int input_rate;   /* match.input per second per player */
    int io_batch_us;  /* minimum time between two polls (libev io collect interval) */
    int tick_slot_ms; /* tick phases snap to slots of this width (0: free) */
    int matchmaker_interval_ms;
    int chat_rate; /* chat.send per second per player */
    int chat_max_length;
    int lua_memory_mb;    /* per match VM */
    int lua_time_ms;      /* hard limit per callback (0: min(50 ms, tick period)) */
    int lua_init_time_ms; /* hard limit of script load, init and reload */
    int lua_jit;          /* 1: JIT compiler on for match/server scripts */
    int lua_warn_ms;      /* slow-callback warning */
    /* cluster (docs/CLUSTER.md): NULL redis_url = one node, no Redis */
    char *redis_url;
    char *node_id;    /* NULL: <hostname>-<port> */
    char *public_url; /* NULL: http(s)://<host>:<port> */
    int redis_grace_ms;
} mb_config;

/* Fill cfg from defaults, file, environment and argv (argv[0] and the
 * subcommand already consumed: pass the remaining flags). On error writes
 * a message to err and returns -1; returns 1 when --help was printed (the
 * caller exits 0), 0 otherwise. cfg owns its strings: mb_config_free. */
int mb_config_load(mb_config *cfg, int argc, char **argv, char **envp, char *err, size_t errlen);
void mb_config_free(mb_config *cfg);
/* Print the option table (for --help) to stdout. */
void mb_config_usage(const char *prog);
/* true in production mode */
bool mb_config_production(const mb_config *cfg);

#endif
