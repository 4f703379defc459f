/* modes.c - mode registry, validation and hot reload (see modes.h). */
#include "modes.h"
#include "server.h"
#include "buf.h"
#include "convert.h"
#include <signal.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

typedef struct mode_entry {
    char *mode;
    mode_version *current;
    char *error;
    int64_t error_at;
    int next_version;
    /* The file was deleted or renamed: no new matches (modes_get answers
     * NULL), running ones finish on their version; `current` is kept for
     * the listing. A successful load of the file clears it. */
    bool retired;
    int64_t retired_at;
} mode_entry;

static struct {
    char *dir;
    mode_entry *modes;
    size_t n;
    int inotify_fd;
    ev_io inotify_w;
    ev_timer debounce_w;
    ev_signal sighup_w;
    bool pending_all;
    char **pending;
    size_t n_pending;
    mb_lua_limits limits;
    unsigned callback_ms;
    modes_reload_fn on_reload[4];
    int n_on_reload;
} R;
/* Set by the match runtime (modes_set_running_count); outside R, which
 * modes_shutdown clears. */
static int (*running_count)(const char *mode);

typedef struct lua_fn_entry {
    const char *name;
    lua_CFunction fn;
} lua_fn_entry;
static lua_fn_entry extra_fns[32]; /* notify, rpc, leaderboard.* (7), ... */
static size_t n_extra_fns;

void modes_add_lua_function(const char *name, lua_CFunction fn)
{
    for (size_t i = 0; i < n_extra_fns; i++)
        if (strcmp(extra_fns[i].name, name) == 0) {
            extra_fns[i].fn = fn;
            return;
        }
    if (n_extra_fns < MB_ARRAY_LEN(extra_fns)) extra_fns[n_extra_fns++] = (lua_fn_entry){name, fn};
}

void modes_install_lua_functions(mb_lua_vm *vm)
{
    for (size_t i = 0; i < n_extra_fns; i++) mb_lua_vm_module_set(vm, extra_fns[i].name, extra_fns[i].fn);
}

void modes_set_limits(size_t mem_bytes, unsigned callback_ms, unsigned init_ms, unsigned warn_ms)
{
    R.limits.mem_bytes = mem_bytes;
    R.limits.time_ms = init_ms ? init_ms : MODES_DEFAULT_INIT_MS;
    R.limits.warn_ms = warn_ms;
    R.callback_ms = callback_ms; /* 0: automatic */
    R.limits.jit = true;
}

void modes_set_jit(bool on) { R.limits.jit = on; }

unsigned modes_callback_ms(const mode_version *v)
{
    if (R.callback_ms) return R.callback_ms;
    unsigned ms = MODES_DEFAULT_CALLBACK_MS;
    if (v && v->tick_rate > 0) {
        unsigned period = 1000u / (unsigned)v->tick_rate;
        if (period < ms) ms = period;
    }
    return ms ? ms : 1;
}

const char *modes_scripts_dir(void) { return R.dir; }
const mb_lua_limits *modes_get_limits(void) { return &R.limits; }
void modes_set_running_count(int (*fn)(const char *mode)) { running_count = fn; }

void modes_on_reload(modes_reload_fn fn)
{
    if (R.n_on_reload < 4) R.on_reload[R.n_on_reload++] = fn;
}

void mode_version_ref(mode_version *v) { v->refs++; }

void mode_version_unref(mode_version *v)
{
    if (!v || --v->refs > 0) return;
    free(v->mode);
    free(v->path);
    free(v->source);
    json_decref(v->matchmaker);
    free(v);
}

static mode_entry *find_entry(const char *mode)
{
    for (size_t i = 0; i < R.n; i++)
        if (strcmp(R.modes[i].mode, mode) == 0) return &R.modes[i];
    return NULL;
}

mode_version *modes_get(const char *mode)
{
    mode_entry *e = find_entry(mode);
    return e && !e->retired ? e->current : NULL;
}

bool modes_is_retired(const char *mode)
{
    mode_entry *e = find_entry(mode);
    return e && e->retired;
}

