'use strict';
// The shipped scripts and the arena leaderboard (docs/LEADERBOARDS.md, the demo's panel):
// scripts/server.lua creates "arena_wins" (incr, weekly) when it loads, and
// scripts/modes/arena.lua gives the winner of a match one point with the match id in the
// record's metadata; the loser gets nothing.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('arena_wins (shipped scripts)', () => {
  let server;
  const open = [];
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000'] });
  });
  after(async () => {
    for (const p of open) if (p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('server.lua creates the board; the winner of an arena match gets a point', async () => {
    const a = await h.authed(server);
    const b = await h.authed(server);
    open.push(a, b);
    const board = await server.http('GET', '/v1/leaderboards/arena_wins', undefined, bearer(a));
    assert.equal(board.status, 200, board.text);
    assert.deepEqual([board.json.leaderboard.operator, board.json.leaderboard.reset, board.json.records], ['incr', '@weekly', []]);
    const next = new Date(board.json.next_reset);
    assert.deepEqual([next.getUTCDay(), next.getUTCHours(), next.getUTCMinutes()], [0, 0, 0]);

    const c = await server.http('POST', '/v1/matches', { mode: 'arena', params: { rounds: 1, round_ms: 1500 } }, bearer(a));
    assert.equal(c.status, 201, c.text);
    await a.ws.ok('match.join', { match_id: c.json.match_id });
    await b.ws.ok('match.join', { match_id: c.json.match_id });
    await a.ws.next((m) => m.type === 'match.message' && m.payload.subject === 'round', 5000);
    // b walks next to a (spawn (10, 10)) and a hits b once: a wins on time (highest hp)
    for (let i = 0; i < 5; i++) await b.ws.ok('match.input', { action: 'move', x: 10, y: 10 });
    await h.waitFor('b next to a', async () => (await b.ws.next('match.state', 3000)).payload.players[b.player_id].x === 10);
    await a.ws.ok('match.input', { action: 'attack' });
    const fin = await a.ws.next('match.finished', 5000);
    assert.equal(fin.payload.result.winner, a.player_id);
    const top = await server.http('GET', '/v1/leaderboards/arena_wins', undefined, bearer(b));
    assert.deepEqual(top.json.records.map((r) => [r.owner_id, r.username, r.score, r.rank, r.metadata]),
      [[a.player_id, a.username, 1, 1, { match_id: c.json.match_id }]]);
    assert.equal((await server.http('GET', `/v1/leaderboards/arena_wins/records/${b.player_id}`, undefined, bearer(b))).status, 404);
  });
});
