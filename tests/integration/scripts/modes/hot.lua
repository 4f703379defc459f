-- hot (test mode) for hot reload tests: the test rewrites TAG (and more) in a copy of this
-- file while a match runs. get_state shows which code the match runs.
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

local TAG = "v1"

function M.init(match, params) return { born = TAG, ticks = 0 } end
function M.tick(match, state, tick) state.ticks = state.ticks + 1 end
function M.get_state(match, state, viewer)
  return { tag = TAG, born = state.born, ticks = state.ticks, version = match.version, reloaded = state.reloaded or 0 }
end

return M
