-- gsbroadcast: a get_state that tries to send messages (issue 13's bug: the
-- message frame was built in the buffer get_state's result was being
-- written to, so match.state came out as `":{"match_id"...}}{"tick":1,...`).
-- Each view reports what match:broadcast / match:send answered. With
-- params.raise the broadcast view (viewer nil: simulate's printed view and
-- the admin state view; players get per-player views) calls match:finish
-- unprotected, which raises "match:finish is not allowed in get_state".
local M = { tick_rate = 10, players = { min = 1, max = 2 }, per_player_state = true }
function M.init(match, params) return { n = 0 } end
function M.tick(match, state) state.n = state.n + 1 end
function M.get_state(match, state, viewer)
  if viewer == nil and match.params.raise then match:finish({ by = "get_state" }) end
  local _, b = pcall(match.broadcast, match, "hello", { n = state.n })
  local _, s = pcall(match.send, match, viewer and viewer.id or "p1", "hello", { n = state.n })
  return { n = state.n, viewer = viewer and viewer.id or "none", broadcast = b or "sent", send = s or "sent" }
end
return M
