/*
 * pattern.c - the pattern guard (see pattern.h and docs/LUA_API.md).
 *
 * Lua's pattern matcher backtracks, and it runs in C where the count hook
 * cannot reach it: string.find(("a"):rep(25), ("a?"):rep(25) .. ("a"):rep(25))
 * makes 2^25 attempts (2-3 s), ".-.-b" on 5000 bytes ~2e10 steps. No cheap
 * static rule tells those from ordinary patterns on long subjects (a trim
 * "^%s*(.-)%s*$" is cubic in the worst case on paper and linear in practice),
 * so the guard works in two stages:
 *
 *   1. An upper bound of the search's steps, from the pattern and the
 *      subject length: for one attempt, the product of the choices of the
 *      backtracking items (n + 1 for * + - and 2 for ?, unless nothing but
 *      capture ends follows them) times the cost of one path through the
 *      pattern (n + 1 per repeated item, %b or back-reference, 1 per other
 *      item, bracket classes by their length); times n + 1 start positions
 *      unless anchored. At most MB_LUA_PATTERN_FAST_STEPS: LuaJIT's own
 *      function runs (nearly every call of a game script).
 *   2. Otherwise the search runs in the matcher below, a step-for-step
 *      reimplementation of LuaJIT 2.1's (lib_string.c, Lua 5.1 patterns)
 *      that looks at the clock every few thousand steps and gives up with a
 *      Lua error past MB_LUA_PATTERN_MAX_MS or the VM's deadline. find,
 *      match and gmatch (each call of its iterator) return its results;
 *      gsub (whose output and callbacks stay LuaJIT's) is first run dry in
 *      it with half the time, then for real by LuaJIT.
 *   A malformed pattern (or too many captures, or a nesting deeper than
 *   LuaJIT allows) fails with LuaJIT's message, when the matcher reaches
 *   the fault as LuaJIT's would.
 * Plain finds are LuaJIT's memchr/memcmp search, bounded by n * m bytes; past
 * MB_LUA_PLAIN_FAST_BYTES the same search runs here, watching the clock.
 */
#include "pattern.h"

#include "cstack.h"
#include "state_internal.h"

#include "mb.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

int mb_lua_pattern_force;

#define PM_MAX_DEPTH 200 /* LuaJIT's LJ_MAX_XLEVEL */
#define CAP_UNFINISHED (-1)
#define CAP_POSITION (-2)
#define PM_CLOCK_EVERY 4096

enum { PM_SLOW = 1, PM_ERROR = 2 };

typedef struct pm {
    const char *src_init, *src_end;
    int level, depth;
    struct {
        const char *init;
        ptrdiff_t len;
    } capture[LUA_MAXCAPTURES];
    uint64_t steps, clock_at;
    int64_t until_us;
    const char *why; /* PM_ERROR: LuaJIT's message for the same fault */
    jmp_buf jb;
} pm;

static void pm_fail(pm *m, const char *why)
{
    m->why = why;
    longjmp(m->jb, PM_ERROR);
}

static void pm_clock(pm *m)
{
    m->clock_at = m->steps + PM_CLOCK_EVERY;
    if (mb_now_us() >= m->until_us) longjmp(m->jb, PM_SLOW);
}

static inline void pm_step(pm *m, uint64_t n)
{
    m->steps += n;
    if (m->steps >= m->clock_at) pm_clock(m);
}

/* ---- character classes (ASCII, as LuaJIT's lj_char) --------------------- */

static int cls_test(int c, int cl)
{
    int lc = cl | 0x20;
    int r;
    switch (lc) {
    case 'a': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); break;
    case 'c': r = c < 32 || c == 127; break;
    case 'd': r = c >= '0' && c <= '9'; break;
    case 'g': r = c > 32 && c < 127; break;
    case 'l': r = c >= 'a' && c <= 'z'; break;
    case 'p':
        r = c > 32 && c < 127 &&
            !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
        break;
    case 's': r = c == ' ' || (c >= 9 && c <= 13); break;
    case 'u': r = c >= 'A' && c <= 'Z'; break;
    case 'w': r = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); break;
    case 'x': r = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); break;
    case 'z': r = c == 0; break;
    default: return cl == c;
    }
    return (cl & 0x20) ? r : !r;
}

