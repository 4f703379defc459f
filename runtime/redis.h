/*
 * redis.h - the Redis client on the event loop (redis.c): hiredis' async
 * API watched by libev (its libev adapter), no blocking call, no thread.
 * Used only in cluster mode (--redis-url); without it nothing here opens a
 * socket and every call answers "unavailable" at once.
 *
 * Two connections: one for commands, one for pub/sub (a subscribed
 * connection takes no other commands). Both reconnect by themselves with
 * backoff (100 ms doubling up to 1 s) while Redis is away, and the pub/sub
 * connection subscribes again to every registered channel. The "up" hook
 * runs each time both connections are (again) ready, so the cluster layer
 * can register itself again.
 *
 * Layer 2 (services): uses loop.c and the base.
 */
#ifndef MB_REDIS_H
#define MB_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mb.h"

/* A command's callback: reply is NULL when Redis was unreachable or the
 * connection dropped before the answer (the command may or may not have
 * run), else the reply (borrowed; REDIS_REPLY_ERROR for a command error).
 * Runs exactly once, on the loop, never from inside the call that queued
 * it (also during mb_redis_stop, with reply NULL). */
typedef void (*mb_redis_fn)(void *ud, const redisReply *reply);
/* A message on a subscribed channel (data borrowed, not NUL-terminated). */
typedef void (*mb_redis_msg_fn)(void *ud, const char *channel, const char *data, size_t len);

/* Parse redis://HOST:PORT[/DB] (HOST an IP address or a name; PORT
 * defaults to 6379, DB to 0). MB_OK, or MB_ERR with a reason in err. host is
 * malloc'd. */
mb_status mb_redis_parse_url(const char *url, char **host, int *port, int *db, char *err, size_t errlen);

/* Start connecting (url copied). MB_ERR when the URL is invalid (logged). */
mb_status mb_redis_start(const char *url);
/* Close both connections; pending callbacks run with NULL. */
void mb_redis_stop(void);
void mb_redis_destroy(void);

bool mb_redis_configured(void);
/* Both connections ready (commands and pub/sub). */
bool mb_redis_up(void);
/* mb_now_ms() since when Redis has been unreachable (0 while up, or
 * before the first attempt finished). */
int64_t mb_redis_down_since_ms(void);
/* Times the connections came up again after a loss (metrics, tests). */
uint64_t mb_redis_reconnects(void);

/* Called each time both connections become ready (set once). */
void mb_redis_set_up_hook(void (*on_up)(void));

/* Queue a command (hiredis format: %s a C string, %b a pointer and a
 * size_t length). cb may be NULL (fire and forget). */
void mb_redis_command(mb_redis_fn cb, void *ud, const char *fmt, ...);
/* The same with an argument vector (lens NULL: C strings). */
void mb_redis_command_argv(mb_redis_fn cb, void *ud, int argc, const char **argv, const size_t *lens);
/* PUBLISH, fire and forget; false when Redis is not up (nothing sent). */
bool mb_redis_publish(const char *channel, const char *data, size_t len);
/* Subscribe channel (copied) for the life of the process; fn gets every
 * message. One handler per channel. */
void mb_redis_subscribe(const char *channel, mb_redis_msg_fn fn, void *ud);

#endif
