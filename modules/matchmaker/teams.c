/* teams.c - skill-balanced team assignment (see teams.h). */
#include "teams.h"

#include <math.h>
#include <stdbool.h>

void mm_teams_balance(const double *skill, size_t n, int teams, int *team_out)
{
    if (n == 0) return;
    if (teams < 1) teams = 1;
    if ((size_t)teams > n) teams = (int)n;
    if (n > MM_TEAMS_MAX_PLAYERS) n = MM_TEAMS_MAX_PLAYERS; /* callers never exceed it */

    size_t order[MM_TEAMS_MAX_PLAYERS];
    double sum[MM_TEAMS_MAX_PLAYERS];
    size_t room[MM_TEAMS_MAX_PLAYERS];

    /* Strongest first; stable insertion sort keeps ties in input order. */
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && skill[order[j - 1]] < skill[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int t = 0; t < teams; t++) {
        sum[t] = 0;
        room[t] = n / (size_t)teams + ((size_t)t < n % (size_t)teams ? 1 : 0);
    }
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        int best = -1;
        for (int t = 0; t < teams; t++)
            if (room[t] > 0 && (best < 0 || sum[t] < sum[best])) best = t;
        team_out[i] = best; /* >= 0: the rooms add up to n, so one has room left */
        // cppcheck-suppress negativeIndex
        sum[best] += skill[i];
        // cppcheck-suppress negativeIndex
        room[best]--;
    }

    /* Swaps keep sizes. Each accepted swap strictly lowers the sum of
     * squared team sums, so this terminates; the round cap bounds time. */
    for (int round = 0; round < 32; round++) {
        bool improved = false;
        for (size_t i = 0; i < n; i++) {
            for (size_t j = i + 1; j < n; j++) {
                int a = team_out[i], b = team_out[j];
                if (a == b) continue;
                double diff = sum[a] - sum[b];
                double delta = skill[i] - skill[j];
                if (fabs(diff - 2 * delta) < fabs(diff) - 1e-9) {
                    team_out[i] = b;
                    team_out[j] = a;
                    sum[a] -= delta;
                    sum[b] += delta;
                    improved = true;
                }
            }
        }
        if (!improved) break;
    }
}
