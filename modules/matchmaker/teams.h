/*
 * teams.h - split a matched group into teams balanced by skill sum.
 */
#ifndef MM_TEAMS_H
#define MM_TEAMS_H

#include <stddef.h>

/* The largest group mm_teams_balance takes (pool.h's MM_SIZE_LIMIT is this). */
#define MM_TEAMS_MAX_PLAYERS 256

/*
 * Assign each of the n players (skills borrowed) to one of `teams` teams
 * (1 <= teams <= n, n <= MM_TEAMS_MAX_PLAYERS): team_out[i] in 0 .. teams-1.
 * Team sizes are equal when teams divides n, else differ by at most one.
 * Heuristic: strongest first to the weakest team that still has room, then
 * pairwise swaps between teams while a swap narrows their sum difference.
 * Optimal for the usual small cases (2v2, 3v3; see tests); deterministic.
 */
void mm_teams_balance(const double *skill, size_t n, int teams, int *team_out);

#endif
