/*
 * token.h - session tokens (token.c): keys, issue, verify, revocation.
 * Layer 2: uses the base layer, jwt.c and loop.c.
 */
#ifndef MB_TOKEN_H
#define MB_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "mb.h"

/* Issue a session token for a player; returns malloc'd JWT. version is the
 * account's token version (claim "tv"; see mb_token_block). */
char *mb_token_issue(const char *player_id, const char *username, int version);
/* Verify; MB_OK copies the player id/username (<= 63 chars). MB_ERR puts
 * the client-facing reason in err ("expired", ...); a token refused by
 * mb_token_block fails with "account deleted", "account banned" or
 * "session revoked". */
mb_status mb_token_verify(const char *token, char player_id[64], char username[64], char *err, size_t errlen);

/* Revocation: from now on refuse the session tokens of player_id: every
 * one while state is MB_TOKENS_BANNED or MB_TOKENS_DELETED, those with a
 * token version below min_version for MB_TOKENS_REVOKED (after an unban or
 * a "sign out everywhere"). The entry lives until until_wall_ms (epoch ms),
 * when every token it refuses has expired; a later call for the same player
 * replaces it. The table is bounded (MB_TOKEN_BLOCK_MAX entries, expired
 * ones pruned first): MB_ERR when it is full. The caller persists what a
 * restart needs and loads it back at start-up. */
typedef enum { MB_TOKENS_OK = 0, MB_TOKENS_REVOKED, MB_TOKENS_BANNED, MB_TOKENS_DELETED } mb_tokens_state;
#define MB_TOKEN_BLOCK_MAX 100000
mb_status mb_token_block(const char *player_id, mb_tokens_state state, int min_version,
                         int64_t until_wall_ms);
/* Room for one more entry (prunes expired ones when full)? */
bool mb_token_block_room(void);
/* The live entry for player_id: its state (MB_TOKENS_OK when none). */
mb_tokens_state mb_token_blocked(const char *player_id);
size_t mb_token_block_count(void);

/* ------------------------------------------------------- runtime only */
/* Load or create the development JWT key under data_dir (or use the
 * configured one). Returns MB_ERR with a logged reason when production mode
 * lacks a proper key. */
mb_status mb_core_keys_init(const mb_config *cfg);
const unsigned char *mb_jwt_key(size_t *len);
const char *mb_admin_token(void);
/* Sweep expired cache entries every few seconds (the prepare hook). */
void mb_token_cache_tick(void);
/* Table gauges of the token cache and the revocation table. */
void mb_tokens_register_tables(void);
/* Free the cache, the revocation table and the admin token. */
void mb_tokens_destroy(void);

#endif
