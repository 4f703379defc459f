-- timers (test mode): match:after handles and cancel().
-- Inputs: {"action": "after", "name": n, "ms": ms[, "cancel": other]}
--           starts a timer; when it fires it records n in state.fired and, with
--           "cancel", cancels the timer named other from inside its callback
--         {"action": "cancel", "name": n}   cancels it; the result is recorded
-- state.results is a list of "name=true|false" in the order cancels ran.
local json = require("moonbase").json
local M = { tick_rate = 20, players = { min = 1, max = 2 } }
function M.init(match, params) return { handles = {}, fired = json.array(), results = json.array() } end
local function cancel(state, name)
  local h = state.handles[name]
  local ok = h and h:cancel()
  table.insert(state.results, name .. "=" .. tostring(ok))
end
function M.input(match, state, player, input)
  if input.action == "after" then
    state.handles[input.name] = match:after(input.ms, function(m, s)
      table.insert(s.fired, input.name)
      if input.cancel then cancel(s, input.cancel) end
    end)
  elseif input.action == "cancel" then
    cancel(state, input.name)
  elseif input.action == "type" then
    local h = match:after(10000, function() end)
    table.insert(state.results, type(h) .. ":" .. tostring(getmetatable(h)))
    h:cancel()
  end
end
function M.get_state(match, state, viewer)
  return { fired = state.fired, results = state.results, nfired = #state.fired, nresults = #state.results }
end
return M
