-- Server-wide Lua: RPCs callable over POST /v1/rpc/{name}.
local moonbase = require("moonbase")

-- The arena's weekly leaderboard (docs/LEADERBOARDS.md). create is idempotent, so running it
-- at every load is fine; scripts/modes/arena.lua awards the points.
moonbase.leaderboard.create{ id = "arena_wins", operator = "incr", reset = "@weekly", metadata = { title = "Arena wins this week" } }

-- POST /v1/rpc/echo {"any": "json"} -> {"echo": {...}, "player_id": "...", "at": ms}
moonbase.rpc("echo", function(ctx, payload)
  return { echo = payload, player_id = ctx.player_id, at = moonbase.now() }
end)

-- POST /v1/rpc/roll {"sides": 6} -> {"value": 1..sides}
moonbase.rpc("roll", function(ctx, payload)
  local sides = tonumber(payload.sides) or 6
  if sides < 2 or sides > 1000 then
    return nil, "sides must be 2..1000"
  end
  return { value = math.random(1, sides) }
end)
