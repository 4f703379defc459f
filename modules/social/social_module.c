/*
 * social_module.c - the social module's table for the runtime: the
 * presence.update message, the REST routes of presence, friends and
 * notifications, and the hooks (init, destroy, before_sleep, metrics,
 * sessions) that start, flush and stop the parts.
 *
 * Not here: the work itself (presence.c, friends.c, notifications.c) and
 * what those share (social.c). This file sits on top of all of them.
 */
#include <stdlib.h>

#include "social.h"

/* ------------------------------------------------------------- module */

static const mb_field update_fields[] = {
    {"status", MB_F_STRING, true, 1, 32},
    {"metadata", MB_F_OBJECT, false, 0, 16},
    {NULL},
};

static const mb_msg_def messages[] = {
    {"presence.update", update_fields, presence_on_update, false},
};

static const mb_route routes[] = {
    {"GET", "/v1/presence", presence_route_get, MB_AUTH_BEARER, false},
    {"POST", "/v1/friends", friends_route_add, MB_AUTH_BEARER, false, friends_add_fields, 0},
    {"GET", "/v1/friends", friends_route_list, MB_AUTH_BEARER, false, NULL, 0, friends_list_query},
    {"DELETE", "/v1/friends/{player_id}", friends_route_remove, MB_AUTH_BEARER, false},
    {"POST", "/v1/friends/{player_id}/block", friends_route_block, MB_AUTH_BEARER, false},
    {"GET", "/v1/notifications", notifications_route_list, MB_AUTH_BEARER, false, NULL, 0,
     notifications_list_query},
    {"POST", "/v1/notifications/read", notifications_route_read, MB_AUTH_BEARER, false,
     notifications_read_fields, 0},
    {"DELETE", "/v1/notifications/{id}", notifications_route_delete, MB_AUTH_BEARER, false},
    {"POST", "/v1/admin/notifications", notifications_route_admin, MB_AUTH_ADMIN, false,
     notifications_admin_fields, 0},
};

static mb_status social_init(void)
{
    social_undo_init();
    presence_init();
    notifications_init();
    return MB_OK;
}

static void social_destroy(void)
{
    social_undo_destroy();
    notifications_destroy();
    presence_destroy();
}

static void social_before_sleep(void)
{
    presence_flush();
    notifications_flush();
}

static char *social_metrics(void)
{
    char *a = presence_metrics(), *b = notifications_metrics();
    char *out = mb_sprintf("%s%s", a, b);
    free(a);
    free(b);
    return out;
}

const mb_module social_module = {
    .api = MB_MODULE_API,
    .name = "social",
    .requires = MB_REQUIRES("match", "cluster"),
    .init = social_init,
    .destroy = social_destroy,
    .messages = messages,
    .n_messages = MB_ARRAY_LEN(messages),
    .routes = routes,
    .n_routes = MB_ARRAY_LEN(routes),
    .session_authed = presence_session_authed,
    .session_closed = presence_session_closed,
    .before_sleep = social_before_sleep,
    .metrics = social_metrics,
};
