-- hidden (test mode): per_player_state. Each player has a secret; get_state shows a
-- player only their own (viewer is that player), the broadcast view (viewer nil) none.
local M = {
  tick_rate = 10,
  players = { min = 2, max = 3 },
  per_player_state = true,
}

function M.init(match, params) return { secrets = {}, count = 0 } end

function M.join(match, state, player)
  state.secrets[player.id] = "secret of " .. player.username
  state.count = state.count + 1
end

function M.get_state(match, state, viewer)
  if viewer == nil then return { count = state.count, viewer = false } end
  return { count = state.count, viewer = viewer.id, secret = state.secrets[viewer.id] }
end

return M
