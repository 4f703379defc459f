-- tictactoe: a turn-based mode. Two players; the first to join plays X.
-- Input: {"action": "place", "cell": 1..9}. Illegal moves are answered with
-- a "rejected" message to that player only. The match finishes with
-- result.winner (player id) or result.draw = true.
local ttt = {
  tick_rate = 5,
  players = { min = 2, max = 2 },
  reconnect_grace_ms = 30000,
  -- turn-based: the board changes only on a move, so send match.state only when
  -- it changed (joins still get the current state in match.joined)
  send_state = "on_change",
}

local LINES = { {1,2,3}, {4,5,6}, {7,8,9}, {1,4,7}, {2,5,8}, {3,6,9}, {1,5,9}, {3,5,7} }

function ttt.init(match, params)
  local board = {}
  for i = 1, 9 do board[i] = "" end
  return { board = board, order = {}, turn = nil, moves = 0 }
end

function ttt.join(match, state, player)
  table.insert(state.order, player.id)
end

function ttt.start(match, state)
  state.turn = state.order[1]
end

function ttt.leave(match, state, player, reason)
  if reason ~= "kicked" and state.turn then
    for _, id in ipairs(state.order) do
      if id ~= player.id then
        match:finish({ winner = id, reason = "opponent_left" })
      end
    end
  end
end

local function mark_of(state, id)
  return state.order[1] == id and "X" or "O"
end

function ttt.input(match, state, player, input)
  local cell = input.cell
  if input.action ~= "place" or type(cell) ~= "number" or cell < 1 or cell > 9 or cell % 1 ~= 0 then
    match:send(player.id, "rejected", { reason = "send {action = 'place', cell = 1..9}" })
    return
  end
  if state.turn ~= player.id then
    match:send(player.id, "rejected", { reason = "not your turn" })
    return
  end
  if state.board[cell] ~= "" then
    match:send(player.id, "rejected", { reason = "cell taken" })
    return
  end
  local mark = mark_of(state, player.id)
  state.board[cell] = mark
  state.moves = state.moves + 1
  for _, l in ipairs(LINES) do
    if state.board[l[1]] == mark and state.board[l[2]] == mark and state.board[l[3]] == mark then
      state.turn = nil
      match:finish({ winner = player.id, mark = mark, board = state.board })
      return
    end
  end
  if state.moves == 9 then
    state.turn = nil
    match:finish({ draw = true, board = state.board })
    return
  end
  state.turn = state.order[1] == player.id and state.order[2] or state.order[1]
end

function ttt.get_state(match, state, viewer)
  return { board = state.board, turn = state.turn or false, order = state.order }
end

return ttt
