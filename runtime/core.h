/*
 * core.h - process-level runtime: start-up, the loop and its prepare hook,
 * modules, signals and graceful shutdown. Used by main.c (and tests).
 */
#ifndef MB_CORE_H
#define MB_CORE_H

#include "server.h"

/* Run the server until SIGTERM/SIGINT; modules is a NULL-terminated list.
 * Returns the process exit code. cfg is borrowed for the whole run. */
int mb_core_serve(const mb_config *cfg, const mb_module *const *modules);

/* Load or create the development JWT key under data_dir (or use the
 * configured one). Returns -1 with a logged reason when production mode
 * lacks a proper key. */
int mb_core_keys_init(const mb_config *cfg);

#endif
