/*
 * loop.h - the event loop (loop.c): the libev loop, deferred work, the
 * worker thread, the configuration pointer and the shutting-down flag.
 * Layer 1: uses only the base layer (mb.h, config.h).
 */
#ifndef MB_LOOP_H
#define MB_LOOP_H

#include <ev.h>
#include <stdbool.h>

#include "config.h"

struct ev_loop *mb_loop(void);
const mb_config *mb_cfg(void);
/* Has shutdown begun (SIGTERM/SIGINT)? */
bool mb_shutting_down(void);

/* Run fn(ud) later on the loop, before it next sleeps (never from inside
 * the caller's stack). Used to defer callbacks and destruction. */
typedef void (*mb_defer_fn)(void *ud);
void mb_defer(mb_defer_fn fn, void *ud);

/* Off-loop CPU work (argon2id): work runs on a worker thread and must not
 * touch loop state; done runs on the loop afterwards with the same ud. */
typedef void (*mb_work_fn)(void *ud);
void mb_worker_submit(mb_work_fn work, mb_work_fn done, void *ud);

/* ------------------------------------------------------- runtime only */
/* Create the default loop, the prepare watcher and the worker thread.
 * on_prepare runs before the loop sleeps, after the deferred work (core.c
 * passes the hook that reaches the upper layers). cfg is borrowed. */
void mb_loop_init(const mb_config *cfg, void (*on_prepare)(void));
/* Run the deferred work now (until empty, bounded). */
void mb_loop_run_deferred(void);
/* From now on mb_shutting_down() is true. */
void mb_loop_begin_shutdown(void);
/* Stop and join the worker thread, running the remaining done callbacks. */
void mb_loop_worker_stop(void);
/* Free the deferred queue, stop the watchers and destroy the loop. */
void mb_loop_destroy(void);

#endif
