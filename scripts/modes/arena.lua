-- arena: 2..8 players move around a 100x100 arena and tag each other.
-- Inputs:
--   {"action": "move", "x": 10, "y": 5, "seq": 17}   move toward (x, y); at most
--        `speed` units per input (seq is echoed in the state: clients measure latency)
--   {"action": "attack"}                              hit everyone within 12 units
-- A player at 0 hp is out. The match finishes when one player is left
-- (result.winner) or when the round time runs out (highest hp wins).
local vec = require("vec")

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

function arena.init(match, params)
  -- clients browse joinable rounds with GET /v1/matches?mode=arena&label.round=waiting&open=true
  match:set_label({ round = "waiting" })
  return {
    players = {},
    round_ms = tonumber(params.round_ms) or ROUND_MS,
    elapsed_ms = 0,
    started = false,
  }
end

-- Matchmade players (params.players) may always take their seat; others
-- only before the round starts.
function arena.join_attempt(match, state, player, metadata)
  if state.started and not state.players[player.id] then
    for _, p in ipairs(match.params.players or {}) do
      if p.player_id == player.id then return true end
    end
    return false, "round already running"
  end
  return true
end

function arena.join(match, state, player)
  local n = 0
  for _ in pairs(state.players) do n = n + 1 end
  state.players[player.id] = {
    name = player.username,
    x = 10 + (n * 23) % 80,
    y = 10 + (n * 37) % 80,
    hp = 100,
    seq = 0,
  }
end

function arena.leave(match, state, player, reason)
  state.players[player.id] = nil
end

function arena.start(match, state)
  state.started = true
  match:set_label({ round = "running" })
  match:broadcast("round", { round_ms = state.round_ms })
end

function arena.input(match, state, player, input)
  local p = state.players[player.id]
  if not p or p.hp <= 0 then return end
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

function arena.tick(match, state, tick, dt_ms)
  if not state.started then return end
  state.elapsed_ms = state.elapsed_ms + dt_ms
  local n, last = alive(state)
  if n <= 1 then
    match:finish({ winner = last, reason = "last_standing", ticks = tick })
  elseif state.elapsed_ms >= state.round_ms then
    local best, best_hp = nil, -1
    for id, p in pairs(state.players) do
      if p.hp > best_hp then best, best_hp = id, p.hp end
    end
    match:finish({ winner = best, reason = "time_up", ticks = tick })
  end
end

function arena.get_state(match, state, viewer)
  return {
    players = state.players,
    time_left_ms = math.max(0, state.round_ms - state.elapsed_ms),
    started = state.started,
  }
end

return arena
