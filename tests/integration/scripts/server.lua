-- Test server script: RPCs for tests/integration/rpc.test.js.
local moonbase = require("moonbase")

-- the payload back, with who called
moonbase.rpc("echo", function(ctx, payload)
  return { echo = payload, player_id = ctx.player_id, username = ctx.username }
end)

-- nil, "message" -> 400 with that message
moonbase.rpc("refuse", function(ctx, payload)
  return nil, "refused: " .. tostring(payload.why or "no reason")
end)

-- error() -> 500 (details only in the server log)
moonbase.rpc("explode", function(ctx, payload)
  error("exploded on purpose")
end)

-- a value that is not JSON -> 500
moonbase.rpc("not_json", function(ctx, payload)
  return { f = function() end }
end)

-- returns nothing -> 200 null
moonbase.rpc("nothing", function(ctx, payload) end)

-- an array and a scalar are fine results
moonbase.rpc("list", function(ctx, payload)
  return { 1, 2, 3 }
end)

-- runs into the time budget -> 500
moonbase.rpc("spin", function(ctx, payload)
  while true do end
end)

-- state kept across calls in the server VM
local calls = 0
moonbase.rpc("count", function(ctx, payload)
  calls = calls + 1
  return { calls = calls }
end)
