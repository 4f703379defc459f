-- bench_heavy: a bench-only match mode for `tools/bench.sh run heavy` (docs/PERFORMANCE.md,
-- "Script-heavy ticks in the server"). It lives outside modes/, so no server loads it unless
-- the bench puts it into a scripts folder of its own.
--
-- Players are handled like arena's, so the load generator drives it unchanged:
--   {"action": "move", "x": 10, "y": 5, "seq": 17}   move toward (x, y), at most SPEED per
--        input; seq is echoed in the state (players[id].seq: input-to-state latency)
-- Every tick does script work a physics-ish mode would: 200 entities, 5 vector operations
-- each (1,000 in all: add, scale, length, normalise, distance; each result a new {x, y}
-- table), then a table.sort of 64 of them by distance with a Lua comparator. The same
-- workload as bench_lua's "script-heavy tick", here inside a running match, so the server's
-- CPU per tick can be compared with LuaJIT's compiler on and off (--lua-jit 1 / 0).
local sqrt, floor = math.sqrt, math.floor

local mode = {
  tick_rate = 20,
  players = { min = 1, max = 8 },
  reconnect_grace_ms = 10000,
  empty_timeout_ms = 30000,
}

local SIZE, SPEED, ENTITIES, NEAR = 100, 10, 200, 64

local function vadd(a, b) return { x = a.x + b.x, y = a.y + b.y } end
local function vscale(a, s) return { x = a.x * s, y = a.y * s } end
local function vlen(a) return sqrt(a.x * a.x + a.y * a.y) end
local function vnorm(a)
  local l = vlen(a)
  if l == 0 then return a end
  return vscale(a, 1 / l)
end
local function by_distance(a, b) return a.d < b.d end

function mode.init(match, params)
  local ents = {}
  for i = 1, ENTITIES do
    ents[i] = { pos = { x = i % SIZE, y = (i * 2) % SIZE }, vel = { x = 1, y = -1 }, d = 0 }
  end
  return { players = {}, ents = ents, target = { x = 50, y = 50 }, nearest = 0 }
end

-- Seats listed in params.players may join at any time (as in arena).
function mode.join_attempt(match, state, player, metadata)
  return true
end

function mode.join(match, state, player)
  state.players[player.id] = { name = player.username, x = 50, y = 50, seq = 0 }
end

function mode.leave(match, state, player, reason)
  state.players[player.id] = nil
end

function mode.input(match, state, player, input)
  local p = state.players[player.id]
  if not p then return end
  if type(input.seq) == "number" then p.seq = input.seq end
  if input.action == "move" and type(input.x) == "number" and type(input.y) == "number" then
    local dx, dy = input.x - p.x, input.y - p.y
    local d = sqrt(dx * dx + dy * dy)
    if d > SPEED then dx, dy = dx / d * SPEED, dy / d * SPEED end
    p.x = floor(math.max(0, math.min(SIZE, p.x + dx)) * 100 + 0.5) / 100
    p.y = floor(math.max(0, math.min(SIZE, p.y + dy)) * 100 + 0.5) / 100
  end
end

function mode.tick(match, state, tick, dt_ms)
  local ents, target, dt = state.ents, state.target, dt_ms / 1000
  for i = 1, #ents do
    local e = ents[i]
    local v = vnorm(vadd(e.vel, vscale(target, 0.001)))
    e.pos = vadd(e.pos, vscale(v, dt))
    e.d = vlen({ x = e.pos.x - target.x, y = e.pos.y - target.y })
  end
  local near = {}
  for i = 1, NEAR do near[i] = ents[(i * 37) % #ents + 1] end
  table.sort(near, by_distance)
  state.nearest = floor(near[1].d * 100 + 0.5) / 100
end

function mode.get_state(match, state, viewer)
  return { players = state.players, nearest = state.nearest }
end

return mode
