/*
 * simulate.c - `moonbase simulate <mode> --players N --ticks T
 * [--inputs FILE.jsonl] [--scripts DIR]`: run a match offline (no
 * network, no database) on a simulated clock and print each tick's
 * broadcast state as one JSON line on stdout. Designers use it to test
 * mode scripts; tests/lua/ uses it for the example modes.
 *
 * --params JSON is passed to init(match, params).
 * Inputs file: one JSON object per line,
 *   {"tick": 3, "player": 1, "input": {"action": "move", "x": 1, "y": 0}}
 * ("player" is 1..N, or "player_id": "p2"); an input is applied in the
 * tick it names, before tick(). Players are p1..pN (usernames player1..).
 * Exit status: 0 when the run completes, 1 when the script fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "match_internal.h"

void match_sim_free(match *m);

static void print_state(match *m, const char *json, size_t len, void *ud)
{
    fwrite(json, 1, len, stdout);
    fputc('\n', stdout);
}

int match_simulate_main(int argc, char **argv)
{
    const char *mode = NULL, *inputs = NULL, *scripts = "./scripts", *params_text = NULL;
    long players = 2, ticks = 10;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--players") && v) players = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--ticks") && v) ticks = strtol(argv[++i], NULL, 10);
        else if (!strcmp(a, "--inputs") && v) inputs = argv[++i];
        else if (!strcmp(a, "--scripts") && v) scripts = argv[++i];
        else if (!strcmp(a, "--params") && v) params_text = argv[++i];
        else if (!strcmp(a, "--help")) {
            printf("usage: moonbase simulate <mode> --players N --ticks T [--inputs FILE.jsonl] [--params JSON] [--scripts DIR]\n");
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
    mb_log_set_level(MB_LOG_WARN);
    match_runtime_init();
    modes_set_limits(0, 0, 0, 0);
    modes_init(scripts, false);
    match_set_observer(print_state, NULL);
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
            if (!j || !json_is_integer(json_object_get(j, "tick")) ||
                !json_is_object(json_object_get(j, "input"))) {
                fprintf(stderr, "simulate: %s:%d: need {\"tick\": N, \"player\": K, \"input\": {...}}\n", inputs, ln);
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
    int code;
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
    match *m = match_create(mode, params, &code, err, sizeof err);
    json_decref(params);
    if (!m) {
        fprintf(stderr, "simulate: %s\n", err);
        rc = 1;
        goto out;
    }
    int64_t period = 1000 / m->v->tick_rate;
    /* Reserve every seat first, so the match starts once all have joined. */
    for (long p = 1; p <= players && p <= m->v->players_max; p++) {
        char pid[32];
        snprintf(pid, sizeof pid, "p%ld", p);
        match_reserve(m, pid, 1000000000);
    }
    for (long p = 1; p <= players && !match_is_over(m); p++) {
        char pid[32], usn[32];
        snprintf(pid, sizeof pid, "p%ld", p);
        snprintf(usn, sizeof usn, "player%ld", p);
        if (!match_sim_join(m, pid, usn, err, sizeof err))
            fprintf(stderr, "simulate: %s could not join: %s\n", pid, err);
    }
    for (long t = 1; t <= ticks && !match_is_over(m); t++) {
        size_t i;
        json_t *in;
        json_array_foreach(all_inputs, i, in) {
            if (json_integer_value(json_object_get(in, "tick")) != t) continue;
            char pid[64];
            const char *given = json_string_value(json_object_get(in, "player_id"));
            if (given) snprintf(pid, sizeof pid, "%s", given);
            else snprintf(pid, sizeof pid, "p%lld", (long long)json_integer_value(json_object_get(in, "player")));
            match_sim_input(m, pid, json_object_get(in, "input"));
        }
        match_sim_step(m, t * period);
    }
    if (match_is_over(m)) {
        json_t *res = match_result(m);
        json_t *line = json_pack("{s:O}", "finished", res ? res : json_null());
        char *s = json_dumps(line, JSON_COMPACT);
        printf("%s\n", s);
        free(s);
        json_decref(line);
        if (m->failed) rc = 1;
    }
    fflush(stdout);
    match_sim_free(m);
out:
    json_decref(all_inputs);
    match_runtime_destroy();
    modes_shutdown();
    mb_metrics_free();
    return rc;
}
