/*
 * bench_vote.c - time vote_result() for the ranked methods.
 *
 *   bench_vote [runs [ballots [options]]]      defaults: 50 10000 10
 *
 * For ranked (IRV), borda and condorcet (Schulze): cast `ballots` random
 * full rankings over `options` options (one voter each, weight 1), then
 * time `runs` calls of vote_result (tallying plus building the result JSON)
 * after one untimed warm-up call.
 * Prints a table, then one JSON line per method:
 *   {"bench":"vote","method":"ranked","ballots":10000,"options":10,
 *    "median_ms":..,"p99_ms":..}
 * p99 is the nearest-rank percentile (with 50 runs: the slowest run).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tally.h"

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static vote_t *make_vote(const char *method, size_t ballots, size_t options, double *cast_ms)
{
    json_t *opts = json_array(), *elig = json_array();
    char id[32];
    for (size_t i = 0; i < options; i++) {
        snprintf(id, sizeof(id), "opt%zu", i);
        json_array_append_new(opts, json_pack("{s:s, s:s}", "id", id, "label", id));
    }
    for (size_t i = 0; i < ballots; i++) {
        snprintf(id, sizeof(id), "player%zu", i);
        json_array_append_new(elig, json_string(id));
    }
    json_t *spec = json_pack("{s:o, s:s}", "options", opts, "method", method);
    char err[256];
    vote_t *v = vote_new(spec, elig, err, sizeof(err));
    if (!v) {
        fprintf(stderr, "bench_vote: vote_new: %s\n", err);
        exit(1);
    }
    json_decref(spec);

    /* Pre-build the ballots so only vote_cast is timed. */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    json_t **lists = malloc(ballots * sizeof(*lists));
    size_t perm[VOTE_MAX_OPTIONS];
    for (size_t b = 0; b < ballots; b++) {
        for (size_t i = 0; i < options; i++) perm[i] = i;
        for (size_t i = options; i > 1; i--) { /* Fisher-Yates */
            size_t j = (size_t)(xorshift(&seed) % i), t = perm[i - 1];
            perm[i - 1] = perm[j];
            perm[j] = t;
        }
        lists[b] = json_array();
        for (size_t i = 0; i < options; i++) {
            snprintf(id, sizeof(id), "opt%zu", perm[i]);
            json_array_append_new(lists[b], json_string(id));
        }
    }
    double t0 = now_ms();
    for (size_t b = 0; b < ballots; b++) {
        const char *why = vote_cast(v, json_string_value(json_array_get(elig, b)), lists[b]);
        if (why) {
            fprintf(stderr, "bench_vote: cast rejected: %s\n", why);
            exit(1);
        }
    }
    *cast_ms = now_ms() - t0;
    for (size_t b = 0; b < ballots; b++) json_decref(lists[b]);
    free(lists);
    json_decref(elig);
    return v;
}

int main(int argc, char **argv)
{
    size_t runs = argc > 1 ? strtoul(argv[1], NULL, 10) : 50;
    size_t ballots = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    size_t options = argc > 3 ? strtoul(argv[3], NULL, 10) : 10;
    if (runs < 1 || ballots < 1 || options < VOTE_MIN_OPTIONS || options > VOTE_MAX_OPTIONS) {
        fprintf(stderr, "usage: bench_vote [runs [ballots [options(2..64)]]]\n");
        return 2;
    }
    static const char *const methods[] = {"ranked", "borda", "condorcet"};
    double median[3], p99[3], cast_ms[3];
    char winners[3][32];
    double *t = malloc(runs * sizeof(*t));

    for (size_t m = 0; m < 3; m++) {
        vote_t *v = make_vote(methods[m], ballots, options, &cast_ms[m]);
        /* One untimed warm-up: the first large allocation after freeing the
         * pre-built ballots pays for the allocator's consolidation. */
        json_decref(vote_result(v, "bench", 0));
        for (size_t r = 0; r < runs; r++) {
            double t0 = now_ms();
            json_t *res = vote_result(v, "bench", r);
            t[r] = now_ms() - t0;
            if (r == 0)
                snprintf(winners[m], sizeof(winners[m]), "%s",
                         json_is_string(json_object_get(res, "winner"))
                             ? json_string_value(json_object_get(res, "winner"))
                             : "(none)");
            json_decref(res);
        }
        qsort(t, runs, sizeof(*t), cmp_double);
        median[m] = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
        size_t rank = (runs * 99 + 99) / 100; /* nearest rank, ceil(0.99 n) */
        p99[m] = t[rank - 1];
        vote_free(v);
    }
    free(t);

    printf("vote_result: %zu random full rankings x %zu options, %zu runs\n", ballots, options, runs);
    printf("%-10s %10s %10s %14s  %s\n", "method", "median_ms", "p99_ms", "cast_all_ms", "winner");
    for (size_t m = 0; m < 3; m++)
        printf("%-10s %10.3f %10.3f %14.3f  %s\n", methods[m], median[m], p99[m], cast_ms[m], winners[m]);
    for (size_t m = 0; m < 3; m++)
        printf("{\"bench\":\"vote\",\"method\":\"%s\",\"ballots\":%zu,\"options\":%zu,"
               "\"median_ms\":%.3f,\"p99_ms\":%.3f}\n",
               methods[m], ballots, options, median[m], p99[m]);
    return 0;
}
