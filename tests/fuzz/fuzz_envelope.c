/*
 * fuzz_envelope.c - one WebSocket text message through the path of
 * session.c's dispatch(): mb_envelope_parse, mb_protocol_find and
 * mb_validate against the real field tables of every registered message
 * type (the runtime's built-ins plus every module main.c assembles; the
 * list is generated from runtime/main.c by tests/fuzz/CMakeLists.txt), and
 * the error reply the server would send (mb_error_payload +
 * mb_envelope_encode), which must itself be a well-formed envelope.
 *
 * Invariants checked:
 *   - mb_envelope_scan (the raw-handler fast path) accepts a subset of what
 *     mb_envelope_parse accepts and finds the same type, cid and payload;
 *   - parse success: root object, type 1..64 characters, cid absent or
 *     1..128 characters, payload an object, depth <= max depth;
 *   - parse or validation failure: a non-empty reason;
 *   - validation success: every required field is present and of its type,
 *     strings within their length bounds and free of NUL;
 *   - every reply (error or echo) parses back with mb_envelope_parse and
 *     carries {code, message, request_type} with the same cid and type.
 * The payload is also validated against every other registered type, so
 * every field table sees every input the fuzzer finds.
 */
#include <jansson.h>
#include <math.h>
#include <sodium.h>

#include "fuzz_common.h"
#include "fuzz_modules.h"     /* generated: fuzz_modules[] = modules of runtime/main.c */
#include "session_internal.h" /* mb_session_register_builtin */
#include "protocol.h"
#if __has_include("chat.h")
#include "chat.h"
#define FUZZ_CHAT 1
#endif

#define MAX_DEPTH 32 /* the server's default --max-json-depth */

static void check_reply(const char *type, const char *cid, json_t *payload, const char *msg)
{
    size_t len;
    char *text = mb_envelope_encode(type, cid, payload, &len);
    FUZZ_CHECK(text && len == strlen(text), "reply not encoded");
    mb_envelope env;
    char err[256];
    int rc = mb_envelope_parse(text, len, MAX_DEPTH + 4, &env, err, sizeof err);
    FUZZ_CHECK(rc == 0, "the server's own reply does not parse (%s): %s", err, text);
    FUZZ_CHECK(strcmp(env.type, type) == 0, "reply type changed: %s", text);
    FUZZ_CHECK((cid == NULL) == (env.cid == NULL) && (!cid || strcmp(cid, env.cid) == 0),
               "reply cid changed: %s", text);
    if (strcmp(type, "error") == 0) {
        FUZZ_CHECK(json_is_string(json_object_get(env.payload, "code")), "error without code: %s", text);
        /* found here once: jansson's error text could cut a UTF-8 sequence ("invalid escape
         * near '\<F0>'") and the reply went out without a message (regressions/envelope/) */
        FUZZ_CHECK(json_is_string(json_object_get(env.payload, "message")),
                   "error without a message string (reason \"%s\"): %s", msg ? msg : "", text);
        FUZZ_CHECK(json_object_get(env.payload, "request_type") != NULL, "error without request_type: %s",
                   text);
    }
    mb_envelope_free(&env);
    free(text);
}

static void send_error(const mb_envelope *env, mb_errcode code, const char *msg)
{
    json_t *p = mb_error_payload(code, msg, env->type);
    FUZZ_CHECK(p != NULL, "no error payload");
    check_reply("error", env->cid, p, msg);
    json_decref(p);
}

