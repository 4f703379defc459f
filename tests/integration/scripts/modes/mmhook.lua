-- mmhook (test mode, matchmaker.test.js): groups of exactly four in two teams, passed through
-- M.matchmaker_matched: a group holding a player with properties.banned == 1 is refused, and
-- the hook puts each player in the team named by properties.side (1 or 2) instead of the
-- skill-balanced split. The match shows the teams it was made with (params.teams).
local M = {
  tick_rate = 10,
  players = { min = 4, max = 4 },
  matchmaker = {
    size = { min = 4, max = 4 },
    teams = 2,
    skill = "skill",
    window = 1000,
    same = { "region" },
    fill_after_ms = 60000,
    timeout_ms = 60000,
  },
}

function M.matchmaker_matched(entries)
  local teams = {}
  for i, e in ipairs(entries) do
    if e.properties.banned == 1 then return false end
    teams[i] = e.properties.side
  end
  return true, teams
end

function M.init(match, params) return { teams = params.teams } end
function M.get_state(match, state, viewer) return { teams = state.teams } end

return M
