-- faulty (test mode, script_faults.test.js): fails in the callback named by params.where, in the
-- way named by params.what: "error" (error()), "loop" (while true do end) or "memory" (a table
-- that grows until the memory cap). Where the failure needs a trigger:
--   join_attempt, join   the second player's match.join (the first one watches)
--   leave                the second player's match.leave
--   start                the match starts (players.min = 2)
--   input                {"action": "fault"}
--   tick, get_state      after {"action": "arm"}
--   terminate            after {"action": "finish"} (match:finish)
--   vote_result          {"action": "vote"} starts a 200 ms vote; its result fails
-- With any other `where` nothing fails; terminate logs its reason (match:log).
local M = { tick_rate = 20, players = { min = 2, max = 4 }, reconnect_grace_ms = 300 }

local function fail(where, params)
  if params.where ~= where then return end
  local what = params.what
  if what == "loop" then
    while true do end
  elseif what == "memory" then
    -- 1 MiB a step: the 16 MiB cap is reached in about 16 steps, far inside the 200 ms time
    -- budget even under ASan on a loaded machine (64 KiB steps still ran into the time limit
    -- there when other builds shared the two cores; 256-byte steps did so every other run)
    local t = {}
    for i = 1, 100000000 do t[i] = string.rep("m", 1048576) .. i end
  else
    error("fault in " .. where)
  end
end

function M.init(match, params)
  fail("init", params)
  return { p = params, armed = false, n = 0 }
end

function M.join_attempt(match, state, player, metadata)
  if #match:players() >= 1 then fail("join_attempt", state.p) end
  return true
end

function M.join(match, state, player)
  state.n = state.n + 1
  if state.n >= 2 then fail("join", state.p) end
end

function M.leave(match, state, player, reason)
  fail("leave", state.p)
end

function M.start(match, state)
  fail("start", state.p)
end

function M.input(match, state, player, input)
  if input.action == "fault" then
    fail("input", state.p)
  elseif input.action == "arm" then
    state.armed = true
  elseif input.action == "finish" then
    match:finish({ by = player.id })
  elseif input.action == "vote" then
    match:vote_start({ options = { { id = "a", label = "A" }, { id = "b", label = "B" } },
                       method = "plurality", window_ms = 200 })
  end
end

function M.tick(match, state, tick)
  if state.armed then fail("tick", state.p) end
end

function M.get_state(match, state, viewer)
  if state.armed then fail("get_state", state.p) end
  return { where = state.p.where, armed = state.armed, n = state.n }
end

function M.vote_result(match, state, result)
  fail("vote_result", state.p)
end

function M.terminate(match, state, reason)
  match:log("terminate", reason)
  fail("terminate", state.p)
end

return M
