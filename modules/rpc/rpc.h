/*
 * rpc.h - the rpc module (rpc.c): the server script scripts/server.lua,
 * its RPCs (POST /v1/rpc/{name}) and its chat filter (moonbase.on_chat),
 * for the modules that declare .requires = MB_REQUIRES("rpc") (chat).
 */
#ifndef MB_RPC_H
#define MB_RPC_H

#include <stddef.h>

#include "module.h"

extern const mb_module rpc_module;

/* What moonbase.on_chat decided about one message. */
typedef enum rpc_chat_verdict {
    RPC_CHAT_ACCEPT = 0, /* *out = replacement content (malloc'd), or NULL to keep it */
    RPC_CHAT_REJECTED,   /* the filter refused it: reason filled */
    RPC_CHAT_FAILED,     /* the filter raised: reason filled; the message must be refused */
} rpc_chat_verdict;

/* Run moonbase.on_chat(ctx, channel_id, content) if server.lua set one. */
rpc_chat_verdict rpc_chat_filter(const char *player_id, const char *username, const char *channel_id,
                                 const char *content, char **out, char *reason, size_t rlen);

#endif
