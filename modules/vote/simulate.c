/*
 * simulate.c - `moonbase simulate <mode> --players N --ticks T
 * [--inputs FILE.jsonl] [--scripts DIR]`: run a match offline (no
 * network, no database) on a simulated clock and print each tick's
 * broadcast state as one JSON line on stdout. Designers use it to test
 * mode scripts; tests/lua/ uses it for the example modes.
 *
 * --params JSON is passed to init(match, params). --seed N (0..2^53-1)
 * seeds math.random, so a run can be replayed exactly; without it the seed
 * is random, and printed on stderr when the script fails.
 * Inputs file: one JSON object per line,
 *   {"tick": 3, "player": 1, "input": {"action": "move", "x": 1, "y": 0}}
 * ("player" is 1..N, or "player_id": "p2"); an input is applied in the
 * tick it names, before tick(). Players are p1..pN (usernames player1..).
 *
 * Votes are tallied offline as on the server (modules/vote/tally.c):
 * match:vote_start prints {"vote_start": {...}} (ids are "vote-1",
 * "vote-2", ... in start order), and lines of the inputs file cast and veto:
 *   {"tick": 12, "player": 1, "vote": {"option_id": "volcano"}}
 *   {"tick": 12, "player": 2, "vote": {"vote_id": "vote-1", "option_id": ["a", "b"]}}
 *   {"tick": 13, "player": 2, "veto": {}}          (or {"vote_id": ...})
 * (without vote_id: the most recently started open vote). Casts and vetoes
 * of tick N happen before tick N; a vote closes when its window has passed
 * at tick N's time, when everyone voted (close_when_all_voted) or after the
 * callback that called match:vote_close, and its result goes to the
 * script's vote_result exactly as on the server (vote_vetoed for a veto).
 * Printed: {"vote_result": {...}}, {"vote_vetoed": {...}}, and
 * {"vote_error": {tick, player_id, type, reason}} for a rejected cast or
 * veto (also on stderr; the run goes on). The `random` tie-breaker is
 * seeded with the vote's number, so runs are repeatable.
 * Exit status: 0 when the run completes, 1 when the script fails.
 *
 * It lives in the vote module because it needs both the match runtime
 * (match.h, driven offline) and the tally engine (tally.h); the match
 * module does not depend on votes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "match.h"
#include "match_ext.h"
#include "modes.h"
#include "simulate.h"
#include "tally.h"

static void print_state(match *m, const char *json, size_t len, void *ud)
{
    fwrite(json, 1, len, stdout);
    fputc('\n', stdout);
}

/* ------------------------------------------------------ offline votes */

#define SIM_MAX_OPEN_VOTES 16 /* as on the server */

typedef struct sim_vote {
    char id[24];
    vote_t *v;
    int64_t deadline_ms;
    bool done;
    bool close_now; /* the script called match:vote_close */
} sim_vote;

static struct {
    sim_vote *list;
    size_t n;
    json_t *veto_used; /* player id -> vetoes used in this match */
} SV;

static void print_json_line(const char *key, json_t *value /* steals */)
{
    json_t *line = json_pack("{s:o}", key, value);
    char *s = json_dumps(line, JSON_COMPACT);
    if (s) printf("%s\n", s);
    free(s);
    json_decref(line);
}

static sim_vote *sim_vote_find(const char *id)
{
    for (size_t i = 0; id && i < SV.n; i++)
        if (strcmp(SV.list[i].id, id) == 0) return &SV.list[i];
    return NULL;
}

static int sim_hook_vote_start(match *m, lua_State *L)
{
    char err[512];
    json_t *spec = mb_lua_to_json(L, 2, err, sizeof err);
    if (!spec || !json_is_object(spec)) {
        json_decref(spec);
        return luaL_error(L, "vote_start: spec must be a table: %s", spec ? "got a list" : err);
    }
    size_t open = 0;
    for (size_t i = 0; i < SV.n; i++) open += !SV.list[i].done;
    if (open >= SIM_MAX_OPEN_VOTES) {
        json_decref(spec);
        return luaL_error(L, "vote_start: at most %d open votes per match", SIM_MAX_OPEN_VOTES);
    }
    json_t *elig = match_player_ids(m);
    vote_t *v = vote_new(spec, elig, err, sizeof err);
    json_decref(elig);
    json_decref(spec);
    if (!v) return luaL_error(L, "vote_start: %s", err);
    SV.list = mb_realloc(SV.list, (SV.n + 1) * sizeof *SV.list);
    sim_vote *sv = &SV.list[SV.n++];
    memset(sv, 0, sizeof *sv);
    snprintf(sv->id, sizeof sv->id, "vote-%zu", SV.n);
    sv->v = v;
    sv->deadline_ms = match_now(m) + vote_window_ms(v);
    print_json_line("vote_start", vote_start_payload(v, sv->id));
    lua_pushstring(L, sv->id);
    return 1;
}

