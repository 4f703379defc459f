-- mapvote: rounds on a map; between rounds the players vote on the next map.
-- Odd round breaks use plurality with live tallies, even ones a ranked
-- (instant-runoff) ballot; both can be vetoed (one veto token per player per
-- match). A vetoed vote keeps the current map. After `rounds` rounds the
-- match finishes with the list of maps played and the scores.
-- Input: {"action": "score"} adds a point (stand-in for real gameplay).
local mapvote = {
  tick_rate = 10,
  players = { min = 2, max = 8 },
  veto_tokens_per_player = 1,
}

local MAPS = {
  { id = "jungle", label = "Jungle Path" },
  { id = "volcano", label = "Volcano Path" },
  { id = "caves", label = "Crystal Caves" },
}

function mapvote.init(match, params)
  return {
    map = "jungle",
    round = 1,
    rounds = tonumber(params.rounds) or 3,
    round_ms = tonumber(params.round_ms) or 20000,
    vote_ms = tonumber(params.vote_ms) or 15000,
    phase = "waiting",
    elapsed = 0,
    played = {},
    scores = {},
    vote_id = false,
    last_vote = false,
  }
end

function mapvote.join(match, state, player)
  state.scores[player.id] = state.scores[player.id] or 0
end

function mapvote.leave(match, state, player, reason)
  state.scores[player.id] = nil
end

function mapvote.start(match, state)
  state.phase = "playing"
  state.elapsed = 0
end

function mapvote.input(match, state, player, input)
  if state.phase == "playing" and input.action == "score" then
    state.scores[player.id] = (state.scores[player.id] or 0) + 1
  end
end

local function next_round(match, state)
  if state.round >= state.rounds then
    match:finish({ maps = state.played, scores = state.scores })
    return
  end
  state.round = state.round + 1
  state.phase = "playing"
  state.elapsed = 0
  state.vote_id = false
end

local function start_vote(match, state)
  state.phase = "voting"
  local ranked = state.round % 2 == 0
  state.vote_id = match:vote_start({
    options = MAPS,
    method = ranked and "ranked" or "plurality",
    window_ms = state.vote_ms,
    visibility = ranked and "hidden" or "live",
    tie_breaker = "status_quo",
    status_quo = state.map,
    veto_enabled = true,
  })
end

function mapvote.tick(match, state, tick, dt_ms)
  if state.phase ~= "playing" then return end
  state.elapsed = state.elapsed + dt_ms
  if state.elapsed >= state.round_ms then
    table.insert(state.played, state.map)
    if state.round >= state.rounds then
      next_round(match, state)
    else
      start_vote(match, state)
    end
  end
end

function mapvote.vote_result(match, state, result)
  state.last_vote = { winner = result.winner, counts = result.counts, tie = result.tie }
  if result.winner then state.map = result.winner end
  next_round(match, state)
end

function mapvote.vote_vetoed(match, state, vote_id, player_id)
  state.last_vote = { vetoed_by = player_id }
  next_round(match, state)
end

function mapvote.get_state(match, state, viewer)
  return {
    map = state.map,
    round = state.round,
    rounds = state.rounds,
    phase = state.phase,
    vote_id = state.vote_id,
    last_vote = state.last_vote,
    scores = state.scores,
    time_left_ms = math.max(0, state.round_ms - state.elapsed),
  }
end

return mapvote
