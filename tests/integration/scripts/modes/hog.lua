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
  -- 1 MiB a tick in 64 rows: the 16 MiB cap is reached in about 16 ticks, each far inside the
  -- time budget even under ASan on a loaded machine (50,000 small rows a tick ran into the time
  -- limit first there)
  for i = 1, 64 do
    keep[#keep + 1] = string.rep("x", 16384) .. #keep -- distinct: equal strings are interned once
  end
  state.rows = #keep
end

function M.get_state(match, state, viewer) return { hog = state.hog, rows = state.rows } end

return M
