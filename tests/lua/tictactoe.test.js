'use strict';
// The tictactoe example mode (scripts/modes/tictactoe.lua), run offline with
// `moonbase simulate`: turn order, illegal moves, wins in rows, columns and diagonals, draws.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { simulate } = require('./simulate');

const place = (tick, player, cell) => ({ tick, player, input: { action: 'place', cell } });
/** moves: [[player, cell], ...], one per tick from tick 1. */
const play = (moves, extra = {}) => simulate('tictactoe', { ticks: 20, inputs: moves.map(([p, c], i) => place(i + 1, p, c)), ...extra });

describe('tictactoe (simulate)', () => {
  it('the first to join plays X and moves first; turns alternate', async () => {
    const r = await play([[1, 5], [2, 1]]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.states[0].order, ['p1', 'p2']);
    assert.equal(r.states[0].board[4], 'X');
    assert.equal(r.states[0].turn, 'p2');
    assert.equal(r.states[1].board[0], 'O');
    assert.equal(r.states[1].turn, 'p1');
  });

  it('before the match starts nobody has the turn', async () => {
    const r = await simulate('tictactoe', { players: 1, ticks: 2, inputs: [place(1, 1, 5)] });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.states[0].turn, false);
    assert.deepEqual(r.states[1].board, ['', '', '', '', '', '', '', '', '']);
  });

  it('out of turn, taken cells and malformed moves change nothing', async () => {
    const r = await simulate('tictactoe', {
      ticks: 6,
      inputs: [
        place(1, 2, 1), // not p2's turn
        place(2, 1, 5),
        place(3, 2, 5), // taken
        place(4, 2, 0), // out of range
        { tick: 5, player: 2, input: { action: 'place', cell: 2.5 } },
        { tick: 6, player: 2, input: { action: 'jump', cell: 3 } },
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.states[0].board, ['', '', '', '', '', '', '', '', '']);
    assert.equal(r.states[0].turn, 'p1');
    for (const s of r.states.slice(1)) {
      assert.deepEqual(s.board, ['', '', '', '', 'X', '', '', '', '']);
      assert.equal(s.turn, 'p2');
    }
  });

  it('X wins with a row', async () => {
    const r = await play([[1, 1], [2, 4], [1, 2], [2, 5], [1, 3]]);
    assert.deepEqual(r.finished, { winner: 'p1', mark: 'X', board: ['X', 'X', 'X', 'O', 'O', '', '', '', ''] });
  });

  it('O wins with a column', async () => {
    const r = await play([[1, 1], [2, 2], [1, 4], [2, 5], [1, 9], [2, 8]]);
    assert.equal(r.finished.winner, 'p2');
    assert.equal(r.finished.mark, 'O');
  });

  it('X wins with a diagonal', async () => {
    const r = await play([[1, 3], [2, 1], [1, 5], [2, 2], [1, 7]]);
    assert.equal(r.finished.winner, 'p1');
  });

  it('a full board without a line is a draw', async () => {
    // X O X / X O O / O X X
    const r = await play([[1, 1], [2, 2], [1, 3], [2, 5], [1, 4], [2, 6], [1, 8], [2, 7], [1, 9]]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.finished, { draw: true, board: ['X', 'O', 'X', 'X', 'O', 'O', 'O', 'X', 'X'] });
    assert.equal(r.states.length, 8);
  });
});