static int sim_hook_vote_close(match *m, lua_State *L)
{
    sim_vote *sv = sim_vote_find(luaL_checkstring(L, 2));
    if (!sv || sv->done) {
        lua_pushnil(L);
        lua_pushstring(L, sv ? "vote_closed" : "not_found");
        return 2;
    }
    vote_close(sv->v);
    sv->close_now = true;
    lua_pushboolean(L, 1);
    return 1;
}

static void sim_hook_match_ended(match *m)
{
    for (size_t i = 0; i < SV.n; i++)
        if (!SV.list[i].done) {
            vote_close(SV.list[i].v);
            SV.list[i].done = true;
            print_json_line("vote_cancelled", json_pack("{s:s}", "vote_id", SV.list[i].id));
        }
}

/* Close what is due at `now`, results to the script (a result may start
 * another vote or close one: loop until nothing is due). */
static void sim_votes_settle(match *m, int64_t now)
{
    for (bool again = true; again && !match_is_over(m);) {
        again = false;
        for (size_t i = 0; i < SV.n && !match_is_over(m); i++) {
            sim_vote *sv = &SV.list[i];
            if (sv->done) continue;
            bool due = sv->close_now || now >= sv->deadline_ms ||
                       (vote_close_when_all_voted(sv->v) && vote_all_voted(sv->v));
            if (!due) continue;
            sv->done = true;
            again = true;
            json_t *result = vote_result(sv->v, sv->id, (uint64_t)(i + 1));
            if (!result) continue;
            char id[sizeof sv->id];
            memcpy(id, sv->id, sizeof id);
            print_json_line("vote_result", json_incref(result));
            json_t *args = json_pack("[o]", result);
            match_call_json(m, "vote_result", args); /* may grow SV.list */
            json_decref(args);
        }
    }
}

static void sim_vote_error(long tick, const char *pid, const char *type, const char *reason)
{
    fprintf(stderr, "simulate: tick %ld: %s %s rejected: %s%s\n", tick, pid, type, reason,
            strcmp(reason, "not_found") == 0 ? " (no such vote, or no open vote when vote_id is left out)"
                                             : "");
    print_json_line("vote_error", json_pack("{s:I,s:s,s:s,s:s}", "tick", (json_int_t)tick, "player_id", pid,
                                            "type", type, "reason", reason));
}

/* One "vote" or "veto" line of the inputs file. */
static void sim_vote_apply(match *m, long tick, const char *pid, json_t *line)
{
    json_t *cast = json_object_get(line, "vote");
    json_t *body = cast ? cast : json_object_get(line, "veto");
    const char *type = cast ? "vote.cast" : "vote.veto";
    const char *id = json_string_value(json_object_get(body, "vote_id"));
    sim_vote *sv = NULL;
    if (id) sv = sim_vote_find(id);
    else
        for (size_t i = SV.n; i-- > 0;)
            if (!SV.list[i].done) {
                sv = &SV.list[i];
                break;
            }
    if (!sv) {
        sim_vote_error(tick, pid, type, "not_found");
        return;
    }
    if (sv->done) {
        sim_vote_error(tick, pid, type, "vote_closed");
        return;
    }
    if (cast) {
        const char *why = vote_cast(sv->v, pid, json_object_get(cast, "option_id"));
        if (why) sim_vote_error(tick, pid, type, why);
        return;
    }
    const char *why = vote_veto_check(sv->v, pid);
    if (why) {
        sim_vote_error(tick, pid, type, why);
        return;
    }
    json_int_t used = json_integer_value(json_object_get(SV.veto_used, pid));
    if (used >= match_veto_tokens(m)) {
        sim_vote_error(tick, pid, type, "no_tokens");
        return;
    }
    if (vote_mark_vetoed(sv->v, pid) != MB_OK) {
        sim_vote_error(tick, pid, type, "vote_closed");
        return;
    }
    json_object_set_new(SV.veto_used, pid, json_integer(used + 1));
    sv->done = true;
    char vid[sizeof sv->id];
    memcpy(vid, sv->id, sizeof vid);
    print_json_line("vote_vetoed", json_pack("{s:s,s:s}", "vote_id", vid, "vetoed_by", pid));
    json_t *args = json_pack("[s,s]", vid, pid);
    match_call_json(m, "vote_vetoed", args);
    json_decref(args);
}

