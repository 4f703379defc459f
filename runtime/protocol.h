/*
 * protocol.h - the WebSocket envelope {cid?, type, payload}: parsing,
 * declarative payload validation, error codes, and reply encoding.
 *
 * Message types are data: each module declares an array of mb_msg_def
 * (type name, fields, handler). The runtime registers them at start-up;
 * one validator produces the bad_request error for every type, so
 * handlers see only payloads whose declared fields have the right types.
 */
#ifndef MB_PROTOCOL_H
#define MB_PROTOCOL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "mb.h"

/* Error codes shared by the socket and REST (docs/PROTOCOL.md). */
typedef enum {
    MB_E_BAD_REQUEST = 0,
    MB_E_UNAUTHORIZED,
    MB_E_FORBIDDEN,
    MB_E_NOT_FOUND,
    MB_E_CONFLICT,
    MB_E_RATE_LIMITED,
    MB_E_UNAVAILABLE,
    MB_E_INTERNAL,
    MB_E_UNSUPPORTED,
    MB_E_ACCOUNT_BANNED, /* 403: sign-in of a banned account */
    MB_E__COUNT
} mb_errcode;

const char *mb_errcode_str(mb_errcode c);
int mb_errcode_http_status(mb_errcode c);

typedef enum {
    MB_F_STRING = 1,
    MB_F_INTEGER,
    MB_F_NUMBER,
    MB_F_BOOL,
    MB_F_OBJECT,
    MB_F_ARRAY,
    MB_F_STRING_OR_ARRAY, /* vote.cast option_id */
    MB_F_ANY,
} mb_field_type;

/* A field's own rule beyond type and size (a format, a character set):
 * returns NULL when v is acceptable, else the client-facing reason
 * ("username must be ..."), a static string. v has the declared type. */
typedef const char *(*mb_field_check)(const json_t *v);

/* One declared payload field. Strings: min/max length in characters
 * (UTF-8 code points). Numbers: min/max value. Arrays: max items in max.
 * Objects: max members in max. 0 for max means "no limit beyond the
 * message size". check (optional) runs after the type and size rules;
 * format names what it checks for `moonbase describe` ("uuid", ...). */
typedef struct mb_field {
    const char *name;
    mb_field_type type;
    bool required;
    double min, max;
    mb_field_check check;
    const char *format;
} mb_field;

/* The name of a field type as `moonbase describe` prints it ("string"). */
const char *mb_field_type_name(mb_field_type t);

struct mb_session;

/* Handler for a validated message. payload is borrowed (valid for the
 * call). cid is NULL when the client sent none; the handler must send
 * exactly one reply or error when cid is non-NULL (mb_session_reply /
 * mb_session_error), possibly later (then it copies cid). */
typedef void (*mb_msg_fn)(struct mb_session *s, const char *cid, json_t *payload);

typedef struct mb_msg_def {
    const char *type;
    const mb_field *fields; /* terminated by {NULL} */
    mb_msg_fn handler;
    bool before_auth; /* allowed before session.connect succeeds */
} mb_msg_def;

/* The fast path of a message type whose payload the handler reads as JSON
 * text: payload/len are the payload object's bytes exactly as received
 * ("{}" when the client sent none), borrowed for the call. It is called
 * instead of def->handler when mb_envelope_scan accepts the message (the
 * usual case); otherwise the message takes the jansson path and
 * def->handler, so both must behave the same. Only for types without
 * declared fields that need session.connect first. */
typedef void (*mb_msg_raw_fn)(struct mb_session *s, const char *cid, const char *payload, size_t len);

/* Register a module's message types (borrowed; must outlive the server).
 * Returns MB_ERR when a type is registered twice. */
mb_status mb_protocol_register(const mb_msg_def *defs, size_t n);
const mb_msg_def *mb_protocol_find(const char *type);
/* Attach the raw fast path to a registered type (see mb_msg_raw_fn).
 * Returns MB_ERR for an unknown type, one with fields, or one allowed before
 * authentication. */
mb_status mb_protocol_register_raw(const char *type, mb_msg_raw_fn fn);
/* mb_protocol_find, plus the type's raw handler (NULL when it has none). */
const mb_msg_def *mb_protocol_lookup(const char *type, mb_msg_raw_fn *raw);
void mb_protocol_reset(void);
/* All registered definitions, for docs and metrics. */
size_t mb_protocol_count(void);
const mb_msg_def *mb_protocol_at(size_t i);

/* A parsed envelope. env owns the json root; type/cid point into it. */
typedef struct mb_envelope {
    json_t *root;
    const char *type; /* NULL when missing/invalid */
    const char *cid;  /* NULL when absent */
    json_t *payload;  /* borrowed from root; an empty object when absent */
} mb_envelope;

/* Parse one text message. On success returns MB_OK with env filled (free with
 * mb_envelope_free). On failure returns MB_ERR, writes a client-facing reason
 * to err and may still fill env->cid/type when they were readable (so the
 * error can echo them); env must still be freed. */
mb_status mb_envelope_parse(const char *data, size_t len, int max_depth, mb_envelope *env, char *err,
                            size_t errlen);
void mb_envelope_free(mb_envelope *env);

/* What mb_envelope_scan finds: pointers into the scanned text. */
typedef struct mb_envelope_view {
    const char *data;
    char type[65];
    char cid[129];
    bool has_cid;
    const char *payload; /* the payload object's text; NULL when absent */
    size_t payload_len;
} mb_envelope_view;

/* Check one text message with yajl's event parser (no tree): well-formed
 * JSON, an object whose only keys are type, cid and payload, each at most
 * once, type a string of 1..64 bytes, cid of 1..128, no NUL in either,
 * payload an object, nesting at most max_depth. Returns MB_OK when all of that
 * holds. Duplicate keys inside the payload are NOT checked (the raw
 * handler's decoder refuses them). Returns MB_ERR otherwise, without a reason:
 * the caller then runs mb_envelope_parse, whose verdict and error text are
 * the ones the client sees. */
mb_status mb_envelope_scan(const char *data, size_t len, int max_depth, mb_envelope_view *v);

/* Validate payload against def->fields. Returns MB_OK, or MB_ERR with err set
 * ("field 'x' must be a string", ...). */
mb_status mb_validate(const mb_field *fields, json_t *payload, char *err, size_t errlen);
/* Refuse a member of payload that fields does not declare: MB_ERR with err
 * "unknown field 'x' (a, b)" naming the declared fields, else MB_OK. */
mb_status mb_validate_closed(const mb_field *fields, json_t *payload, char *err, size_t errlen);

/* Nesting depth of a JSON value (scalars are 0, [] is 1). */
int mb_json_depth(const json_t *v);
/* Make s valid UTF-8 in place: every byte that does not belong to a
 * well-formed sequence becomes '?'. Returns s. For error texts that may
 * quote client input. */
char *mb_utf8_sanitize(char *s);
/* Number of UTF-8 code points in a valid UTF-8 string. */
size_t mb_utf8_len(const char *s, size_t bytes);

/* Encode an envelope as compact JSON: {"cid":..,"type":..,"payload":..}.
 * payload is borrowed (NULL encodes {}). Returns a malloc'd string and
 * its length. */
char *mb_envelope_encode(const char *type, const char *cid, const json_t *payload, size_t *len);
/* Build an error payload {code, message, request_type} (new reference). */
json_t *mb_error_payload(mb_errcode code, const char *message, const char *request_type);

#endif