/* p at '[', ec at its closing ']'. */
static int bracket_test(int c, const char *p, const char *ec)
{
    int yes = 1;
    if (p[1] == '^') {
        yes = 0;
        p++;
    }
    while (++p < ec) {
        if (*p == '%') {
            p++;
            if (cls_test(c, (unsigned char)*p)) return yes;
        } else if (p[1] == '-' && p + 2 < ec) {
            p += 2;
            if ((unsigned char)p[-2] <= c && c <= (unsigned char)*p) return yes;
        } else if ((unsigned char)*p == c) {
            return yes;
        }
    }
    return !yes;
}

static int single_test(pm *m, int c, const char *p, const char *ep)
{
    switch (*p) {
    case '.': pm_step(m, 1); return 1;
    case '%': pm_step(m, 1); return cls_test(c, (unsigned char)p[1]);
    case '[': pm_step(m, (uint64_t)(ep - p)); return bracket_test(c, p, ep - 1);
    default: pm_step(m, 1); return (unsigned char)*p == c;
    }
}

/* End of the item at p; malformed patterns fail as in LuaJIT, when the
 * matcher reaches them. */
static const char *item_end(pm *m, const char *p)
{
    switch (*p++) {
    case '%':
        if (*p == '\0') pm_fail(m, "malformed pattern (ends with '%')");
        return p + 1;
    case '[':
        if (*p == '^') p++;
        do {
            if (*p == '\0') pm_fail(m, "malformed pattern (missing ']')");
            if (*(p++) == '%' && *p != '\0') p++;
        } while (*p != ']');
        return p + 1;
    default: return p;
    }
}

/* ---- the matcher -------------------------------------------------------- */

static const char *pm_match(pm *m, const char *s, const char *p);

static const char *pm_balance(pm *m, const char *s, const char *p)
{
    if (p[0] == '\0' || p[1] == '\0') pm_fail(m, "unbalanced pattern");
    if (s >= m->src_end || *s != *p) return NULL;
    int open = p[0], close = p[1], depth = 1;
    while (++s < m->src_end) {
        pm_step(m, 1);
        if (*s == close) {
            if (--depth == 0) return s + 1;
        } else if (*s == open) {
            depth++;
        }
    }
    return NULL;
}

static const char *pm_max_expand(pm *m, const char *s, const char *p, const char *ep)
{
    ptrdiff_t i = 0;
    while (s + i < m->src_end && single_test(m, (unsigned char)s[i], p, ep)) i++;
    for (; i >= 0; i--) {
        const char *r = pm_match(m, s + i, ep + 1);
        if (r) return r;
    }
    return NULL;
}

static const char *pm_min_expand(pm *m, const char *s, const char *p, const char *ep)
{
    for (;;) {
        const char *r = pm_match(m, s, ep + 1);
        if (r) return r;
        if (s < m->src_end && single_test(m, (unsigned char)*s, p, ep)) s++;
        else return NULL;
    }
}

static const char *pm_open_capture(pm *m, const char *s, const char *p, ptrdiff_t what)
{
    int level = m->level;
    if (level >= LUA_MAXCAPTURES) pm_fail(m, "too many captures");
    m->capture[level].init = s;
    m->capture[level].len = what;
    m->level = level + 1;
    const char *r = pm_match(m, s, p);
    if (!r) m->level--;
    return r;
}

static const char *pm_close_capture(pm *m, const char *s, const char *p)
{
    int l = m->level - 1;
    while (l >= 0 && m->capture[l].len != CAP_UNFINISHED) l--;
    if (l < 0) pm_fail(m, "invalid pattern capture");
    m->capture[l].len = s - m->capture[l].init;
    const char *r = pm_match(m, s, p);
    if (!r) m->capture[l].len = CAP_UNFINISHED;
    return r;
}

