-- ctxprobe: calls every method of `match` (and moonbase.notify when the
-- social module offers it) from the one callback named by params.ctx, each
-- under pcall, and logs one warn line per method:
--   msg="probe|<ctx>|<method>|ok"  or  msg="probe|<ctx>|<method>|<error>"
-- tests/integration/lua_contexts.test.js checks the lines against the table
-- of docs/LUA_API.md ("Where each method may be called").
-- params: {ctx = "init" | "join_attempt" | "join" | "leave" | "start" | "input"
--          | "tick" | "timer" | "vote_result" | "vote_vetoed" | "get_state"
--          | "terminate" | "reload"}
-- matchmaker_matched (two tickets) probes moonbase.notify only: no match
-- object exists in the matchmaker's VM.
-- The callbacks that are not probed steer the match into the probed one:
-- leave (tick 1 kicks p2), terminate (tick 1 finishes), vote_result (start
-- opens and closes a vote), vote_vetoed (start opens a vote; the test vetoes
-- it), timer (start sets match:after(0)), input (the test sends an input).
local moonbase = require("moonbase")

local M = {
  tick_rate = 10,
  players = { min = 2, max = 2 },
  veto_tokens_per_player = 1,
  reconnect_grace_ms = 60000,
  matchmaker = { size = { min = 2, max = 2 } }, -- for matchmaker_matched (no match object there)
}

local UUID = "00000000-0000-4000-8000-000000000001"
local P = {}       -- the params (init stores them; reload reads them from the state)
local done = {}    -- contexts already probed (tick and get_state run every tick)
local handle       -- a pending timer, for timer:cancel

local PROBES = {
  { "match:players", function(m) m:players() end },
  { "match:log", function(m) m:log("probe") end },
  { "match:broadcast", function(m) m:broadcast("probe", { n = 1 }) end },
  { "match:send", function(m) m:send("p1", "probe", { n = 1 }) end },
  { "match:set_label", function(m) m:set_label({ probe = true }) end },
  { "match:after", function(m) m:after(86400000, function() end) end },
  { "timer:cancel", function(m)
      if handle then handle:cancel() else error("no handle") end
    end },
  { "match:vote_start", function(m)
      m:vote_start({ options = { { id = "a", label = "A" }, { id = "b", label = "B" } }, method = "plurality", window_ms = 60000 })
    end },
  { "match:vote_close", function(m) m:vote_close("00000000-0000-4000-8000-00000000dead") end },
  { "match:start", function(m) m:start() end },
  { "match:kick", function(m) m:kick("nobody", "probe") end },
  { "match:finish", function(m) m:finish({ probe = true }) end },
  { "moonbase.notify", function(m)
      if moonbase.notify then moonbase.notify(UUID, "probe", "Probe", {}) end
    end },
}

-- the top level of the file: runs for every VM of the mode (moonbase.notify
-- is refused here; match methods cannot be reached: no match exists yet)
do
  local ok, err = pcall(function()
    if moonbase.notify then moonbase.notify(UUID, "probe", "Probe", {}) end
  end)
  moonbase.log("warn", "probe|load|moonbase.notify|" .. (ok and "ok" or tostring(err)))
end

local function probe(ctx, match)
  if P.ctx ~= ctx or done[ctx] then return end
  done[ctx] = true
  for _, p in ipairs(PROBES) do
    local ok, err = pcall(p[2], match)
    moonbase.log("warn", "probe|" .. ctx .. "|" .. p[1] .. "|" .. (ok and "ok" or tostring(err)))
  end
end

function M.matchmaker_matched(entries)
  local ok, err = pcall(function()
    if moonbase.notify then moonbase.notify(UUID, "probe", "Probe", {}) end
  end)
  moonbase.log("warn", "probe|matchmaker_matched|moonbase.notify|" .. (ok and "ok" or tostring(err)))
  return true
end

function M.init(match, params)
  P = params
  -- (a pending timer would keep the match from hot reload: none for "reload")
  if P.ctx ~= "reload" then handle = match:after(86400000, function() end) end
  probe("init", match)
  return { ctx = P.ctx }
end

function M.join_attempt(match, state, player) probe("join_attempt", match) end
function M.join(match, state, player) probe("join", match) end
function M.leave(match, state, player, reason) probe("leave", match) end

function M.start(match, state)
  -- (set here, not in init: under simulate a timer set in init is due on the real clock)
  if P.ctx == "timer" then match:after(0, function(match, state) probe("timer", match) end) end
  if P.ctx == "vote_result" then
    local id = match:vote_start({ options = { { id = "a", label = "A" }, { id = "b", label = "B" } }, method = "plurality", window_ms = 60000 })
    match:vote_close(id)
  elseif P.ctx == "vote_vetoed" then
    match:vote_start({ options = { { id = "a", label = "A" }, { id = "b", label = "B" } }, method = "plurality", window_ms = 60000, veto_enabled = true })
  end
  probe("start", match)
end

function M.input(match, state, player, input) probe("input", match) end

function M.tick(match, state, tick)
  if tick == 1 and P.ctx == "leave" then match:kick("p2", "probe") end
  if tick == 1 and P.ctx == "terminate" then match:finish({ done = true }) end
  probe("tick", match)
end

function M.vote_result(match, state, result) probe("vote_result", match) end
function M.vote_vetoed(match, state, vote_id, player_id) probe("vote_vetoed", match) end

function M.get_state(match, state, viewer)
  probe("get_state", match)
  return { ctx = state.ctx, probed = done[state.ctx] or false }
end

function M.terminate(match, state, reason) probe("terminate", match) end

function M.reload(match, state)
  P = { ctx = state.ctx }
  probe("reload", match)
  return state
end

return M