/* The mode's file is gone: retire it (once). */
static void retire_mode(mode_entry *e)
{
    if (e->retired) return;
    e->retired = true;
    e->retired_at = mb_wall_ms();
    int running = running_count ? running_count(e->mode) : 0;
    char *path = mb_sprintf("%s/modes/%s.lua", R.dir, e->mode);
    mb_warn(
        "script_retired",
        "mode=%s version=%d path=%s running_matches=%d note=\"the file was deleted or renamed: new matches"
        " are refused, running matches finish on their version; restore the file to bring the mode back\"",
        e->mode, e->current ? e->current->version : 0, path, running);
    free(path);
}

size_t modes_count(void) { return R.n; }

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const mode_entry *)a)->mode, ((const mode_entry *)b)->mode);
}

bool modes_status_at(size_t i, mode_status *out)
{
    if (i >= R.n) return false;
    out->mode = R.modes[i].mode;
    out->current = R.modes[i].current;
    out->error = R.modes[i].error;
    out->error_at = R.modes[i].error_at;
    out->retired = R.modes[i].retired;
    out->retired_at = R.modes[i].retired_at;
    return true;
}

static char *read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    mb_buf b = MB_BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        mb_buf_append(&b, chunk, n);
        if (b.len > 4 * 1024 * 1024) {
            snprintf(err, errlen, "%s: script larger than 4 MiB", path);
            fclose(f);
            mb_buf_free(&b);
            return NULL;
        }
    }
    fclose(f);
    char *s = mb_strndup(b.data ? b.data : "", b.len);
    mb_buf_free(&b);
    return s;
}

static char *lib_dir(void) { return mb_sprintf("%s/lib", R.dir); }

/* Read an integer field of the table at idx (raw). */
static mb_status int_field(lua_State *L, int idx, const char *name, int def, int lo, int hi, int *out,
                           char *err, size_t errlen)
{
    lua_pushstring(L, name);
    lua_rawget(L, idx);
    if (lua_isnil(L, -1)) {
        *out = def;
        lua_pop(L, 1);
        return MB_OK;
    }
    if (lua_type(L, -1) != LUA_TNUMBER) {
        snprintf(err, errlen, "%s must be a number", name);
        lua_pop(L, 1);
        return MB_ERR;
    }
    double d = lua_tonumber(L, -1);
    lua_pop(L, 1);
    if (d != (double)(long long)d || d < lo || d > hi) {
        snprintf(err, errlen, "%s must be an integer in %d..%d", name, lo, hi);
        return MB_ERR;
    }
    *out = (int)d;
    return MB_OK;
}

static mb_status bool_field(lua_State *L, int idx, const char *name, bool *out, char *err, size_t errlen)
{
    lua_pushstring(L, name);
    lua_rawget(L, idx);
    int t = lua_type(L, -1);
    if (t == LUA_TNIL) *out = false;
    else if (t == LUA_TBOOLEAN) *out = lua_toboolean(L, -1);
    else {
        snprintf(err, errlen, "%s must be a boolean", name);
        lua_pop(L, 1);
        return MB_ERR;
    }
    lua_pop(L, 1);
    return MB_OK;
}

/* send_state = "always" (default: every tick) | "on_change" (state.c sends a
 * viewer the state only when it differs from the last one it got). */
static mb_status send_state_field(lua_State *L, int idx, mode_version *v, char *err, size_t errlen)
{
    lua_pushstring(L, "send_state");
    lua_rawget(L, idx);
    int t = lua_type(L, -1);
    const char *s = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    bool ok = t == LUA_TNIL || (s && (strcmp(s, "always") == 0 || strcmp(s, "on_change") == 0));
    v->send_on_change = s && strcmp(s, "on_change") == 0;
    lua_pop(L, 1);
    if (!ok) snprintf(err, errlen, "send_state must be \"always\" or \"on_change\"");
    return ok ? MB_OK : MB_ERR;
}

static const char *const callbacks[] = {"init",
                                        "join_attempt",
                                        "join",
                                        "leave",
                                        "start",
                                        "input",
                                        "tick",
                                        "get_state",
                                        "vote_result",
                                        "vote_vetoed",
                                        "terminate",
                                        "reload",
                                        "matchmaker_matched",
                                        NULL};

