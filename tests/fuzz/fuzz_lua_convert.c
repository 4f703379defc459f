/*
 * fuzz_lua_convert.c - JSON -> Lua -> JSON (runtime/lua/convert.h), the path
 * every match payload, input and state takes, plus the script-side
 * moonbase.json.decode / moonbase.json.encode.
 *
 * One input is JSON text. It is decoded with jansson (the flags of
 * moonbase.json.decode), pushed into a sandboxed VM with
 * mb_lua_push_json_protected, and converted back twice: to a jansson tree
 * (mb_lua_to_json) and to text (mb_lua_encode_json). Invariants:
 *   - both conversions succeed or fail together, and agree;
 *   - the round trip keeps the value under the documented rules: object
 *     members that are null disappear, array nulls stay, numbers keep their
 *     double value, strings keep their bytes (NUL included), [] stays [];
 *   - pushing fails only for nesting deeper than MB_LUA_JSON_MAX_DEPTH or for
 *     memory, and leaves the stack as it was;
 *   - the script path json.encode(json.decode(text)) gives the same JSON;
 *   - mb_lua_push_json_text (decode.c, no tree) gives the same value, or refuses
 *     a duplicate key.
 * Links mb_lua only (runtime/lua/CMakeLists.txt may define this target).
 */
#include <jansson.h>
#include <lauxlib.h>
#include <lua.h>
#include <math.h>

#include "convert.h"
#include "mb.h"
#include "fuzz_common.h"
#include "vm.h"

static mb_lua_vm *vm;

/* jansson allocations are counted: every input must give back all it took (libFuzzer's own
 * leak check is off for this target, see fuzz_lua_convert.options: the VM keeps memory). */
static long live_json;
static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p) live_json++;
    return p;
}
static void count_free(void *p)
{
    if (p) live_json--;
    free(p);
}
static int script_ref = LUA_NOREF; /* function(s) -> encode(decode(s)) or nil, err */

static int depth_of(const json_t *v)
{
    int best = 0;
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_object(v)) {
        json_object_foreach ((json_t *)v, k, c) {
            int d = depth_of(c);
            if (d > best) best = d;
        }
        return best + 1;
    }
    if (json_is_array(v)) {
        json_array_foreach (v, i, c) {
            int d = depth_of(c);
            if (d > best) best = d;
        }
        return best + 1;
    }
    return 0;
}

