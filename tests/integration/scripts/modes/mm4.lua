-- mm4 (test mode, matchmaker.test.js): matchable in groups of 2..4 players of one region
-- whose skills are at most 100 apart (the window never widens); smaller groups after 1.5 s.
local M = {
  tick_rate = 10,
  players = { min = 2, max = 4 },
  matchmaker = {
    size = { min = 2, max = 4 },
    skill = "skill",
    window = 100,
    widen_per_second = 0,
    max_window = 100,
    same = { "region" },
    fill_after_ms = 1500,
    timeout_ms = 60000,
  },
}

function M.init(match, params) return { mm = params.players ~= nil, joined = 0 } end
function M.join(match, state, player) state.joined = state.joined + 1 end
function M.get_state(match, state, viewer) return { mm = state.mm, joined = state.joined } end

return M
