-- labels (test mode): match:set_label. init labels the match with params.label (if
-- any); the input {"action": "label", "label": value} relabels it and answers the
-- sender with a "label" message {ok, error}. {"action": "label_string"} passes a
-- string (not a table).
local M = { tick_rate = 10, players = { min = 2, max = 2 } }
function M.init(match, params)
  if params.label then match:set_label(params.label) end
  return {}
end
function M.input(match, state, player, input)
  local arg = input.label
  if input.action == "label_string" then arg = "jungle" end
  if input.action == "label_array" then arg = { "a", "b" } end
  if input.action == "label_many" then
    arg = {}
    for i = 1, input.n do arg["k" .. i] = string.rep("v", input.len or 1) end
  end
  local ok, err = pcall(match.set_label, match, arg)
  match:send(player.id, "label", { ok = ok, error = err })
end
function M.get_state(match, state, viewer) return {} end
return M
