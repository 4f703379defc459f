-- mmto (test mode, matchmaker.test.js): pairs only, and a ticket lives 800 ms.
local M = {
  tick_rate = 10,
  players = { min = 2, max = 2 },
  matchmaker = { size = { min = 2, max = 2 }, skill = "skill", window = 10, timeout_ms = 800 },
}

function M.init(match, params) return {} end
function M.get_state(match, state, viewer) return {} end

return M
