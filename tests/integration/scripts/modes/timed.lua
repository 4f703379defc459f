-- timed (test mode): one player starts it; it ends by itself after max_duration_ms.
local M = {
  tick_rate = 20,
  players = { min = 1, max = 2 },
  max_duration_ms = 600,
}

function M.init(match, params) return { terminated = false } end
function M.terminate(match, state, reason) match:log("terminate", reason) end
function M.get_state(match, state, viewer) return { elapsed_ticks = match.tick } end

return M