static const char *pm_backref(pm *m, const char *s, int l)
{
    l -= '1';
    if (l < 0 || l >= m->level || m->capture[l].len == CAP_UNFINISHED) pm_fail(m, "invalid capture index");
    size_t len = (size_t)m->capture[l].len; /* a position capture never matches */
    if ((size_t)(m->src_end - s) < len) return NULL;
    pm_step(m, len);
    return memcmp(m->capture[l].init, s, len) == 0 ? s + len : NULL;
}

static const char *pm_match(pm *m, const char *s, const char *p)
{
    if (++m->depth > PM_MAX_DEPTH) pm_fail(m, "pattern too complex");
    pm_step(m, 1);
again:
    switch (*p) {
    case '(':
        if (p[1] == ')') s = pm_open_capture(m, s, p + 2, CAP_POSITION);
        else s = pm_open_capture(m, s, p + 1, CAP_UNFINISHED);
        break;
    case ')': s = pm_close_capture(m, s, p + 1); break;
    case '\0': break; /* end of pattern: success */
    case '$':
        if (p[1] != '\0') goto item;
        if (s != m->src_end) s = NULL;
        break;
    case '%':
        if (p[1] == 'b') {
            s = pm_balance(m, s, p + 2);
            if (!s) break;
            p += 4;
            goto again;
        }
        if (p[1] == 'f') {
            p += 2;
            if (*p != '[') pm_fail(m, "missing '[' after '%f' in pattern");
            const char *ep = item_end(m, p);
            int prev = s == m->src_init ? 0 : (unsigned char)s[-1];
            pm_step(m, (uint64_t)(ep - p));
            /* *s is the subject's terminating NUL at its end, as in LuaJIT */
            if (bracket_test(prev, p, ep - 1) || !bracket_test((unsigned char)*s, p, ep - 1)) {
                s = NULL;
                break;
            }
            p = ep;
            goto again;
        }
        if (p[1] >= '0' && p[1] <= '9') {
            s = pm_backref(m, s, (unsigned char)p[1]);
            if (!s) break;
            p += 2;
            goto again;
        }
        goto item;
    default:
    item : {
        const char *ep = item_end(m, p);
        int hit = s < m->src_end && single_test(m, (unsigned char)*s, p, ep);
        switch (*ep) {
        case '?': {
            const char *r;
            if (hit && (r = pm_match(m, s + 1, ep + 1)) != NULL) {
                s = r;
                break;
            }
            p = ep + 1;
            goto again;
        }
        case '*': s = pm_max_expand(m, s, p, ep); break;
        case '+': s = hit ? pm_max_expand(m, s + 1, p, ep) : NULL; break;
        case '-': s = pm_min_expand(m, s, p, ep); break;
        default:
            if (hit) {
                s++;
                p = ep;
                goto again;
            }
            s = NULL;
        }
        break;
    }
    }
    m->depth--;
    return s;
}

/* One attempt at s (level and depth reset, as LuaJIT does per attempt). */
static const char *pm_attempt(pm *m, const char *s, const char *p)
{
    m->level = m->depth = 0;
    return pm_match(m, s, p);
}

/* ---- results ------------------------------------------------------------ */

/* Push capture i (or the whole match when there are none); false when
 * LuaJIT would raise instead (unfinished capture). */
static bool push_capture(lua_State *L, pm *m, int i, const char *s, const char *e)
{
    if (i >= m->level) {
        lua_pushlstring(L, s, (size_t)(e - s));
        return true;
    }
    ptrdiff_t l = m->capture[i].len;
    if (l == CAP_UNFINISHED) return false;
    if (l == CAP_POSITION) lua_pushinteger(L, m->capture[i].init - m->src_init + 1);
    else lua_pushlstring(L, m->capture[i].init, (size_t)l);
    return true;
}

/* The captures (the whole match when none, unless s is NULL); -1 when LuaJIT
 * would raise. */
