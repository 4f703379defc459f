/*
 * token.c - session tokens: the JWT signing key and the admin token (read or
 * created under the data dir at start-up), issuing and verifying tokens,
 * the cache of verified tokens and the revocation table. Uses the base
 * layer, jwt.c and loop.c (mb_cfg); core.c calls mb_token_cache_tick from
 * the prepare hook.
 */
#include "token.h"
#include "jwt.h"
#include "log.h"
#include "loop.h"
#include "map.h"
#include "mb.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned char jwt_key[MB_JWT_KEY_MAX];
static size_t jwt_key_len;
static char *admin_token;

const unsigned char *mb_jwt_key(size_t *len)
{
    *len = jwt_key_len;
    return jwt_key;
}
const char *mb_admin_token(void) { return admin_token; }

static mb_status mkdir_p(const char *dir)
{
    char *tmp = mb_strdup(dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(tmp, 0700);
        *p = '/';
    }
    int rc = mkdir(tmp, 0700);
    free(tmp);
    return rc == 0 || errno == EEXIST ? MB_OK : MB_ERR;
}

/* Read a secret file of the data dir, creating it with random bytes
 * (hex) on first use. Only the first run writes it: start-up only. */
static char *dev_secret(const char *dir, const char *name, size_t bytes)
{
    if (mkdir_p(dir) != MB_OK) {
        mb_error("data_dir_unusable", "dir=%s error=%s", dir, strerror(errno));
        return NULL;
    }
    char *path = mb_sprintf("%s/%s", dir, name);
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
    }
    if (strlen(buf) < bytes * 2) {
        unsigned char raw[64];
        randombytes_buf(raw, bytes);
        sodium_bin2hex(buf, sizeof buf, raw, bytes);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, strlen(buf)) != (ssize_t)strlen(buf)) {
            mb_error("data_dir_unusable", "file=%s error=%s", path, strerror(errno));
            if (fd >= 0) close(fd);
            free(path);
            return NULL;
        }
        close(fd);
        mb_info("dev_secret_created", "file=%s", path);
    }
    free(path);
    return mb_strdup(buf);
}

mb_status mb_core_keys_init(const mb_config *c)
{
    bool prod = mb_config_production(c);
    char *key = NULL;
    if (c->jwt_secret) key = mb_strdup(c->jwt_secret);
    else if (prod) {
        mb_error(
            "config_refused",
            "reason=\"production mode needs --jwt-secret (MOONBASE_JWT_SECRET); the development key is refused\"");
        return MB_ERR;
    } else {
        key = dev_secret(c->data_dir, "dev-jwt-key", 32);
        if (!key) return MB_ERR;
    }
    jwt_key_len = strlen(key) < MB_JWT_KEY_MAX ? strlen(key) : MB_JWT_KEY_MAX;
    memcpy(jwt_key, key, jwt_key_len);
    sodium_memzero(key, strlen(key));
    free(key);

    free(admin_token);
    admin_token = NULL;
    if (c->admin_token && *c->admin_token) {
        static const char *weak[] = {"admin", "password", "changeme", "moonbase", "admin-admin-admin"};
        for (size_t i = 0; i < MB_ARRAY_LEN(weak); i++)
            if (prod && strcmp(c->admin_token, weak[i]) == 0) {
                mb_error("config_refused", "reason=\"default admin token refused in production\"");
                return MB_ERR;
            }
        admin_token = mb_strdup(c->admin_token);
    } else if (!prod) {
        admin_token = dev_secret(c->data_dir, "dev-admin-token", 16);
        if (admin_token)
            mb_info("admin_token", "file=%s/dev-admin-token note=\"development admin token\"", c->data_dir);
    }
    return MB_OK;
}

char *mb_token_issue(const char *player_id, const char *username, int version)
{
    int64_t now = mb_wall_ms() / 1000;
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I}", "sub", player_id, "usn", username ? username : "", "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + mb_cfg()->token_ttl_s));
    if (version > 0) json_object_set_new(claims, "tv", json_integer(version));
    char *t = mb_jwt_sign(claims, jwt_key, jwt_key_len);
    json_decref(claims);
    return t;
}