/* Validate the mode table on top of L and fill v's configuration. */
static mb_status read_config(lua_State *L, mode_version *v, char *err, size_t errlen)
{
    int t = lua_gettop(L);
    if (lua_type(L, t) != LUA_TTABLE) {
        snprintf(err, errlen, "%s: the script must return a table (the mode)", v->path);
        return MB_ERR;
    }
    for (int i = 0; callbacks[i]; i++) {
        lua_pushstring(L, callbacks[i]);
        lua_rawget(L, t);
        int ty = lua_type(L, -1);
        lua_pop(L, 1);
        bool required = strcmp(callbacks[i], "init") == 0 || strcmp(callbacks[i], "get_state") == 0;
        if (ty == LUA_TNIL && required) {
            snprintf(err, errlen, "%s: the mode must define %s(...)", v->path, callbacks[i]);
            return MB_ERR;
        }
        if (ty != LUA_TNIL && ty != LUA_TFUNCTION) {
            snprintf(err, errlen, "%s: %s must be a function", v->path, callbacks[i]);
            return MB_ERR;
        }
        if (strcmp(callbacks[i], "reload") == 0) v->has_reload = ty == LUA_TFUNCTION;
    }
    char e[200];
    e[0] = '\0';
    bool ok =
        int_field(L, t, "tick_rate", 10, 1, 60, &v->tick_rate, e, sizeof e) == MB_OK &&
        int_field(L, t, "reconnect_grace_ms", 10000, 0, 3600000, &v->reconnect_grace_ms, e, sizeof e) ==
            MB_OK &&
        int_field(L, t, "empty_timeout_ms", 30000, 0, 86400000, &v->empty_timeout_ms, e, sizeof e) == MB_OK &&
        int_field(L, t, "max_duration_ms", 0, 0, 604800000, &v->max_duration_ms, e, sizeof e) == MB_OK &&
        int_field(L, t, "veto_tokens_per_player", 0, 0, 1000, &v->veto_tokens_per_player, e, sizeof e) ==
            MB_OK &&
        bool_field(L, t, "manual_start", &v->manual_start, e, sizeof e) == MB_OK &&
        bool_field(L, t, "per_player_state", &v->per_player_state, e, sizeof e) == MB_OK;
    if (ok) {
        v->players_min = 1;
        v->players_max = 16;
        lua_pushstring(L, "players");
        lua_rawget(L, t);
        if (lua_type(L, -1) == LUA_TTABLE) {
            int p = lua_gettop(L);
            ok = int_field(L, p, "min", 1, 1, 10000, &v->players_min, e, sizeof e) == MB_OK &&
                 int_field(L, p, "max", v->players_min > 16 ? v->players_min : 16, 1, 10000, &v->players_max,
                           e, sizeof e) == MB_OK;
            if (ok && v->players_max < v->players_min) {
                snprintf(e, sizeof e, "players.max must be >= players.min");
                ok = false;
            }
            if (ok) snprintf(e, sizeof e, "%s", "");
        } else if (!lua_isnil(L, -1)) {
            snprintf(e, sizeof e, "players must be a table {min = .., max = ..}");
            ok = false;
        }
        lua_pop(L, 1);
    }
    if (ok) {
        lua_pushstring(L, "matchmaker");
        lua_rawget(L, t);
        if (lua_type(L, -1) == LUA_TTABLE) {
            char cerr[160];
            v->matchmaker = mb_lua_to_json(L, -1, cerr, sizeof cerr);
            if (!v->matchmaker || !json_is_object(v->matchmaker)) {
                snprintf(e, sizeof e, "matchmaker: %s", v->matchmaker ? "must be a table" : cerr);
                json_decref(v->matchmaker);
                v->matchmaker = NULL;
                ok = false;
            }
        } else if (!lua_isnil(L, -1)) {
            snprintf(e, sizeof e, "matchmaker must be a table");
            ok = false;
        }
        lua_pop(L, 1);
    }
    if (ok) ok = send_state_field(L, t, v, e, sizeof e) == MB_OK;
    if (!ok) snprintf(err, errlen, "%s: %s", v->path, e);
    return ok ? MB_OK : MB_ERR;
}

mb_lua_vm *modes_new_vm(const mode_version *v, char *err, size_t errlen)
{
    char *lib = lib_dir();
    mb_lua_vm *vm = mb_lua_vm_new(&R.limits, lib, err, errlen);
    free(lib);
    if (!vm) return NULL;
    modes_install_lua_functions(vm);
    char *chunk = mb_sprintf("@%s", v->path);
    int rc = mb_lua_vm_load_string(vm, v->source, chunk, err, errlen);
    free(chunk);
    if (rc == MB_LUA_OK) rc = mb_lua_vm_pcall(vm, 0, 1, err, errlen);
    if (rc != MB_LUA_OK) {
        mb_lua_vm_free(vm);
        return NULL;
    }
    if (lua_type(mb_lua_vm_state(vm), -1) != LUA_TTABLE) {
        snprintf(err, errlen, "%s: the script must return a table (the mode)", v->path);
        mb_lua_vm_free(vm);
        return NULL;
    }
    return vm;
}