/* Whatever mb_validate accepted really satisfies the field table. */
static void check_valid(const mb_msg_def *def, json_t *payload)
{
    for (const mb_field *f = def->fields; f && f->name; f++) {
        json_t *v = json_object_get(payload, f->name);
        if (!v || json_is_null(v)) {
            FUZZ_CHECK(!f->required, "%s: required field '%s' missing but accepted", def->type, f->name);
            continue;
        }
        switch (f->type) {
        case MB_F_STRING: FUZZ_CHECK(json_is_string(v), "%s.%s: not a string", def->type, f->name); break;
        case MB_F_INTEGER: FUZZ_CHECK(json_is_integer(v), "%s.%s: not an integer", def->type, f->name); break;
        case MB_F_NUMBER: FUZZ_CHECK(json_is_number(v), "%s.%s: not a number", def->type, f->name); break;
        case MB_F_BOOL: FUZZ_CHECK(json_is_boolean(v), "%s.%s: not a boolean", def->type, f->name); break;
        case MB_F_OBJECT: FUZZ_CHECK(json_is_object(v), "%s.%s: not an object", def->type, f->name); break;
        case MB_F_ARRAY: FUZZ_CHECK(json_is_array(v), "%s.%s: not an array", def->type, f->name); break;
        case MB_F_STRING_OR_ARRAY:
            FUZZ_CHECK(json_is_string(v) || json_is_array(v), "%s.%s", def->type, f->name);
            break;
        case MB_F_ANY: break;
        }
        if (json_is_string(v)) {
            const char *s = json_string_value(v);
            size_t n = json_string_length(v);
            FUZZ_CHECK(fuzz_utf8_valid(s, n), "%s.%s: invalid UTF-8 accepted", def->type, f->name);
            size_t cps = mb_utf8_len(s, n);
            FUZZ_CHECK(!(f->max > 0) || (double)cps <= f->max, "%s.%s: %zu characters accepted", def->type,
                       f->name, cps);
            FUZZ_CHECK(!(f->min > 0) || (double)cps >= f->min, "%s.%s: %zu characters accepted", def->type,
                       f->name, cps);
            FUZZ_CHECK(memchr(s, 0, n) == NULL, "%s.%s: NUL accepted", def->type, f->name);
        } else if (json_is_number(v) && (f->min != 0 || f->max != 0)) {
            double d = json_number_value(v);
            FUZZ_CHECK(isfinite(d) && d >= f->min && d <= f->max, "%s.%s: %g accepted", def->type, f->name,
                       d);
        } else if (json_is_array(v) && f->max > 0) {
            FUZZ_CHECK((double)json_array_size(v) <= f->max, "%s.%s: too many items", def->type, f->name);
        } else if (json_is_object(v) && f->max > 0) {
            FUZZ_CHECK((double)json_object_size(v) <= f->max, "%s.%s: too many members", def->type, f->name);
        }
    }
}

#ifdef FUZZ_CHAT
/* chat.* channel ids: chat_parse (modules/chat) on what validation let through. A DM channel
 * must map both sides to one storage key. */