/* Verified tokens, so a client calling REST in a loop does not pay for
 * base64 + HMAC + two JSON parses per request. Keyed by the whole token
 * string: only tokens that verified are stored. Bounded: at most
 * TOKEN_CACHE_MAX entries, the oldest one evicted first (a ring in insertion
 * order), and expired entries are swept every TOKEN_SWEEP_MS. It used to be
 * emptied only at 10000 entries: every login adds a token, so under steady
 * auth churn it grew by ~500 bytes a login for over an hour (reliability
 * round 2, item 8). A miss only costs one verification. */
#define TOKEN_CACHE_MAX 1024
#define TOKEN_SWEEP_MS 5000
typedef struct token_entry {
    char player_id[64], username[64];
    int64_t exp;
    int version; /* the token's "tv" claim (account token version) */
    char *token; /* the key (the map owns its own copy) */
} token_entry;
static mb_smap token_cache;
static token_entry *token_ring[TOKEN_CACHE_MAX]; /* oldest at token_head */
static size_t token_head, token_n;
static int64_t token_swept_ms;

static void token_entry_drop(token_entry *e)
{
    mb_smap_del(&token_cache, e->token);
    free(e->token);
    free(e);
}

/* Revoked tokens (mb_token_block): player id -> block_entry. Checked on
 * every verification, cached or not, so a revocation is immediate for REST
 * and session.connect alike. Bounded by MB_TOKEN_BLOCK_MAX; an entry goes
 * when its until passes (lazily on lookup, or in a sweep when full). */
typedef struct block_entry {
    mb_tokens_state state;
    int min_version;
    int64_t until_ms;
} block_entry;
static mb_smap token_blocks;

static void token_blocks_clear(void)
{
    size_t it = 0;
    void *v;
    while (mb_smap_next(&token_blocks, &it, NULL, &v)) free(v);
    mb_smap_free(&token_blocks);
}

static void token_blocks_prune(void)
{
    int64_t now = mb_wall_ms();
    char **dead = mb_malloc((token_blocks.count + 1) * sizeof *dead);
    size_t n = 0, it = 0;
    const char *k;
    void *v;
    while (mb_smap_next(&token_blocks, &it, &k, &v))
        if (((block_entry *)v)->until_ms <= now) dead[n++] = mb_strdup(k);
    for (size_t i = 0; i < n; i++) {
        free(mb_smap_del(&token_blocks, dead[i]));
        free(dead[i]);
    }
    free(dead);
}

bool mb_token_block_room(void)
{
    if (token_blocks.count < MB_TOKEN_BLOCK_MAX) return true;
    token_blocks_prune();
    return token_blocks.count < MB_TOKEN_BLOCK_MAX;
}

size_t mb_token_block_count(void) { return token_blocks.count; }

mb_status mb_token_block(const char *player_id, mb_tokens_state state, int min_version, int64_t until_wall_ms)
{
    if (!player_id || strlen(player_id) >= 64) return MB_ERR;
    block_entry *e = mb_smap_get(&token_blocks, player_id);
    if (state == MB_TOKENS_OK || until_wall_ms <= mb_wall_ms()) {
        free(mb_smap_del(&token_blocks, player_id));
        return MB_OK;
    }
    if (!e) {
        if (!mb_token_block_room()) {
            mb_warn("token_block_full", "entries=%zu player=%s", token_blocks.count, player_id);
            return MB_ERR;
        }
        e = mb_calloc(1, sizeof *e);
        mb_smap_put(&token_blocks, player_id, e);
    }
    e->state = state;
    e->min_version = min_version;
    e->until_ms = until_wall_ms;
    return MB_OK;
}

static block_entry *block_get(const char *player_id)
{
    if (!token_blocks.count) return NULL;
    block_entry *e = mb_smap_get(&token_blocks, player_id);
    if (e && e->until_ms <= mb_wall_ms()) {
        free(mb_smap_del(&token_blocks, player_id));
        return NULL;
    }
    return e;
}

mb_tokens_state mb_token_blocked(const char *player_id)
{
    block_entry *e = block_get(player_id);
    return e ? e->state : MB_TOKENS_OK;
}

/* NULL when the token of this player and version is not revoked. */
static const char *block_reason(const char *player_id, int version)
{
    block_entry *e = block_get(player_id);
    if (!e) return NULL;
    if (e->state == MB_TOKENS_DELETED) return "account deleted";
    if (e->state == MB_TOKENS_BANNED) return "account banned";
    if (version < e->min_version) return "session revoked";
    return NULL;
}