/* Does `back` equal `orig` after a trip through Lua (convert.h rules)? */
static int same(const json_t *orig, const json_t *back, char *why, size_t cap)
{
    if (json_is_null(orig)) {
        if (json_is_null(back)) return 1;
        snprintf(why, cap, "null came back as type %d", json_typeof(back));
        return 0;
    }
    if (json_is_boolean(orig)) {
        if (json_is_boolean(back) && json_is_true(orig) == json_is_true(back)) return 1;
        snprintf(why, cap, "boolean changed");
        return 0;
    }
    if (json_is_number(orig)) {
        if (!json_is_number(back)) {
            snprintf(why, cap, "number came back as type %d", json_typeof(back));
            return 0;
        }
        double a = json_number_value(orig), b = json_number_value(back);
        if (json_is_integer(orig)) a = (double)json_integer_value(orig);
        if (json_is_integer(back)) b = (double)json_integer_value(back);
        if (a == b) return 1;
        snprintf(why, cap, "number %.17g came back as %.17g", a, b);
        return 0;
    }
    if (json_is_string(orig)) {
        if (json_is_string(back) && json_string_length(orig) == json_string_length(back) &&
            memcmp(json_string_value(orig), json_string_value(back), json_string_length(orig)) == 0)
            return 1;
        snprintf(why, cap, "string changed");
        return 0;
    }
    if (json_is_array(orig)) {
        if (!json_is_array(back) || json_array_size(back) != json_array_size(orig)) {
            snprintf(why, cap, "array of %zu came back as type %d size %zu", json_array_size(orig),
                     json_typeof(back), json_is_array(back) ? json_array_size(back) : 0);
            return 0;
        }
        for (size_t i = 0; i < json_array_size(orig); i++)
            if (!same(json_array_get(orig, i), json_array_get(back, i), why, cap)) return 0;
        return 1;
    }
    /* object: null members are dropped */
    if (!json_is_object(back)) {
        snprintf(why, cap, "object came back as type %d", json_typeof(back));
        return 0;
    }
    size_t kept = 0;
    const char *k;
    json_t *v;
    json_object_foreach ((json_t *)orig, k, v) {
        json_t *b = json_object_get(back, k);
        if (json_is_null(v)) {
            if (b) {
                snprintf(why, cap, "null member \"%.40s\" kept", k);
                return 0;
            }
            continue;
        }
        if (!b) {
            snprintf(why, cap, "member \"%.40s\" lost", k);
            return 0;
        }
        if (!same(v, b, why, cap)) return 0;
        kept++;
    }
    if (kept != json_object_size(back)) {
        snprintf(why, cap, "object gained members");
        return 0;
    }
    return 1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_set_alloc_funcs(count_malloc, count_free);
    char err[512];
    mb_lua_limits lim = {.mem_bytes = (size_t)64 << 20, .time_ms = 5000, .warn_ms = 5000};
    vm = mb_lua_vm_new(&lim, NULL, err, sizeof err);
    if (!vm) {
        fprintf(stderr, "fuzz_lua_convert: %s\n", err);
        abort();
    }
    static const char code[] = "local json = require('moonbase').json\n"
                               "return function(s)\n"
                               "  local ok, v = pcall(json.decode, s)\n"
                               "  if not ok then return nil, 'decode' end\n"
                               "  local ok2, t = pcall(json.encode, v)\n"
                               "  if not ok2 then return nil, t end\n"
                               "  return t\n"
                               "end\n";
    if (mb_lua_vm_load_string(vm, code, "=fuzz", err, sizeof err) != MB_LUA_OK ||
        mb_lua_vm_pcall(vm, 0, 1, err, sizeof err) != MB_LUA_OK) {
        fprintf(stderr, "fuzz_lua_convert: %s\n", err);
        abort();
    }
    script_ref = luaL_ref(mb_lua_vm_state(vm), LUA_REGISTRYINDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MB_LUA_JSON_MAX_DECODE_BYTES) return 0;
    lua_State *L = mb_lua_vm_state(vm);
    int top = lua_gettop(L);
    long live_before = live_json;
    json_error_t jerr;
    json_t *orig = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    bool orig_ok = orig != NULL;

    if (orig) {
        char err[512] = "";
        int rc = mb_lua_push_json_protected(vm, orig, err, sizeof err);
        if (rc != MB_LUA_OK) {
            FUZZ_CHECK(lua_gettop(L) == top, "failed push left %d values", lua_gettop(L) - top);
            FUZZ_CHECK(err[0], "push failed without a reason");
            FUZZ_CHECK(rc == MB_LUA_ERR_MEMORY || depth_of(orig) > MB_LUA_JSON_MAX_DEPTH,
                       "push of depth %d failed: %s", depth_of(orig), err);
        } else {
            FUZZ_CHECK(lua_gettop(L) == top + 1, "push left %d values", lua_gettop(L) - top);
            FUZZ_CHECK(depth_of(orig) <= MB_LUA_JSON_MAX_DEPTH, "depth %d pushed", depth_of(orig));
            char e1[512] = "", e2[512] = "";
            json_t *back = mb_lua_to_json(L, -1, e1, sizeof e1);
            mb_buf b = MB_BUF_INIT;
            mb_buf_append(&b, "x", 1); /* encode appends after existing bytes */
            int erc = mb_lua_encode_json(L, -1, &b, e2, sizeof e2);
            FUZZ_CHECK((back != NULL) == (erc == MB_OK), "to_json %s, encode %s (%s%s)",
                       back ? "ok" : "failed", erc == MB_OK ? "ok" : "failed", e1, e2);
            FUZZ_CHECK(lua_gettop(L) == top + 1, "conversion changed the stack");
            if (back) {
                char why[256] = "";
                FUZZ_CHECK(same(orig, back, why, sizeof why), "round trip: %s", why);
                FUZZ_CHECK(b.len >= 1 && b.data[0] == 'x', "encode clobbered the buffer prefix");
                json_t *parsed = json_loadb(b.data + 1, b.len - 1, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
                FUZZ_CHECK(parsed != NULL, "encode wrote invalid JSON (%s): %.*s", jerr.text,
                           (int)(b.len > 300 ? 300 : b.len - 1), b.data + 1);
                FUZZ_CHECK(same(back, parsed, why, sizeof why), "text and tree disagree: %s", why);
                json_decref(parsed);
                json_decref(back);

                /* the script path: json.encode(json.decode(text)) */
                lua_rawgeti(L, LUA_REGISTRYINDEX, script_ref);
                lua_pushlstring(L, (const char *)data, size);
                char serr[512];
                int src = mb_lua_vm_pcall(vm, 1, 2, serr, sizeof serr);
                if (src == MB_LUA_OK) {
                    if (lua_isstring(L, -2)) {
                        size_t tl;
                        const char *t = lua_tolstring(L, -2, &tl);
                        json_t *sj = json_loadb(t, tl, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
                        FUZZ_CHECK(sj != NULL, "json.encode wrote invalid JSON: %.*s",
                                   (int)(tl > 300 ? 300 : tl), t);
                        FUZZ_CHECK(same(orig, sj, why, sizeof why), "script round trip: %s", why);
                        json_decref(sj);
                    } else {
                        const char *m = lua_tostring(L, -1);
                        /* the host path succeeded, so only the VM's memory cap may refuse */
                        FUZZ_CHECK(m && strstr(m, "memory"), "script path failed: %s", m ? m : "?");
                    }
                    lua_pop(L, 2);
                } else {
                    FUZZ_CHECK(src == MB_LUA_ERR_MEMORY, "script call failed: %s", serr);
                }
            } else {
                FUZZ_CHECK(b.len == 1, "failed encode left output behind");
                FUZZ_CHECK(e1[0] && e2[0], "failure without a reason");
            }
            mb_buf_free(&b);
            lua_pop(L, 1);
        }
        json_decref(orig);
    } else {
        /* malformed text: the script's decode must refuse it too */
        lua_rawgeti(L, LUA_REGISTRYINDEX, script_ref);
        lua_pushlstring(L, (const char *)data, size);
        char serr[512];
        if (mb_lua_vm_pcall(vm, 1, 2, serr, sizeof serr) == MB_LUA_OK) {
            FUZZ_CHECK(lua_isnil(L, -2), "json.decode accepted what jansson refused");
            lua_pop(L, 2);
        }
    }
    /* the text decoder (match inputs): the same value as the jansson
     * path, or a refusal for a duplicate key (jansson here keeps the last);
     * text jansson refuses (lone surrogates, integers beyond int64) may be
     * accepted, but nothing may leak or stay on the stack */
    {
        char terr[512] = "";
        int trc = mb_lua_push_json_text(vm, (const char *)data, size, 0, terr, sizeof terr);
        if (trc == MB_LUA_OK) {
            FUZZ_CHECK(lua_gettop(L) == top + 1, "text decode left %d values", lua_gettop(L) - top);
            if (orig_ok) {
                char e1[512] = "", why[256] = "";
                json_t *back = mb_lua_to_json(L, -1, e1, sizeof e1);
                json_t *again = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
                FUZZ_CHECK(back && again, "text decode result does not convert: %s", e1);
                FUZZ_CHECK(same(again, back, why, sizeof why), "text decoder differs: %s", why);
                json_decref(back);
                json_decref(again);
            }
            lua_pop(L, 1);
        } else {
            FUZZ_CHECK(lua_gettop(L) == top, "failed text decode left %d values", lua_gettop(L) - top);
            FUZZ_CHECK(terr[0], "text decode failed without a reason");
            /* jansson also stops at a NUL byte outside strings and ignores the rest
             * ("1\0x" reads as 1); the text decoder calls that trailing garbage */
            FUZZ_CHECK(!orig_ok || trc == MB_LUA_ERR_MEMORY || strstr(terr, "duplicate") ||
                           strstr(terr, "nested deeper") || memchr(data, 0, size) != NULL,
                       "text decoder refused what jansson read: %s", terr);
        }
    }
    FUZZ_CHECK(lua_gettop(L) == top, "stack grew by %d", lua_gettop(L) - top);
    /* collect now: json.decode's box and anything a failed push left go back at once */
    lua_gc(L, LUA_GCCOLLECT, 0);
    FUZZ_CHECK(live_json == live_before, "%ld jansson allocations leaked", live_json - live_before);
    return 0;
}