static int push_captures(lua_State *L, pm *m, const char *s, const char *e)
{
    int n = (m->level == 0 && s) ? 1 : m->level;
    for (int i = 0; i < m->level; i++)
        if (m->capture[i].len == CAP_UNFINISHED) return -1;
    luaL_checkstack(L, n, "too many captures");
    for (int i = 0; i < n; i++) push_capture(L, m, i, s, e);
    return n;
}

/* ---- the guard ---------------------------------------------------------- */

/* Where to find the end of an item without raising (malformed patterns are
 * LuaJIT's to report). */
static const char *lenient_end(const char *p)
{
    switch (*p++) {
    case '\0': return p - 1;
    case '%': return *p ? p + 1 : p;
    case '[':
        if (*p == '^') p++;
        do {
            if (*p == '\0') return p;
            if (*(p++) == '%' && *p != '\0') p++;
        } while (*p != ']');
        return p + 1;
    default: return p;
    }
}

/* Upper bound of the steps of a search for pattern p (NUL-terminated, as
 * LuaJIT reads it) on a subject of n bytes: one attempt costs at most
 * choices * path; a last repeated item (nothing that can fail follows it)
 * does not branch, and its scan is paid once per successful attempt, whose
 * matches do not overlap: n + 1 in all. */
static double search_bound(const char *p, bool anchored, double n)
{
    double choices = 1, path = 1, last_scan = 0;
    while (*p && choices < 1e30) {
        if (*p == '(' || *p == ')') {
            path += 1;
            p++;
            continue;
        }
        if (*p == '$' && p[1] == '\0') break;
        if (*p == '%' && p[1] == 'b') {
            path += n + 1;
            for (int i = 0; i < 4 && *p; i++) p++;
            continue;
        }
        if (*p == '%' && p[1] >= '0' && p[1] <= '9') {
            path += n + 1;
            p += 2;
            continue;
        }
        if (*p == '%' && p[1] == 'f') {
            p += 2;
            const char *ep = lenient_end(p);
            path += (double)(ep - p) + 1;
            p = ep;
            continue;
        }
        const char *ep = lenient_end(p);
        double len = (double)(ep - p) + 1;
        if (*ep == '*' || *ep == '+' || *ep == '-' || *ep == '?') {
            const char *q = ep + 1;
            while (*q == ')') q++;
            if (*q == '\0') { /* the last item: no backtracking into it */
                path += len;
                last_scan = (n + 1) * len;
            } else if (*ep == '?') {
                choices *= 2;
                path += len;
            } else {
                choices *= n + 1;
                path += (n + 1) * len;
            }
            p = ep + 1;
        } else {
            path += len;
            p = ep;
        }
    }
    return (anchored ? 1 : n + 1) * choices * path + last_scan;
}

/* Arm m for a search of subject s (len bytes) ending by MB_LUA_PATTERN_MAX_MS
 * and by the VM's deadline (left_share = 2: by half the time left, when
 * LuaJIT does the same work afterwards). */
static void pm_init(pm *m, lua_State *L, const char *s, size_t len, int left_share)
{
    memset(m, 0, offsetof(pm, capture));
    m->src_init = s;
    m->src_end = s + len;
    m->steps = 0;
    m->clock_at = PM_CLOCK_EVERY;
    int64_t now = mb_now_us();
    int64_t until = now + (int64_t)MB_LUA_PATTERN_MAX_MS * 1000;
    mb_lua_vm *vm = mb_lua_vm_from_state(L);
    if (vm && vm->depth > 0 && vm->deadline_us > 0) {
        int64_t left = vm->deadline_us - now;
        if (left < 0) left = 0;
        if (now + left / left_share < until) until = now + left / left_share;
    }
    m->until_us = until;
}

