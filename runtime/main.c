/*
 * main.c - the moonbase binary: `moonbase [serve]`, `moonbase migrate`,
 * `moonbase simulate`, `moonbase describe` (the registry as JSON). Assembles the modules; the runtime itself knows
 * none of them.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "core.h"
#include "db.h"
#include "log.h"

#include "account.h"
#include "rpc.h"
#include "simulate.h"

extern const mb_module match_module;
extern const mb_module vote_module;
extern const mb_module matchmaker_module;
extern const mb_module admin_module;
extern const mb_module admin_history_module; /* finished matches, script errors */
extern const mb_module social_module;
extern const mb_module chat_module;
extern const mb_module storage_module;
extern const mb_module cluster_module; /* first: the others call it (docs/CLUSTER.md) */
extern const mb_module leaderboard_module;

#ifndef MB_VERSION
#define MB_VERSION "0.1.0"
#endif

extern char **environ;

/* A module comes after the modules its .requires names (checked at start). */
static const mb_module *const modules[] = {
    &cluster_module, /* first: the modules below call it */
    &account_module,       &match_module,         &rpc_module,  &social_module,     &chat_module,
    &storage_module,       &leaderboard_module,   &vote_module, &matchmaker_module, &admin_module,
    &admin_history_module, &account_admin_module, NULL,
};

int main(int argc, char **argv)
{
    const char *cmd = "serve";
    int first = 1;
    if (argc > 1 && argv[1][0] != '-') {
        cmd = argv[1];
        first = 2;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("moonbase %s\n", MB_VERSION);
        return 0;
    }
    if (strcmp(cmd, "simulate") == 0) {
        if (sodium_init() < 0) {
            fprintf(stderr, "moonbase: libsodium failed to initialise\n");
            return 1;
        }
        return simulate_main(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "describe") == 0) return mb_core_describe(modules, stdout);
    if (strcmp(cmd, "serve") && strcmp(cmd, "migrate")) {
        fprintf(stderr, "moonbase: unknown command \"%s\" (serve, migrate, simulate, describe; see --help)\n",
                cmd);
        return 2;
    }
    mb_config cfg;
    char err[512];
    mb_config_status rc =
        mb_core_config_load(&cfg, modules, argc - first, argv + first, environ, err, sizeof err);
    if (rc == MB_CONFIG_HELP) return 0;
    if (rc != MB_CONFIG_OK) {
        fprintf(stderr, "moonbase: %s\n", err);
        return 2;
    }
    mb_log_set_level((mb_log_level)mb_log_parse_level(cfg.log_level));
    if (!cfg.database_url || !*cfg.database_url) {
        fprintf(stderr, "moonbase: no database configured: pass --database-url or set "
                        "MOONBASE_DATABASE_URL (make run starts a private PostgreSQL for you)\n");
        mb_config_free(&cfg);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "moonbase: libsodium failed to initialise\n");
        mb_config_free(&cfg);
        return 1;
    }
    if (strcmp(cmd, "migrate") == 0) {
        rc = mb_db_migrate(cfg.database_url, cfg.migrations_dir, cfg.db_startup_timeout_ms) == MB_OK ? 0 : 1;
        mb_config_free(&cfg);
        return rc;
    }
    mb_info("starting", "version=%s mode=%s", MB_VERSION, cfg.mode);
    if (mb_core_keys_init(&cfg) != MB_OK ||
        mb_db_migrate(cfg.database_url, cfg.migrations_dir, cfg.db_startup_timeout_ms) != MB_OK) {
        mb_config_free(&cfg);
        return 1;
    }
    rc = mb_core_serve(&cfg, modules);
    mb_config_free(&cfg);
    return rc;
}
