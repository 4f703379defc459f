/*
 * server.h - the one narrow interface between the runtime and feature
 * modules (modules/<name>/). A module sees sessions, HTTP requests, the
 * database, timers on the loop and metrics only through these calls.
 *
 * Threading: everything here runs on the single event-loop thread.
 * Identity: sessions are reached by integer ids (mb_session_get returns
 * NULL for a closed one); pointers are valid only for the current callback.
 *
 * This header declares nothing itself: it gathers the runtime headers a
 * module may use (docs/DEVELOPING.md, "Layers"). Files in runtime/ include
 * the headers they need, never this one (tools/lint.sh checks it).
 */
#ifndef MB_SERVER_H
#define MB_SERVER_H

#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"
#include "module.h"
#include "protocol.h"
#include "session.h"
#include "token.h"
#include "uuid.h"

#endif