/* Compile and validate one mode file; on success it becomes current. */
static mb_status load_mode(const char *mode, const char *path)
{
    mode_entry *e = find_entry(mode);
    if (!e) {
        R.modes = mb_realloc(R.modes, (R.n + 1) * sizeof *R.modes);
        e = &R.modes[R.n++];
        memset(e, 0, sizeof *e);
        e->mode = mb_strdup(mode);
        e->next_version = 1;
        qsort(R.modes, R.n, sizeof *R.modes, cmp_entry);
        e = find_entry(mode);
    }
    char err[2048] = "";
    mode_version *v = mb_calloc(1, sizeof *v);
    v->refs = 1;
    v->mode = mb_strdup(mode);
    v->path = mb_strdup(path);
    v->source = read_text(path, err, sizeof err);
    mb_lua_vm *vm = NULL;
    bool ok = v->source != NULL;
    if (ok) {
        vm = modes_new_vm(v, err, sizeof err);
        ok = vm && read_config(mb_lua_vm_state(vm), v, err, sizeof err) == MB_OK;
    }
    mb_lua_vm_free(vm);
    if (!ok) {
        free(e->error);
        e->error = mb_strdup(err);
        e->error_at = mb_wall_ms();
        char q[1024];
        mb_error("script_load_failed", "mode=%s error=%s%s", mode, mb_log_quote(q, sizeof q, err),
                 e->current && !e->retired ? " kept_version=live" : "");
        mode_version_unref(v);
        return MB_ERR;
    }
    v->version = e->next_version++;
    v->loaded_at = mb_wall_ms();
    free(e->error);
    e->error = NULL;
    bool restored = e->retired;
    e->retired = false;
    e->retired_at = 0;
    mode_version *old = e->current;
    e->current = v;
    mode_version_unref(old);
    mb_info("script_loaded", "mode=%s version=%d tick_rate=%d players=%d..%d%s", mode, v->version,
            v->tick_rate, v->players_min, v->players_max, restored ? " restored=true" : "");
    for (int i = 0; i < R.n_on_reload; i++) R.on_reload[i](mode, v);
    return MB_OK;
}

static bool mode_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > 64) return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int modes_reload_all(void)
{
    char *dir = mb_sprintf("%s/modes", R.dir);
    DIR *d = opendir(dir);
    int failures = 0;
    /* Modes whose file is still there; the others are retired below. */
    bool *seen = mb_calloc(R.n + 1, sizeof *seen);
    size_t n_before = R.n;
    char **known = mb_calloc(R.n + 1, sizeof *known);
    for (size_t i = 0; i < R.n; i++) known[i] = mb_strdup(R.modes[i].mode);
    if (!d) {
        mb_warn("scripts_dir_missing", "dir=%s", dir);
        free(dir);
        goto retire;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 4, ".lua") != 0) continue;
        if (!mode_name_ok(de->d_name, l - 4)) {
            mb_warn("script_name_invalid", "file=%s note=\"mode names are [A-Za-z0-9_-]{1,64}\"", de->d_name);
            continue;
        }
        char *mode = mb_strndup(de->d_name, l - 4);
        char *path = mb_sprintf("%s/%s", dir, de->d_name);
        for (size_t i = 0; i < n_before; i++)
            if (strcmp(known[i], mode) == 0) seen[i] = true;
        if (load_mode(mode, path) != MB_OK) failures++;
        free(mode);
        free(path);
    }
    closedir(d);
    free(dir);
retire:
    for (size_t i = 0; i < n_before; i++) {
        mode_entry *e = seen[i] ? NULL : find_entry(known[i]);
        if (e) retire_mode(e);
        free(known[i]);
    }
    free(known);
    free(seen);
    for (int i = 0; i < R.n_on_reload; i++) R.on_reload[i]("server", NULL);
    return failures;
}

/* ---------------------------------------------------------- watching */

