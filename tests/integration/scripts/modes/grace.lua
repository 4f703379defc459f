-- grace (test mode): records every join and leave with its reason, so tests can see
-- reconnect grace, match.leave and kicks from another player's match.state.
-- Inputs: {"action": "echo", "value": any}  stored in state.last[player]
--         {"action": "kick", "target": id}  match:kick(target, "bye")
--         {"action": "finish"}              match:finish({by = player})
local M = {
  tick_rate = 20,
  players = { min = 2, max = 4 },
  reconnect_grace_ms = 300,
  empty_timeout_ms = 800,
}

function M.init(match, params)
  return { present = {}, joins = {}, left = {}, last = {} }
end

function M.join(match, state, player)
  state.present[player.id] = true
  state.joins[player.id] = (state.joins[player.id] or 0) + 1
end

function M.leave(match, state, player, reason)
  state.present[player.id] = nil
  state.left[player.id] = reason
end

function M.input(match, state, player, input)
  if input.action == "echo" then
    state.last[player.id] = input.value
  elseif input.action == "kick" then
    match:kick(input.target, "bye")
  elseif input.action == "finish" then
    match:finish({ by = player.id })
  end
end

function M.get_state(match, state, viewer)
  return { present = state.present, joins = state.joins, left = state.left, last = state.last }
end

return M