static int too_complex(lua_State *L, const char *pattern, size_t n)
{
    char p[72];
    size_t plen = strlen(pattern);
    if (plen < sizeof p) memcpy(p, pattern, plen + 1);
    else snprintf(p, sizeof p, "%.64s...", pattern);
    return luaL_error(L,
                      "pattern '%s' is too complex for a subject of %d bytes (the search ran "
                      "past %d ms or the time budget): simplify or anchor it, or split the subject",
                      p, (int)n, MB_LUA_PATTERN_MAX_MS);
}

/* The outcome of a guarded search: PM_SLOW or PM_ERROR raise. */
static int search_failed(lua_State *L, pm *m, int jr, const char *p, size_t n)
{
    if (jr == PM_SLOW) return too_complex(L, p, n);
    return luaL_error(L, "%s", m->why);
}

/* Call the original (upvalue 1) with the arguments as they are. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* LuaJIT's lj_lib_optint: a number made int32 the way x86 truncates. */
static int32_t opt_int32(lua_State *L, int idx, int32_t def)
{
    if (lua_isnoneornil(L, idx)) return def;
    lua_Number d = luaL_checknumber(L, idx);
    if (!(d > -2147483649.0 && d < 2147483648.0)) return INT32_MIN;
    return (int32_t)d;
}

static bool has_specials(const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] && strchr("^$*+?.([%-", p[i])) return true;
    return false;
}

/* LuaJIT's plain search (memchr for the first byte, memcmp for the rest). */
static const char *plain_search(pm *m, const char *q, size_t left, const char *p, size_t plen)
{
    if (plen == 0) return q;
    if (plen > left) return NULL;
    for (size_t l = left - (plen - 1); l > 0;) {
        const char *c = memchr(q, p[0], l);
        if (!c) return NULL;
        pm_step(m, plen + (uint64_t)(c - q) / 64);
        if (memcmp(c + 1, p + 1, plen - 1) == 0) return c;
        l -= (size_t)(c + 1 - q);
        q = c + 1;
    }
    return NULL;
}

/* find (find = true) and match. */
static int find_aux(lua_State *L, bool find)
{
    mb_lua_cstack_check(L, find ? "string.find" : "string.match");
    size_t n, plen;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *p = luaL_checklstring(L, 2, &plen);
    int32_t start = opt_int32(L, 3, 1);
    if (start < 0) start += (int32_t)n;
    else start--;
    if (start < 0) start = 0;
    size_t st = (size_t)start > n ? n : (size_t)start;
    pm m;
    int jr;

    if (find && ((lua_gettop(L) >= 4 && lua_toboolean(L, 4)) || !has_specials(p, plen))) {
        if (!mb_lua_pattern_force && (double)(n - st) * (double)plen <= MB_LUA_PLAIN_FAST_BYTES)
            return call_original(L);
        pm_init(&m, L, s, n, 1);
        if ((jr = setjmp(m.jb)) != 0) return search_failed(L, &m, jr, p, n);
        const char *q = plain_search(&m, s + st, n - st, p, plen);
        if (!q) {
            lua_pushnil(L);
            return 1;
        }
        lua_pushinteger(L, (lua_Integer)(q - s) + 1);
        lua_pushinteger(L, (lua_Integer)(q - s) + (lua_Integer)plen);
        return 2;
    }

    bool anchored = p[0] == '^';
    const char *volatile pat = anchored ? p + 1 : p;
    if (!mb_lua_pattern_force && search_bound(pat, anchored, (double)n) <= MB_LUA_PATTERN_FAST_STEPS)
        return call_original(L);

    pm_init(&m, L, s, n, 1);
    if ((jr = setjmp(m.jb)) != 0) return search_failed(L, &m, jr, p, n);
    const char *src = s + st;
    do {
        const char *e = pm_attempt(&m, src, pat);
        if (!e) continue;
        int k = find ? push_captures(L, &m, NULL, NULL) : push_captures(L, &m, src, e);
        if (k < 0) return luaL_error(L, "unfinished capture");
        if (!find) return k;
        lua_pushinteger(L, (lua_Integer)(src - s) + 1);
        lua_insert(L, -k - 1);
        lua_pushinteger(L, (lua_Integer)(e - s));
        lua_insert(L, -k - 1);
        return k + 2;
    } while (src++ < m.src_end && !anchored);
    lua_pushnil(L);
    return 1;
}

