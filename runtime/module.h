/*
 * module.h - what a feature module hands the runtime (core.c registers
 * it). Header only: the registry is in core.c.
 */
#ifndef MB_MODULE_H
#define MB_MODULE_H

#include <stddef.h>

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
} mb_module;

#endif
