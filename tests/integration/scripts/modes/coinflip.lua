-- coinflip (test mode): the README's example, verbatim (README.md "Example").
local M = { tick_rate = 1, players = { min = 2, max = 2 } }
function M.init(match, params) return { flips = 0 } end
function M.tick(match, state, tick)
  state.flips = state.flips + 1
  if state.flips == 3 then match:finish({ heads = math.random() < 0.5 }) end
end
function M.get_state(match, state, viewer) return { flips = state.flips } end
return M
