-- deep (test mode, lua_guards.test.js): recursion through the Lua/C boundary and pattern
-- bombs. {"action": A} arms the next tick to run one of:
--   wrap     local function f() return coroutine.wrap(f)() end f()
--   resume   the same through coroutine.resume
--   gsub     local function f() return ("ab"):gsub(".", f) end f()
--   sort     a table.sort comparator that sorts again
--   caught   the wrap recursion inside pcall: the match goes on; get_state shows the error
--   pattern  string.find(("a"):rep(25), ("a?"):rep(25) .. ("a"):rep(25)), 2^25 backtracking
-- Before the guards the first four crashed the server (segmentation fault) and the pattern
-- held the event loop for 2-3 s.
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

local runs = {}

function runs.wrap()
  local function f() return coroutine.wrap(f)() end
  f()
end

function runs.resume()
  local function f()
    local ok, err = coroutine.resume(coroutine.create(f))
    if not ok then error(err, 0) end
  end
  f()
end

function runs.gsub()
  local function f() return ("ab"):gsub(".", f) end
  f()
end

function runs.sort()
  local function f() table.sort({ 3, 1, 2 }, function(a, b) f() return a < b end) end
  f()
end

function runs.pattern()
  return string.find(("a"):rep(25), ("a?"):rep(25) .. ("a"):rep(25))
end

function M.init(match, params) return { armed = nil, caught = nil, after = 0 } end

function M.input(match, state, player, input)
  state.armed = input.action
end

function M.tick(match, state, tick)
  local a = state.armed
  state.armed = nil
  if a == "caught" then
    local ok, err = pcall(runs.wrap)
    state.caught = tostring(err)
  elseif a then
    runs[a]()
  end
  if state.caught then state.after = state.after + 1 end
end

function M.get_state(match, state, viewer) return { caught = state.caught, after = state.after } end

return M
