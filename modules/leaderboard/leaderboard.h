/*
 * leaderboard.h - leaderboards (modules/leaderboard, docs/LEADERBOARDS.md):
 * the module table for main.c. Scripts reach it through
 * moonbase.leaderboard.* (lb_lua.c), clients and admins through REST
 * (lb_rest.c).
 */
#ifndef MB_LEADERBOARD_H
#define MB_LEADERBOARD_H

#include "server.h"

extern const mb_module leaderboard_module;

#endif
