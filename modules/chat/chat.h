/*
 * chat.h - chat channels: chat.join / chat.leave / chat.send on the socket,
 * chat.message to members, history over GET /v1/chat/{channel_id}/messages;
 * for the console (admin token) GET /v1/admin/chat/channels and
 * GET /v1/admin/chat/{channel_id}/messages (any channel by its storage key).
 *
 * Channel ids are 1..64 characters of [A-Za-z0-9._:-]. Three kinds:
 *   match:<match_id>   only the players seated in that match
 *   dm:<player_id>     a direct channel between the caller and that player;
 *                      each side names it after the other, so both see
 *                      "dm:<the other one>"; refused across a block
 *   anything else      an open room
 * A message is committed to PostgreSQL (group commit: every send of one
 * loop iteration goes in one INSERT) before anyone receives chat.message;
 * the sender's socket gets its copy with the request's cid.
 */
#ifndef MB_CHAT_H
#define MB_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "server.h"

#define CHAT_CHANNEL_MAX 64 /* characters in a channel id */

typedef enum { CHAT_ROOM, CHAT_MATCH, CHAT_DM } chat_kind;

/* A channel id as one player named it. */
typedef struct chat_ref {
    chat_kind kind;
    char view[CHAT_CHANNEL_MAX + 1];     /* the id as given ("dm:" ids lower-cased) */
    char key[96];                        /* storage key: view, or dm:<low>:<high> */
    char peer[40];                       /* CHAT_DM: the other player */
    char match_id[CHAT_CHANNEL_MAX + 1]; /* CHAT_MATCH */
} chat_ref;

/* Parse and check a channel id for player_id. Returns NULL, or a message
 * saying why the id is not valid (a bad_request). Pure: no lookups. */
const char *chat_parse(const char *channel_id, const char *player_id, chat_ref *out);

extern const mb_module chat_module;

#endif
