/*
 * module.h - what a feature module hands the runtime (core.c registers
 * it). Header only: the registry is in core.c. docs/DEVELOPING.md
 * ("Layers and modules") describes every field and how to add a module.
 */
#ifndef MB_MODULE_H
#define MB_MODULE_H

#include <stddef.h>

#include "config.h"
#include "http.h"
#include "mb.h"
#include "protocol.h"
#include "session.h"

#define MB_MODULE_API 1

typedef struct mb_module {
    int api; /* MB_MODULE_API */
    const char *name;
    mb_status (*init)(void); /* mandatory */
    void (*shutdown)(void);  /* graceful stop begins (optional) */
    void (*destroy)(void);   /* free everything (mandatory) */
    const mb_msg_def *messages;
    size_t n_messages;
    const mb_route *routes;
    size_t n_routes;
    void (*session_authed)(mb_session *s); /* optional */
    void (*session_closed)(mb_session *s); /* optional; s still readable */
    void (*before_sleep)(void);            /* optional batch hook */
    /* optional: extra /metrics text appended (caller frees the string) */
    char *(*metrics)(void);
    /* optional (NULL = none): names of the modules this one uses, ending
     * with NULL (MB_REQUIRES). They must be in the module list before it
     * (the runtime refuses to start otherwise), and its files may include
     * their public headers (tools/lint-deps.js reads this initializer). */
    const char *const *requires;
    /* optional: the options this module owns ({NULL}-terminated mb_option
     * table, config.h): parsed with the runtime's, listed by --help. */
    const mb_option *options;
    /* optional: called once every module's init has run, in list order:
     * start work that needs the other modules' registrations (the match
     * module loads the scripts here, after the Lua functions are added). */
    mb_status (*start)(void);
} mb_module;

/* .requires = MB_REQUIRES("match", "social"): write the names as string
 * literals, one initializer per record (tools/lint-deps.js parses it). */
#define MB_REQUIRES(...) ((const char *const[]){__VA_ARGS__, NULL})

#endif
