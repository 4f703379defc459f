'use strict';
// The arena example mode (scripts/modes/arena.lua), run offline with `moonbase simulate`:
// spawn points, movement speed and clamping, seq echo, attack range and damage, the two
// ways a round ends, and that out players cannot act.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { simulate } = require('./simulate');

const move = (tick, player, x, y, seq) => ({ tick, player, input: { action: 'move', x, y, ...(seq === undefined ? {} : { seq }) } });
const attack = (tick, player) => ({ tick, player, input: { action: 'attack' } });
const at = (r, tick) => r.states.find((s) => s.tick === tick);

describe('arena (simulate)', () => {
  it('spawns players at distinct points with 100 hp; the round starts once players.min (2) joined', async () => {
    const one = await simulate('arena', { players: 1, ticks: 2 });
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.states[1].started, false, 'one player: still waiting');
    assert.equal(one.states[1].time_left_ms, 120000, 'the round clock runs only once started');
    const r = await simulate('arena', { players: 4, ticks: 1 });
    assert.equal(r.code, 0, r.stderr);
    const p = r.states[0].players;
    assert.deepEqual([p.p1.x, p.p1.y, p.p2.x, p.p2.y, p.p3.x, p.p3.y, p.p4.x, p.p4.y], [10, 10, 33, 47, 56, 84, 79, 41]);
    for (const id of ['p1', 'p2', 'p3', 'p4']) {
      assert.equal(p[id].hp, 100);
      assert.equal(p[id].seq, 0);
    }
    assert.equal(r.states[0].started, true);
    assert.equal(r.states[0].time_left_ms, 120000 - 50);
  });

  it('a move goes at most 10 units toward the target, stays inside 0..100, and echoes seq', async () => {
    const r = await simulate('arena', {
      ticks: 6,
      inputs: [
        move(1, 1, 100, 10, 1), // 10 right
        move(2, 1, 13, 14, 2), // short move: exactly there
        move(3, 1, -500, 14, 3), // toward the wall
        move(4, 1, -500, 14, 4),
        move(5, 1, -500, 14, 5), // clamped at 0
        { tick: 6, player: 1, input: { action: 'move', x: 'a', y: 5, seq: 6 } }, // ignored move, seq kept
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const p1 = (t) => at(r, t).players.p1;
    assert.deepEqual([p1(1).x, p1(1).y, p1(1).seq], [20, 10, 1]);
    assert.deepEqual([p1(2).x, p1(2).y, p1(2).seq], [13, 14, 2]);
    assert.deepEqual([p1(3).x, p1(3).y], [3, 14]);
    assert.deepEqual([p1(4).x, p1(4).y], [0, 14]);
    assert.deepEqual([p1(5).x, p1(5).y, p1(5).seq], [0, 14, 5]);
    assert.deepEqual([p1(6).x, p1(6).y, p1(6).seq], [0, 14, 6]);
  });

  it('an attack hits everyone within 12 units for 10 hp; ten hits end the round: last standing wins', async () => {
    // p2 walks from (33, 47) to p1 at (10, 10): 5 moves
    const inputs = [];
    for (let t = 1; t <= 5; t++) inputs.push(move(t, 2, 10, 10));
    inputs.push(attack(1, 1)); // out of range yet: no damage
    for (let t = 6; t <= 15; t++) inputs.push(attack(t, 1));
    const r = await simulate('arena', { ticks: 40, inputs });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(at(r, 1).players.p2.hp, 100);
    assert.deepEqual([at(r, 5).players.p2.x, at(r, 5).players.p2.y], [10, 10]);
    assert.equal(at(r, 6).players.p2.hp, 90);
    assert.equal(at(r, 14).players.p2.hp, 10);
    assert.equal(at(r, 14).players.p1.hp, 100, 'the attacker is not hurt');
    assert.deepEqual(r.finished, { winner: 'p1', reason: 'last_standing', ticks: 15 });
    assert.equal(r.states[r.states.length - 1].tick, 14);
  });

  it('time up: the player with the most hp wins (params.round_ms)', async () => {
    const inputs = [];
    for (let t = 1; t <= 5; t++) inputs.push(move(t, 1, 33, 47));
    inputs.push(attack(6, 2), attack(7, 2));
    const r = await simulate('arena', { ticks: 100, params: { round_ms: 1000 }, inputs });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.finished.reason, 'time_up');
    assert.equal(r.finished.winner, 'p2');
    assert.equal(r.finished.ticks, 20, '1000 ms at 20 Hz');
  });

  it('an out player (0 hp) cannot move or attack', async () => {
    const inputs = [];
    for (let t = 1; t <= 5; t++) inputs.push(move(t, 2, 10, 10));
    for (let t = 6; t <= 15; t++) inputs.push(attack(t, 1), attack(t, 3)); // p3 is far away
    const r = await simulate('arena', { players: 3, ticks: 20, inputs: [...inputs, move(16, 2, 50, 50, 77), attack(16, 2)] });
    assert.equal(r.code, 0, r.stderr);
    const s = at(r, 16);
    assert.equal(s.players.p2.hp, 0);
    assert.deepEqual([s.players.p2.x, s.players.p2.y, s.players.p2.seq], [10, 10, 0]);
    assert.equal(s.players.p1.hp, 100);
    assert.equal(r.finished, undefined, 'two players still standing');
  });
});
