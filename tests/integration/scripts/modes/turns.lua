-- turns (test mode): send_state = "on_change". The state changes only when a
-- player sends {"action": "move"}; ticks change nothing.
local M = { tick_rate = 20, players = { min = 1, max = 2 }, send_state = "on_change",
            reconnect_grace_ms = 30000 }
function M.init(match, params) return { moves = 0, by = {} } end
function M.input(match, state, player, input)
  if input.action == "move" then
    state.moves = state.moves + 1
    state.by[player.id] = (state.by[player.id] or 0) + 1
  end
end
function M.get_state(match, state, viewer)
  if viewer then return { mine = state.by[viewer.id] or 0 } end
  return { moves = state.moves }
end
return M
