-- arena: 2..8 players move around a 100x100 arena and tag each other.
-- Inputs:
--   {"action": "move", "x": 10, "y": 5, "seq": 17}   move toward (x, y); at most
--        `speed` units per input (seq is echoed in the state: clients measure latency)
--   {"action": "attack"}                              hit everyone within 12 units
-- A player at 0 hp is out. A round ends when one player is left (winner) or when
-- the round time runs out (highest hp wins).
--
-- Rounds and the map vote (docs/LUA_API.md "A vote inside the match"): a match plays
-- params.rounds rounds (default 3 when the matchmaker made the match, i.e. params.players is
-- set; 1 for a match created by hand). Between rounds the match itself runs a map vote
-- (match:vote_start, plurality, live tallies, ties keep the current map, veto allowed); its
-- result (vote_result) or a veto (vote_vetoed) starts the next round result_ms later
-- (match:after; default 3000, the result stays on screen) on the chosen map with everyone back
-- at 100 hp. params: rounds, round_ms (120000), vote_ms (15000), result_ms, map (the first). Players see the vote through match.vote_start / match.vote_tally /
-- match.vote_result and the state's phase ("waiting", "playing", "voting"). After the last
-- round, or when fewer than 2 players are left, the match finishes with the last round's
-- winner and reason, plus `rounds` (each round's map, winner and reason) and `map`.
-- Messages (match:broadcast): "round" {round_ms[, round, rounds, map]} when a round starts,
-- "round_over" {round, rounds, winner, reason, vote} when one ends (vote: a map vote follows).
-- Wins (docs/STORAGE.md): each player's match wins are the storage object stats/wins
-- {wins = n} owned by the player (public, written only by the server). join reads it
-- (the answer comes at a later tick); the winner's count goes up when the match finishes,
-- and match.finished reaches the players once that write committed.
-- Leaderboard (docs/LEADERBOARDS.md): the match's winner also gets one point on "arena_wins"
-- (operator incr, reset every Monday 00:00 UTC), which the demo shows.
local vec = require("vec")
local moonbase = require("moonbase")

local function wins_id(player_id) return { collection = "stats", key = "wins", owner_id = player_id } end

local arena = {
  tick_rate = 20,
  players = { min = 2, max = 8 },
  reconnect_grace_ms = 10000,
  empty_timeout_ms = 30000,
  veto_tokens_per_player = 1,
  matchmaker = {
    size = { min = 2, max = 4 },
    skill = "skill",
    window = 100,
    widen_per_second = 50,
    max_window = 1000,
    same = { "region" },
    fill_after_ms = 5000,
    timeout_ms = 120000,
  },
}

local SIZE, SPEED, RANGE, DAMAGE = 100, 10, 12, 10
local ROUND_MS = 120000
local VOTE_MS = 15000
local RESULT_MS = 3000   -- the vote's result on screen before the next round
local MAPS = {
  { id = "jungle", label = "Jungle Path" },
  { id = "volcano", label = "Volcano Path" },
  { id = "caves", label = "Crystal Caves" },
}

local function known_map(id)
  for _, m in ipairs(MAPS) do
    if m.id == id then return true end
  end
  return false
end

-- The match's label (docs/LUA_API.md §3.2): clients browse joinable arenas with
-- GET /v1/matches?mode=arena&label.phase=waiting&open=true (or by map).
local function relabel(match, state)
  match:set_label({ phase = state.phase, map = state.map, round = state.round })
end

function arena.init(match, params)
  local rounds = tonumber(params.rounds) or (params.players and 3 or 1)
  local state = {
    players = {},
    round_ms = tonumber(params.round_ms) or ROUND_MS,
    vote_ms = tonumber(params.vote_ms) or VOTE_MS,
    result_ms = tonumber(params.result_ms) or RESULT_MS,
    elapsed_ms = 0,
    started = false,
    phase = "waiting",   -- "playing", "voting"
    round = 1,
    rounds = math.max(1, math.floor(rounds)),
    map = known_map(params.map) and params.map or MAPS[1].id,
    vote_id = false,
    results = {},        -- {round, map, winner, reason} per finished round
  }
  relabel(match, state)
  return state
end

-- Matchmade players (params.players) may always take their seat; others
-- only before the round starts.
function arena.join_attempt(match, state, player, metadata)
  if state.started and not state.players[player.id] then
    for _, p in ipairs(match.params.players or {}) do
      if p.player_id == player.id then return true end
    end
    return nil, "round already running"
  end
  return true
end

local function spawn(n)
  return 10 + (n * 23) % 80, 10 + (n * 37) % 80
end

function arena.join(match, state, player)
  local n = 0
  for _ in pairs(state.players) do n = n + 1 end
  local x, y = spawn(n)
  state.players[player.id] = {
    name = player.username,
    x = x,
    y = y,
    hp = 100,
    seq = 0,
  }
  state.wins = state.wins or {}
  local id = player.id
  -- no moonbase.storage under moonbase simulate (no database): wins are then not counted
  if not moonbase.storage then return end
  moonbase.storage.read({ wins_id(id) }, function(m, st, objs)
    if objs then
      st.wins = st.wins or {}
      st.wins[id] = objs[1] and tonumber(objs[1].value.wins) or 0
    end
  end)
end

function arena.leave(match, state, player, reason)
  state.players[player.id] = nil
end

local function announce_round(match, state)
  local data = { round_ms = state.round_ms }
  if state.rounds > 1 then
    data.round, data.rounds, data.map = state.round, state.rounds, state.map
  end
  match:broadcast("round", data)
  relabel(match, state)
end

function arena.start(match, state)
  state.started = true
  state.phase = "playing"
  announce_round(match, state)
end

function arena.input(match, state, player, input)
  local p = state.players[player.id]
  if state.phase ~= "playing" or not p or p.hp <= 0 then return end
  if type(input.seq) == "number" then p.seq = input.seq end
  if input.action == "move" and type(input.x) == "number" and type(input.y) == "number" then
    local dx, dy = input.x - p.x, input.y - p.y
    local d = math.sqrt(dx * dx + dy * dy)
    if d > SPEED then dx, dy = dx / d * SPEED, dy / d * SPEED end
    -- two decimals are plenty on screen and keep the state JSON short
    p.x = math.floor(vec.clamp(p.x + dx, 0, SIZE) * 100 + 0.5) / 100
    p.y = math.floor(vec.clamp(p.y + dy, 0, SIZE) * 100 + 0.5) / 100
  elseif input.action == "attack" then
    for id, other in pairs(state.players) do
      if id ~= player.id and other.hp > 0 and vec.dist(p.x, p.y, other.x, other.y) <= RANGE then
        other.hp = math.max(0, other.hp - DAMAGE)
      end
    end
  end
end

local function alive(state)
  local n, last = 0, nil
  for id, p in pairs(state.players) do
    if p.hp > 0 then n, last = n + 1, id end
  end
  return n, last
end

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- A point for the winner (moonbase.leaderboard is absent under `moonbase simulate`).
local function award(match, state, winner)
  local lb = moonbase.leaderboard
  if not lb or not winner then return end
  lb.create{ id = "arena_wins", operator = "incr", reset = "@weekly", metadata = { title = "Arena wins this week" } }
  local p = state.players[winner]
  local r, err = lb.submit("arena_wins", winner, 1, { username = p and p.name or nil, metadata = { match_id = match.id } })
  if not r then match:log("warn", "arena_wins: " .. tostring(err)) end
end

local function finish(match, state, winner, reason, tick)
  award(match, state, winner)
  local result = { winner = winner, reason = reason, ticks = tick }
  if state.rounds > 1 then result.rounds, result.map = state.results, state.map end
  local wins = state.wins or {}
  if winner and wins[winner] and moonbase.storage then -- known: read when the winner joined
    local obj = wins_id(winner)
    obj.value, obj.permission_read, obj.permission_write = { wins = wins[winner] + 1 }, "public", "none"
    moonbase.storage.write({ obj }) -- queued: match.finished waits for it
  end
  match:finish(result)
end

-- The round is over: record it, then a map vote for the next round, or the end.
local function end_round(match, state, winner, reason, tick)
  table.insert(state.results, { round = state.round, map = state.map, winner = winner or false, reason = reason })
  state.last_tick = tick
  local vote = state.round < state.rounds and count(state.players) >= 2
  match:broadcast("round_over", { round = state.round, rounds = state.rounds, winner = winner or false, reason = reason, vote = vote })
  if not vote then
    finish(match, state, winner, reason, tick)
    return
  end
  state.phase = "voting"
  relabel(match, state)
  state.vote_id = match:vote_start({
    options = MAPS,
    method = "plurality",
    window_ms = state.vote_ms,
    visibility = "live",
    tie_breaker = "status_quo",
    status_quo = state.map,
    veto_enabled = true,
  })
end

-- After the vote: everyone back at full hp on a spawn point, the clock reset.
local function next_round(match, state)
  state.vote_id = false
  local last = state.results[#state.results]
  if count(state.players) < 2 then
    finish(match, state, last.winner or nil, last.reason, state.last_tick)
    return
  end
  state.round = state.round + 1
  state.elapsed_ms = 0
  local ids = {}
  for id in pairs(state.players) do ids[#ids + 1] = id end
  table.sort(ids)
  for n, id in ipairs(ids) do
    local p = state.players[id]
    p.x, p.y = spawn(n - 1)
    p.hp = 100
  end
  state.phase = "playing"
  announce_round(match, state)
end

-- The result stays on screen for result_ms before the next round starts.
function arena.vote_result(match, state, result)
  if result.winner then state.map = result.winner end
  match:after(state.result_ms, next_round)
end

function arena.vote_vetoed(match, state, vote_id, player_id)
  match:after(state.result_ms, next_round)
end

function arena.tick(match, state, tick, dt_ms)
  if state.phase ~= "playing" then return end
  state.elapsed_ms = state.elapsed_ms + dt_ms
  local n, last = alive(state)
  if n <= 1 then
    end_round(match, state, last, "last_standing", tick)
  elseif state.elapsed_ms >= state.round_ms then
    local best, best_hp = nil, -1
    for id, p in pairs(state.players) do
      if p.hp > best_hp then best, best_hp = id, p.hp end
    end
    end_round(match, state, best, "time_up", tick)
  end
end

function arena.get_state(match, state, viewer)
  return {
    players = state.players,
    time_left_ms = math.max(0, state.round_ms - state.elapsed_ms),
    started = state.started,
    phase = state.phase,
    round = state.round,
    rounds = state.rounds,
    map = state.map,
    vote_id = state.vote_id,
  }
end

return arena
