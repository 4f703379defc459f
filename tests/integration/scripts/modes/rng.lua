-- rng (test mode): what math.random draws. init draws three numbers, every tick
-- one more; get_state shows them with match.seed.
local M = { tick_rate = 20, players = { min = 1, max = 4 } }
function M.init(match, params)
  return { first = { math.random(1000000000), math.random(1000000000), math.random(1000000000) }, last = 0 }
end
function M.tick(match, state, tick) state.last = math.random(1000000000) end
function M.get_state(match, state, viewer)
  return { seed = match.seed, first = state.first, last = state.last }
end
return M