static void token_cache_clear(void)
{
    for (size_t i = 0; i < token_n; i++) {
        token_entry *e = token_ring[(token_head + i) % TOKEN_CACHE_MAX];
        free(e->token);
        free(e);
    }
    token_head = token_n = 0;
    mb_smap_free(&token_cache);
}

/* Drop expired entries, keeping the ring's order. */
static void token_cache_sweep(void)
{
    int64_t now = mb_wall_ms() / 1000;
    size_t kept = 0;
    for (size_t i = 0; i < token_n; i++) {
        token_entry *e = token_ring[(token_head + i) % TOKEN_CACHE_MAX];
        if (e->exp <= now) token_entry_drop(e);
        else token_ring[(token_head + kept++) % TOKEN_CACHE_MAX] = e;
    }
    token_n = kept;
}

static void token_cache_add(const char *token, const char *player_id, const char *username, int64_t exp,
                            int version)
{
    token_entry *e = mb_smap_get(&token_cache, token);
    if (!e) {
        if (token_n == TOKEN_CACHE_MAX) {
            token_entry_drop(token_ring[token_head]);
            token_head = (token_head + 1) % TOKEN_CACHE_MAX;
            token_n--;
        }
        e = mb_calloc(1, sizeof *e);
        e->token = mb_strdup(token);
        mb_smap_put(&token_cache, token, e);
        token_ring[(token_head + token_n++) % TOKEN_CACHE_MAX] = e;
    }
    memcpy(e->player_id, player_id, 64);
    memcpy(e->username, username, 64);
    e->exp = exp;
    e->version = version;
}

/* From the prepare hook: an O(TOKEN_CACHE_MAX) sweep every TOKEN_SWEEP_MS. */
void mb_token_cache_tick(void)
{
    int64_t now = mb_now_ms();
    if (now - token_swept_ms < TOKEN_SWEEP_MS) return;
    token_swept_ms = now;
    token_cache_sweep();
}

mb_status mb_token_verify(const char *token, char player_id[64], char username[64], char *err, size_t errlen)
{
    if (token && strlen(token) <= 4096) {
        token_entry *e = mb_smap_get(&token_cache, token);
        if (e && e->exp > mb_wall_ms() / 1000) {
            const char *revoked = block_reason(e->player_id, e->version);
            if (revoked) {
                mb_set_err(err, errlen, "%s", revoked);
                return MB_ERR;
            }
            memcpy(player_id, e->player_id, 64);
            memcpy(username, e->username, 64);
            return MB_OK;
        }
    }
    json_t *claims = NULL;
    mb_jwt_result r = mb_jwt_verify(token, jwt_key, jwt_key_len, mb_wall_ms() / 1000, &claims);
    if (r != MB_JWT_OK) {
        mb_set_err(err, errlen, "%s", mb_jwt_result_str(r));
        return MB_ERR;
    }
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *usn = json_string_value(json_object_get(claims, "usn"));
    if (!sub || strlen(sub) >= 64) {
        json_decref(claims);
        mb_set_err(err, errlen, "malformed token");
        return MB_ERR;
    }
    json_t *tv = json_object_get(claims, "tv");
    json_int_t version = json_is_integer(tv) ? json_integer_value(tv) : 0;
    if (tv && (!json_is_integer(tv) || version < 0 || version > INT32_MAX)) {
        json_decref(claims);
        mb_set_err(err, errlen, "malformed token");
        return MB_ERR;
    }
    const char *revoked = block_reason(sub, (int)version);
    if (revoked) {
        json_decref(claims);
        mb_set_err(err, errlen, "%s", revoked);
        return MB_ERR;
    }
    snprintf(player_id, 64, "%s", sub);
    snprintf(username, 64, "%s", usn ? usn : "");
    if (strlen(token) <= 4096)
        token_cache_add(token, player_id, username, json_integer_value(json_object_get(claims, "exp")),
                        (int)version);
    json_decref(claims);
    return MB_OK;
}

void mb_tokens_register_tables(void)
{
    mb_metric_table_smap("token_cache", &token_cache);
    mb_metric_table_smap("token_blocks", &token_blocks);
}

void mb_tokens_destroy(void)
{
    token_cache_clear();
    token_blocks_clear();
    free(admin_token);
    admin_token = NULL;
}
