-- nilerr (test mode): the Lua failure convention (docs/DEVELOPING.md "Conventions",
-- docs/LUA_API.md §3): an expected failure returns nil, "message"; success returns true.
-- join_attempt refuses with metadata.refuse = "nil" (nil, "refused with nil") or "false"
-- (false, "refused with false": still accepted). The input {"action": "probe"} answers the
-- sender with a "probe" message: for each call the type and value of the first result and
-- the second result (the message).
local M = { tick_rate = 10, players = { min = 1, max = 4 } }
function M.init(match, params) return {} end
function M.join_attempt(match, state, player, metadata)
  if metadata and metadata.refuse == "nil" then return nil, "refused with nil" end
  if metadata and metadata.refuse == "false" then return false, "refused with false" end
  return true
end
function M.input(match, state, player, input)
  if input.action ~= "probe" then return end
  local r = {}
  local function rec(name, first, message)
    r[name] = { type = type(first), value = first, message = message or "(none)" }
  end
  rec("send_absent", match:send("nobody", "x", {}))
  rec("kick_absent", match:kick("nobody", "bye"))
  rec("start_running", match:start())
  rec("send_self", match:send(player.id, "x", {}))
  match:send(player.id, "probe", r)
end
function M.get_state(match, state, viewer) return {} end
return M