static void sim_votes_destroy(void)
{
    for (size_t i = 0; i < SV.n; i++) vote_free(SV.list[i].v);
    free(SV.list);
    json_decref(SV.veto_used);
    memset(&SV, 0, sizeof SV);
}

int simulate_main(int argc, char **argv)
{
    const char *mode = NULL, *inputs = NULL, *scripts = "./scripts", *params_text = NULL;
    long players = 2, ticks = 10;
    const char *seed_text = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--players") && v) players = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--ticks") && v) ticks = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--inputs") && v) inputs = argv[++i];
        else if (!strcmp(a, "--scripts") && v) scripts = argv[++i];
        else if (!strcmp(a, "--params") && v) params_text = argv[++i];
        else if (!strcmp(a, "--seed") && v) seed_text = argv[++i];
        else if (!strcmp(a, "--help")) {
            printf(
                "usage: moonbase simulate <mode> --players N --ticks T [--inputs FILE.jsonl] [--params JSON] [--seed N] [--scripts DIR]\n"
                "inputs: one JSON object per line, {\"tick\": N, \"player\": K, \"input\": {...}}, or instead of\n"
                "  \"input\": \"vote\": {\"option_id\": ...[, \"vote_id\": \"vote-1\"]} or \"veto\": {[\"vote_id\": ...]}\n"
                "  (votes are tallied as on the server; see docs/LUA_API.md)\n");
            return 0;
        } else if (a[0] != '-' && !mode) mode = a;
        else {
            fprintf(stderr, "simulate: unexpected argument \"%s\" (see simulate --help)\n", a);
            return 2;
        }
    }
    if (!mode) {
        fprintf(stderr, "simulate: which mode? usage: moonbase simulate <mode> --players N --ticks T\n");
        return 2;
    }
    if (players < 0 || players > 10000 || ticks < 0 || ticks > 10000000) {
        fprintf(stderr, "simulate: --players must be 0..10000 and --ticks 0..10000000\n");
        return 2;
    }
    uint64_t seed = 0;
    if (seed_text) {
        char *end = NULL;
        errno = 0;
        unsigned long long sv = strtoull(seed_text, &end, 10);
        if (seed_text[0] < '0' || seed_text[0] > '9' || *end || errno || sv > MATCH_SEED_MAX) {
            fprintf(stderr, "simulate: --seed must be an integer 0..%llu (got \"%s\")\n",
                    (unsigned long long)MATCH_SEED_MAX, seed_text);
            return 2;
        }
        seed = sv;
    }
    mb_log_set_level(MB_LOG_WARN);
    match_runtime_init();
    modes_set_limits(0, 0, 0, 0);
    modes_init(scripts, false);
    match_set_observer(print_state, NULL);
    SV.veto_used = json_object();
    match_ext_add_method("vote_start", sim_hook_vote_start, MATCH_CTX_EVENTS); /* as the vote module */
    match_ext_add_method("vote_close", sim_hook_vote_close, MATCH_CTX_EVENTS);
    match_ext_on_ended(sim_hook_match_ended);
    int rc = 0;
    json_t **by_tick = NULL;
    size_t n_inputs = 0;
    json_t *all_inputs = json_array();
    if (inputs) {
        FILE *f = fopen(inputs, "r");
        if (!f) {
            fprintf(stderr, "simulate: cannot open %s\n", inputs);
            rc = 2;
            goto out;
        }
        char line[65536];
        int ln = 0;
        while (fgets(line, sizeof line, f)) {
            ln++;
            if (line[strspn(line, " \t\r\n")] == '\0') continue;
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            int kinds = j ? json_is_object(json_object_get(j, "input")) +
                                json_is_object(json_object_get(j, "vote")) +
                                json_is_object(json_object_get(j, "veto"))
                          : 0;
            json_t *cast = j ? json_object_get(j, "vote") : NULL;
            if (!j || !json_is_integer(json_object_get(j, "tick")) || kinds != 1 ||
                (cast && !json_object_get(cast, "option_id"))) {
                fprintf(
                    stderr,
                    "simulate: %s:%d: need {\"tick\": N, \"player\": K, \"input\": {...}}, or"
                    " \"vote\": {\"option_id\": ...[, \"vote_id\": ...]} or \"veto\": {[\"vote_id\": ...]}"
                    " instead of \"input\"\n",
                    inputs, ln);
                json_decref(j);
                fclose(f);
                rc = 2;
                goto out;
            }
            json_array_append_new(all_inputs, j);
            n_inputs++;
        }
        fclose(f);
    }
    (void)by_tick;
    mb_errcode code;
    char err[1024];
    json_t *params = NULL;
    if (params_text) {
        json_error_t je;
        params = json_loads(params_text, 0, &je);
        if (!json_is_object(params)) {
            fprintf(stderr, "simulate: --params must be a JSON object (%s)\n", je.text);
            json_decref(params);
            rc = 2;
            goto out;
        }
    }
    match *m = match_create_seeded(mode, params, seed_text ? &seed : NULL, &code, err, sizeof err);
    json_decref(params);
    if (!m) {
        fprintf(stderr, "simulate: %s\n", err);
        rc = 1;
        goto out;
    }
    const mode_version *mv = match_version(m);
    int64_t period = 1000 / mv->tick_rate;
    /* Reserve every seat first, so the match starts once all have joined. */
    for (long p = 1; p <= players && p <= mv->players_max; p++) {
        char pid[32];
        snprintf(pid, sizeof pid, "p%ld", p);
        match_reserve(m, pid, 1000000000);
    }
    for (long p = 1; p <= players && !match_is_over(m); p++) {
        char pid[32], usn[32];
        snprintf(pid, sizeof pid, "p%ld", p);
        snprintf(usn, sizeof usn, "player%ld", p);
        if (match_sim_join(m, pid, usn, err, sizeof err) != MB_OK)
            fprintf(stderr, "simulate: %s could not join: %s\n", pid, err);
    }
    sim_votes_settle(m, 0);
    for (long t = 1; t <= ticks && !match_is_over(m); t++) {
        size_t i;
        json_t *in;
        json_array_foreach (all_inputs, i, in) {
            if (json_integer_value(json_object_get(in, "tick")) != t) continue;
            char pid[64];
            const char *given = json_string_value(json_object_get(in, "player_id"));
            if (given) snprintf(pid, sizeof pid, "%s", given);
            else
                snprintf(pid, sizeof pid, "p%lld",
                         (long long)json_integer_value(json_object_get(in, "player")));
            if (json_object_get(in, "input")) match_sim_input(m, pid, json_object_get(in, "input"));
            else if (!match_is_over(m)) sim_vote_apply(m, t, pid, in);
        }
        sim_votes_settle(m, t * period);
        if (match_is_over(m)) break;
        match_sim_step(m, t * period);
        /* match:vote_close in a callback: the result comes right after it */
        sim_votes_settle(m, t * period);
    }
    if (match_is_over(m)) {
        json_t *res = match_result(m);
        json_t *line = json_pack("{s:O}", "finished", res ? res : json_null());
        char *s = json_dumps(line, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(line);
        if (match_failed(m)) rc = 1;
        if (match_failed(m) && !seed_text)
            fprintf(stderr, "simulate: seed %llu (replay with --seed %llu)\n",
                    (unsigned long long)match_seed(m), (unsigned long long)match_seed(m));
    }
    fflush(stdout);
    match_sim_free(m);
out:
    sim_votes_destroy();
    json_decref(all_inputs);
    match_runtime_destroy();
    modes_shutdown();
    mb_metrics_destroy();
    return rc;
}