static void check_chat(const char *type, json_t *payload)
{
    static const char me[] = "7f1c2a9e-0000-4000-8000-000000000001";
    const char *id = json_string_value(json_object_get(payload, "channel_id"));
    if (strncmp(type, "chat.", 5) != 0 || !id) return;
    chat_ref ref;
    const char *why = chat_parse(id, me, &ref);
    if (why) {
        FUZZ_CHECK(*why, "chat_parse refused without a reason");
        return;
    }
    FUZZ_CHECK(strlen(ref.view) >= 1 && strlen(ref.view) <= CHAT_CHANNEL_MAX, "view length %zu",
               strlen(ref.view));
    FUZZ_CHECK(ref.key[0] != '\0', "empty storage key for %s", id);
    if (ref.kind == CHAT_DM) {
        FUZZ_CHECK(strncmp(id, "dm:", 3) == 0 && strcmp(ref.peer, me) != 0, "dm kind for %s", id);
        char back[80];
        snprintf(back, sizeof back, "dm:%s", me);
        chat_ref other;
        const char *w2 = chat_parse(back, ref.peer, &other);
        FUZZ_CHECK(!w2, "the peer cannot name the channel back: %s", w2);
        FUZZ_CHECK(strcmp(other.key, ref.key) == 0, "dm keys differ: %s vs %s", ref.key, other.key);
    } else if (ref.kind == CHAT_MATCH) {
        FUZZ_CHECK(strncmp(id, "match:", 6) == 0 && ref.match_id[0], "match kind for %s", id);
    } else {
        FUZZ_CHECK(strncmp(id, "dm:", 3) != 0 && strncmp(id, "match:", 6) != 0, "room kind for %s", id);
    }
}
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sodium_init() < 0) abort();
    mb_session_register_builtin();
    for (size_t i = 0; fuzz_modules[i]; i++)
        if (mb_protocol_register(fuzz_modules[i]->messages, fuzz_modules[i]->n_messages) < 0) {
            fprintf(stderr, "fuzz_envelope: module %s registers a duplicate type\n", fuzz_modules[i]->name);
            abort();
        }
    if (getenv("FUZZ_LIST_TYPES")) {
        for (size_t i = 0; i < mb_protocol_count(); i++) printf("%s\n", mb_protocol_at(i)->type);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    mb_envelope env;
    int rc = mb_envelope_parse((const char *)data, size, MAX_DEPTH, &env, err, sizeof err);
    /* The fast scan (raw handlers) accepts only what the full parser accepts
     * (duplicate keys inside the payload aside: the raw handler's decoder
     * refuses those), and finds the same type, cid and payload. */
    mb_envelope_view view;
    if (mb_envelope_scan((const char *)data, size, MAX_DEPTH, &view) == 0) {
        if (rc < 0) {
            FUZZ_CHECK(strstr(err, "duplicate") != NULL, "scan accepted what the parser refused (%s)", err);
        } else {
            FUZZ_CHECK(strcmp(view.type, env.type) == 0, "scan type %s vs %s", view.type, env.type);
            FUZZ_CHECK(view.has_cid == (env.cid != NULL) && (!env.cid || strcmp(view.cid, env.cid) == 0),
                       "scan cid differs");
            if (view.payload) {
                json_error_t je;
                json_t *p = json_loadb(view.payload, view.payload_len, JSON_ALLOW_NUL, &je);
                FUZZ_CHECK(p && json_equal(p, env.payload), "scan payload span differs");
                json_decref(p);
            } else {
                FUZZ_CHECK(json_object_size(env.payload) == 0, "scan found no payload");
            }
        }
    }
    if (rc < 0) {
        FUZZ_CHECK(err[0] != '\0', "parse failed without a reason");
        FUZZ_CHECK(strlen(err) < sizeof err, "unterminated reason");
        send_error(&env, MB_E_BAD_REQUEST, err);
        mb_envelope_free(&env);
        /* The rate-limited path parses again with a 64-byte reason buffer. */
        char small[64];
        mb_envelope_parse((const char *)data, size, MAX_DEPTH, &env, small, sizeof small);
        FUZZ_CHECK(strlen(small) < sizeof small, "unterminated short reason");
        send_error(&env, MB_E_RATE_LIMITED, "too many messages; slow down");
        mb_envelope_free(&env);
        return 0;
    }

    FUZZ_CHECK(json_is_object(env.root), "root is not an object");
    FUZZ_CHECK(env.type && *env.type, "no type");
    size_t tl = strlen(env.type);
    FUZZ_CHECK(tl >= 1 && json_string_length(json_object_get(env.root, "type")) <= 64, "type length");
    FUZZ_CHECK(!env.cid || (json_string_length(json_object_get(env.root, "cid")) >= 1 &&
                            json_string_length(json_object_get(env.root, "cid")) <= 128),
               "cid length");
    FUZZ_CHECK(json_is_object(env.payload), "payload is not an object");
    FUZZ_CHECK(json_object_get(env.root, "payload") == env.payload, "payload not attached to root");
    FUZZ_CHECK(mb_json_depth(env.root) <= MAX_DEPTH, "too deep but accepted");

    const mb_msg_def *def = mb_protocol_find(env.type);
    if (!def) {
        send_error(&env, MB_E_UNSUPPORTED, "unknown message type");
    } else {
        FUZZ_CHECK(strcmp(def->type, env.type) == 0, "lookup returned %s for %s", def->type, env.type);
        if (mb_validate(def->fields, env.payload, err, sizeof err) < 0) {
            FUZZ_CHECK(err[0] != '\0', "validation failed without a reason");
            send_error(&env, MB_E_BAD_REQUEST, err);
        } else {
            check_valid(def, env.payload);
#ifdef FUZZ_CHAT
            check_chat(def->type, env.payload);
#endif
            /* an accepted request is answered; echo the payload like a reply would */
            check_reply(def->type, env.cid, env.payload, NULL);
        }
    }

    /* Every other field table on the same payload. */
    for (size_t i = 0; i < mb_protocol_count(); i++) {
        const mb_msg_def *d = mb_protocol_at(i);
        if (d == def) continue;
        if (mb_validate(d->fields, env.payload, err, sizeof err) == 0) check_valid(d, env.payload);
        else FUZZ_CHECK(err[0] != '\0', "validation of %s failed without a reason", d->type);
    }
    mb_envelope_free(&env);
    return 0;
}
