-- runaway (test mode, lua_budget.test.js): runaway callbacks under the default budgets.
-- Inputs: {"action": "loop"}      while true do end in input (interpreted or compiled)
--         {"action": "count"}     a numeric for loop to math.huge, compiled: the loop body
--                                 is traced during the warm-up calls of init
--         {"action": "alloc"}     a compiled loop allocating a table per iteration, forever
--         {"action": "arm"}       the next tick loops forever
-- state.warm counts the warm-up iterations (the same functions, with bounded counts).
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

local function count(n)
  local x = 0
  for i = 1, n do x = x + i end
  return x
end

local function alloc(n)
  local last
  for i = 1, n do last = { i, i + 1 } end
  return last
end

function M.init(match, params)
  local warm = 0
  for _ = 1, 20 do warm = warm + count(1000) + #alloc(1000) end
  return { armed = false, warm = warm }
end

function M.input(match, state, player, input)
  if input.action == "loop" then
    while true do end
  elseif input.action == "count" then
    count(math.huge)
  elseif input.action == "alloc" then
    alloc(math.huge)
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

function M.get_state(match, state, viewer) return { armed = state.armed, warm = state.warm } end

return M
