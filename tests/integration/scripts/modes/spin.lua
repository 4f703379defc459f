-- spin (test mode): runaway loops. The time budget (--lua-time-ms) ends this match only.
-- Inputs: {"action": "spin"}        while true do end inside input
--         {"action": "pcall_spin"}  the same inside pcall (must not be swallowed)
--         {"action": "arm"}         the next tick loops forever
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

function M.init(match, params) return { armed = false, survived = false } end

function M.input(match, state, player, input)
  if input.action == "spin" then
    while true do end
  elseif input.action == "pcall_spin" then
    pcall(function() while true do end end)
    state.survived = true -- never reached
  elseif input.action == "arm" then
    state.armed = true
  end
end

function M.tick(match, state, tick)
  if state.armed then
    local i = 0
    while true do i = i + 1 end
  end
end

function M.get_state(match, state, viewer) return { armed = state.armed, survived = state.survived } end

return M
