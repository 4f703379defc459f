-- hog (test mode): a memory bomb. After {"action": "hog"}, every tick grows a table
-- without bound; the memory cap (--lua-memory-mb) ends this match only.
local M = { tick_rate = 20, players = { min = 1, max = 4 } }

function M.init(match, params) return { hog = false, rows = 0 } end

function M.input(match, state, player, input)
  if input.action == "hog" then state.hog = true end
end

local keep = {}
function M.tick(match, state, tick)
  if not state.hog then return end
  for i = 1, 50000 do
    keep[#keep + 1] = string.rep("x", 40) .. i
  end
  state.rows = #keep
end

function M.get_state(match, state, viewer) return { hog = state.hog, rows = state.rows } end

return M
