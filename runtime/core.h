/*
 * core.h - the top of the runtime (core.c): start-up, the module registry,
 * signals and graceful shutdown. Used by main.c (and tests).
 */
#ifndef MB_CORE_H
#define MB_CORE_H

#include <stdio.h>

#include "config.h"
#include "module.h"
#include "server.h"

/* Run the server until SIGTERM/SIGINT; modules is a NULL-terminated list.
 * Returns the process exit code. cfg is borrowed for the whole run. */
int mb_core_serve(const mb_config *cfg, const mb_module *const *modules);

/* `moonbase describe`: the registry as one JSON document (message types
 * with their fields, REST routes with auth and body fields, error codes),
 * printed to out without starting anything. Returns the exit code. */
int mb_core_describe(const mb_module *const *modules, FILE *out);

/* At most this many modules in one list. */
#define MB_MODULES_MAX 64
/* Check a module list: each record valid (MB_MODULE_API, name, init,
 * destroy), each name once, each module's .requires listed before it.
 * Returns -1 with a message in err. */
mb_status mb_modules_check(const mb_module *const *modules, char *err, size_t errlen);
/* mb_config_load with the options of the modules (their .options tables),
 * after mb_modules_check. Same returns as mb_config_load. */
mb_config_status mb_core_config_load(mb_config *cfg, const mb_module *const *modules, int argc, char **argv,
                                     char **envp, char *err, size_t errlen);

/* The module registry, called through the hooks session.c and http.c get. */
void mb_modules_session_authed(mb_session *s);
void mb_modules_session_closed(mb_session *s);
char *mb_modules_metrics(void);

#endif
