/*
 * transport.h - the libwebsockets context (transport.c): sockets, TLS,
 * static files. Layer 4: calls session.c and http.c directly; they reach
 * it back only through the hooks core.c sets.
 */
#ifndef MB_TRANSPORT_H
#define MB_TRANSPORT_H

#include <libwebsockets.h>
#include <stddef.h>

#include "mb.h"

mb_status mb_transport_start(void);      /* MB_ERR (logged): bad TLS files, cannot listen */
void mb_transport_stop(void);            /* destroy the lws context */
void mb_transport_wake(struct lws *wsi); /* request a writable callback */
void mb_transport_close_all(int code, const char *reason);
size_t mb_transport_connections(void);

#endif
