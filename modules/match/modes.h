/*
 * modes.h - the game-mode registry: scripts/modes/<mode>.lua files, each
 * compiled and validated in a fresh sandboxed VM before it goes live, with
 * a version number per mode. Hot reload: inotify on the scripts folder
 * (and SIGHUP) recompiles changed files; a file that fails keeps the old
 * version live and records the error (file:line) for the admin API. A
 * deleted or renamed file retires its mode (modes_is_retired).
 *
 * A mode version is immutable and refcounted: running matches hold the
 * version they started with; new matches get the current one.
 */
#ifndef MB_MODES_H
#define MB_MODES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "vm.h"

typedef struct mode_version {
    int refs;
    char *mode;        /* "arena" */
    int version;       /* 1, 2, ... per mode */
    char *path;        /* scripts/modes/arena.lua */
    char *source;      /* the compiled text (matches load from memory) */
    int64_t loaded_at; /* wall ms */
    /* configuration read from the mode table */
    int tick_rate;
    int players_min, players_max;
    int reconnect_grace_ms;
    int empty_timeout_ms;
    int max_duration_ms; /* 0 = none */
    bool manual_start;
    bool per_player_state;
    int veto_tokens_per_player;
    json_t *matchmaker; /* the M.matchmaker table, or NULL */
    bool has_reload;
    bool send_on_change; /* send_state = "on_change" */
} mode_version;

typedef struct mode_status {
    const char *mode;
    const mode_version *current; /* NULL when the mode never loaded */
    const char *error;           /* last load error, or NULL */
    int64_t error_at;
    bool retired;       /* its file was deleted or renamed */
    int64_t retired_at; /* wall ms, when retired */
} mode_status;

/* Load every mode under scripts_dir/modes and start watching. Returns the
 * number of modes that failed to load (their errors are logged). */
int modes_init(const char *scripts_dir, bool watch);
void modes_shutdown(void);
/* Re-read every mode file (SIGHUP, admin reload). Returns failures. */
int modes_reload_all(void);

/* Current version of a mode (borrowed), or NULL (unknown, or retired). */
mode_version *modes_get(const char *mode);
/* Whether the mode's file was deleted or renamed while the server ran: it
 * takes no new matches until the file is back (running ones finish on
 * their version). */
bool modes_is_retired(const char *mode);
void mode_version_ref(mode_version *v);
void mode_version_unref(mode_version *v);
size_t modes_count(void);
/* i-th mode's status (sorted by name); false past the end. */
bool modes_status_at(size_t i, mode_status *out);

/* Create the VM of a match from a mode version: sandboxed, budgeted, the
 * chunk already run, and the mode table left on the stack top. Returns
 * NULL with err on failure. */
mb_lua_vm *modes_new_vm(const mode_version *v, char *err, size_t errlen);

/* Host functions added to the `moonbase` module of every VM the match
 * runtime creates (matches and the server script). Other modules register
 * theirs with match_ext_add_function (match_ext.h), which adds the check
 * of the allowed contexts and calls this. */
void modes_add_lua_function(const char *name, lua_CFunction fn);
void modes_install_lua_functions(mb_lua_vm *vm);

/* Lua limits from configuration (0 = default). callback_ms budgets one
 * callback (tick, input, join, leave, after, RPC; 0 = automatic, see
 * modes_callback_ms), init_ms the load of a script and init/reload. */
#define MODES_DEFAULT_CALLBACK_MS 50u
#define MODES_DEFAULT_INIT_MS 1000u
void modes_set_limits(size_t mem_bytes, unsigned callback_ms, unsigned init_ms, unsigned warn_ms);
/* Limits for a new VM: time_ms is the init budget (loads and init run
 * first); switch to the callback budget with mb_lua_vm_set_time_ms. */
const mb_lua_limits *modes_get_limits(void);
/* Budget of one callback: callback_ms when configured; automatic (0):
 * MODES_DEFAULT_CALLBACK_MS, and for a mode (v not NULL) at most its tick
 * period, so one runaway callback delays the other matches' ticks by
 * about one period at most. */
unsigned modes_callback_ms(const mode_version *v);
/* JIT compiler for the VMs made from now on (default on: vm.h "Compiled code"). */
void modes_set_jit(bool on);
const char *modes_scripts_dir(void);
/* How many live matches run mode (for the warning when a mode is retired).
 * The match runtime, which sits above this registry, sets it at init;
 * without it the count is 0. */
void modes_set_running_count(int (*fn)(const char *mode));
/* Called after a successful (re)load of any mode or of server.lua. */
typedef void (*modes_reload_fn)(const char *mode, const mode_version *v);
void modes_on_reload(modes_reload_fn fn);

#endif
