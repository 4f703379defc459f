-- votetest (test mode, vote.test.js): votes driven by inputs, results and vetoes kept in the state.
-- Inputs: {"action": "vote", "spec": {...}}     match:vote_start(spec); the id goes to state.last_vote
--         {"action": "close", "vote_id": id}    match:vote_close(id); its reply goes to state.close_reply
-- vote_result stores the result table it got under state.results[vote_id], vote_vetoed the
-- vetoing player under state.vetoes[vote_id]; get_state shows all of it.
local M = { tick_rate = 20, players = { min = 2, max = 4 }, veto_tokens_per_player = 1 }

function M.init(match, params)
  return { started = {}, results = {}, vetoes = {}, result_calls = 0 }
end

function M.input(match, state, player, input)
  if input.action == "vote" then
    local id = match:vote_start(input.spec)
    state.last_vote = id
    state.started[#state.started + 1] = id
  elseif input.action == "close" then
    local ok, err = match:vote_close(input.vote_id)
    state.close_reply = { ok = ok == true, err = err or "" }
  end
end

function M.vote_result(match, state, result)
  state.results[result.vote_id] = result
  state.result_calls = state.result_calls + 1
end

function M.vote_vetoed(match, state, vote_id, player_id)
  state.vetoes[vote_id] = player_id
end

function M.get_state(match, state, viewer)
  return {
    last_vote = state.last_vote,
    started = state.started,
    results = state.results,
    vetoes = state.vetoes,
    result_calls = state.result_calls,
    close_reply = state.close_reply,
  }
end

return M