static void add_pending(const char *mode)
{
    for (size_t i = 0; i < R.n_pending; i++)
        if (strcmp(R.pending[i], mode) == 0) return;
    R.pending = mb_realloc(R.pending, (R.n_pending + 1) * sizeof *R.pending);
    R.pending[R.n_pending++] = mb_strdup(mode);
}

static void debounce_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    if (R.pending_all) {
        R.pending_all = false;
        modes_reload_all();
    } else {
        for (size_t i = 0; i < R.n_pending; i++) {
            if (strcmp(R.pending[i], "server") == 0) {
                for (int k = 0; k < R.n_on_reload; k++) R.on_reload[k]("server", NULL);
                continue;
            }
            char *path = mb_sprintf("%s/modes/%s.lua", R.dir, R.pending[i]);
            if (access(path, F_OK) == 0) load_mode(R.pending[i], path);
            else {
                /* deleted, or renamed away (the new name loads on its own) */
                mode_entry *e = find_entry(R.pending[i]);
                if (e) retire_mode(e);
            }
            free(path);
        }
    }
    for (size_t i = 0; i < R.n_pending; i++) free(R.pending[i]);
    R.n_pending = 0;
}

static int wd_modes = -1, wd_lib = -1, wd_root = -1;

static void inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(R.inotify_fd, buf, sizeof buf);
        if (n <= 0) break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (!ev->len) continue;
            size_t l = strlen(ev->name);
            if (l < 5 || strcmp(ev->name + l - 4, ".lua") != 0) continue;
            if (ev->wd == wd_modes && mode_name_ok(ev->name, l - 4)) {
                char *mode = mb_strndup(ev->name, l - 4);
                add_pending(mode);
                free(mode);
            } else if (ev->wd == wd_lib) {
                R.pending_all = true;
            } else if (ev->wd == wd_root && strcmp(ev->name, "server.lua") == 0) {
                add_pending("server");
            }
        }
    }
    /* Editors write files in several steps: wait for quiet. */
    ev_timer_stop(loop, &R.debounce_w);
    ev_timer_set(&R.debounce_w, 0.1, 0.);
    ev_timer_start(loop, &R.debounce_w);
}

static void sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    mb_info("scripts_reload", "trigger=SIGHUP");
    modes_reload_all();
}

int modes_init(const char *scripts_dir, bool watch)
{
    R.dir = mb_strdup(scripts_dir);
    R.inotify_fd = -1;
    int failures = modes_reload_all();
    if (!watch || !mb_loop()) return failures;
    ev_init(&R.debounce_w, debounce_cb);
    ev_signal_init(&R.sighup_w, sighup_cb, SIGHUP);
    ev_signal_start(mb_loop(), &R.sighup_w);
    R.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (R.inotify_fd < 0) {
        mb_warn("scripts_watch_failed", "error=%s note=\"use SIGHUP to reload\"", strerror(errno));
        return failures;
    }
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY;
    char *d = mb_sprintf("%s/modes", R.dir);
    wd_modes = inotify_add_watch(R.inotify_fd, d, mask);
    free(d);
    d = lib_dir();
    wd_lib = inotify_add_watch(R.inotify_fd, d, mask);
    free(d);
    wd_root = inotify_add_watch(R.inotify_fd, R.dir, mask);
    ev_io_init(&R.inotify_w, inotify_cb, R.inotify_fd, EV_READ);
    ev_io_start(mb_loop(), &R.inotify_w);
    mb_info("scripts_watching", "dir=%s", R.dir);
    return failures;
}

void modes_shutdown(void)
{
    if (mb_loop()) {
        if (ev_is_active(&R.inotify_w)) ev_io_stop(mb_loop(), &R.inotify_w);
        ev_timer_stop(mb_loop(), &R.debounce_w);
        if (ev_is_active(&R.sighup_w)) ev_signal_stop(mb_loop(), &R.sighup_w);
    }
    if (R.inotify_fd >= 0) close(R.inotify_fd);
    R.inotify_fd = -1;
    for (size_t i = 0; i < R.n; i++) {
        free(R.modes[i].mode);
        free(R.modes[i].error);
        mode_version_unref(R.modes[i].current);
    }
    free(R.modes);
    for (size_t i = 0; i < R.n_pending; i++) free(R.pending[i]);
    free(R.pending);
    free(R.dir);
    memset(&R, 0, sizeof R);
    R.inotify_fd = -1;
}
