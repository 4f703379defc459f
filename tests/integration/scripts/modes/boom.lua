-- boom (test mode): a script error ends this match only.
-- Inputs: {"action": "arm"}   the next tick raises an error
--         {"action": "boom"}  raise an error inside input
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

function M.init(match, params) return { armed = false } end

function M.input(match, state, player, input)
  if input.action == "arm" then state.armed = true end
  if input.action == "boom" then
    error("boom in input")
  end
end

function M.tick(match, state, tick)
  if state.armed then
    error("boom in tick")
  end
end

function M.get_state(match, state, viewer) return { armed = state.armed } end

return M