static int l_find(lua_State *L) { return find_aux(L, true); }

static int l_match(lua_State *L) { return find_aux(L, false); }

/* Our gmatch iterator, LuaJIT's step for step: upvalues subject, pattern,
 * position of the next search. */
static int l_gmatch_next(lua_State *L)
{
    size_t n;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &n);
    const char *p = lua_tostring(L, lua_upvalueindex(2));
    size_t pos = (size_t)lua_tointeger(L, lua_upvalueindex(3));
    pm m;
    pm_init(&m, L, s, n, 1);
    int jr;
    if ((jr = setjmp(m.jb)) != 0) return search_failed(L, &m, jr, p, n);
    if (pos > n) return 0; /* past an empty match at the end */
    for (const char *src = s + pos; src <= m.src_end; src++) {
        const char *e = pm_attempt(&m, src, p);
        if (!e) continue;
        size_t next = (size_t)(e - s);
        if (e == src) next++; /* an empty match: move on */
        int k = push_captures(L, &m, src, e);
        if (k < 0) return luaL_error(L, "unfinished capture");
        lua_pushinteger(L, (lua_Integer)next);
        lua_replace(L, lua_upvalueindex(3));
        return k;
    }
    return 0;
}

static int l_gmatch(lua_State *L)
{
    mb_lua_cstack_check(L, "string.gmatch");
    size_t n;
    luaL_checklstring(L, 1, &n);
    const char *p = luaL_checkstring(L, 2);
    /* each call of the iterator scans at most the whole subject; '^' is an
     * ordinary character in gmatch */
    if (!mb_lua_pattern_force && search_bound(p, false, (double)n) <= MB_LUA_PATTERN_FAST_STEPS)
        return call_original(L);
    lua_settop(L, 2);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, l_gmatch_next, 3);
    return 1;
}

static int l_gsub(lua_State *L)
{
    mb_lua_cstack_check(L, "string.gsub");
    size_t n;
    const char *s = luaL_checklstring(L, 1, &n);
    const char *p = luaL_checkstring(L, 2);
    int tr = lua_type(L, 3);
    if (!(tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE))
        return call_original(L); /* its argument error */
    bool anchored = p[0] == '^';
    const char *volatile pat = anchored ? p + 1 : p;
    if (!mb_lua_pattern_force && search_bound(pat, anchored, (double)n) <= MB_LUA_PATTERN_FAST_STEPS)
        return call_original(L);
    lua_Integer max_s = lua_isnoneornil(L, 4) ? (lua_Integer)n + 1 : luaL_checkinteger(L, 4);

    /* Dry run: the matches LuaJIT will find, in half the time left (it then
     * does the same work). A fault in the pattern is LuaJIT's to report. */
    pm m;
    pm_init(&m, L, s, n, 2);

    int jr = setjmp(m.jb);
    if (jr == PM_SLOW) return too_complex(L, p, n);
    if (jr == 0) {
        const char *src = s;
        for (lua_Integer k = 0; k < max_s;) {
            const char *e = pm_attempt(&m, src, pat);
            if (e) k++;
            if (e && e > src) src = e;
            else if (src < m.src_end) src++;
            else break;
            if (anchored) break;
        }
    }
    return call_original(L);
}

void mb_lua_pattern_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"find", l_find},
        {"match", l_match},
        {"gmatch", l_gmatch},
        {"gsub", l_gsub},
    };
    lua_getglobal(L, LUA_STRLIBNAME);
    for (size_t i = 0; i < MB_ARRAY_LEN(fns); i++) {
        lua_getfield(L, -1, fns[i].name);
        lua_pushcclosure(L, fns[i].func, 1);
        lua_setfield(L, -2, fns[i].name);
    }
    lua_pop(L, 1);
}
