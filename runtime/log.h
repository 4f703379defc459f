/*
 * log.h - structured logging: one line per event, key=value pairs.
 *
 *   ts=2026-11-29T16:46:23.123Z level=info event=listening host=127.0.0.1 port=7350
 *
 * `event` is a short snake_case name; the format string supplies the rest
 * of the key=value pairs. Values that may contain spaces must be quoted by
 * the caller with mb_log_quote(). Lines go to stderr. Never log secrets.
 */
#ifndef MB_LOG_H
#define MB_LOG_H

#include <stddef.h>

typedef enum { MB_LOG_DEBUG = 0, MB_LOG_INFO, MB_LOG_WARN, MB_LOG_ERROR } mb_log_level;

void mb_log_set_level(mb_log_level level);
mb_log_level mb_log_get_level(void);
/* Parse "debug" | "info" | "warn" | "error"; returns -1 when unknown. */
int mb_log_parse_level(const char *s);

void mb_log(mb_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quote a value for a log line into buf ("..." with \" and \\ and control
 * characters escaped, truncated to fit). Returns buf. */
const char *mb_log_quote(char *buf, size_t cap, const char *s);

#define mb_debug(ev, ...) mb_log(MB_LOG_DEBUG, ev, __VA_ARGS__)
#define mb_info(ev, ...) mb_log(MB_LOG_INFO, ev, __VA_ARGS__)
#define mb_warn(ev, ...) mb_log(MB_LOG_WARN, ev, __VA_ARGS__)
#define mb_error(ev, ...) mb_log(MB_LOG_ERROR, ev, __VA_ARGS__)

#endif
