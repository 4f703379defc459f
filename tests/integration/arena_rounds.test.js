'use strict';
// The arena mode's rounds and its in-match map vote (scripts/modes/arena.lua; docs/LUA_API.md
// "A vote inside the match"): at the end of a round that is not the last, the match itself
// starts a plurality vote on the next map (match:vote_start); its result starts the next round
// on that map with everyone back at 100 hp; a veto keeps the map; after the last round the match
// finishes with every round's map, winner and reason. A match created by hand plays one round
// unless params.rounds says otherwise; a matchmade one (params.players) plays three.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('arena: rounds and the in-match map vote', () => {
  let server;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  const create = async (p, params) => {
    const res = await server.http('POST', '/v1/matches', { mode: 'arena', params }, bearer(p));
    assert.equal(res.status, 201, res.text);
    return res.json.match_id;
  };
  const message = (p, subject) => p.ws.next((m) => m.type === 'match.message' && m.payload.subject === subject, 5000);

  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000'] });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('round 1 ends, the match runs a map vote, round 2 is played on the winner, then the match finishes', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, { rounds: 2, round_ms: 2500, vote_ms: 10000, result_ms: 100 });
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    const r1 = await message(a, 'round');
    assert.deepEqual(r1.payload.data, { round_ms: 2500, round: 1, rounds: 2, map: 'jungle' });
    // a hits b once: a wins the round on time (highest hp)
    // b walks from its spawn point (33, 47) to a at (10, 10): 10 units a move
    for (let i = 0; i < 5; i++) await b.ws.ok('match.input', { action: 'move', x: 10, y: 10 });
    await h.waitFor('b next to a', async () => {
      const st = await b.ws.next('match.state', 3000);
      return st.payload.players[b.player_id].x === 10;
    });
    await a.ws.ok('match.input', { action: 'attack' });
    const over = await message(b, 'round_over');
    assert.deepEqual(over.payload.data, { round: 1, rounds: 2, winner: a.player_id, reason: 'time_up', vote: true });
    const vs = await b.ws.next('match.vote_start', 5000);
    assert.deepEqual(vs.payload.options.map((o) => o.id), ['jungle', 'volcano', 'caves']);
    assert.equal(vs.payload.method, 'plurality');
    const voting = await b.ws.next((m) => m.type === 'match.state' && m.payload.phase === 'voting', 3000);
    assert.equal(voting.payload.vote_id, vs.payload.vote_id);
    // inputs are ignored while the players vote
    await b.ws.ok('match.input', { action: 'move', x: 50, y: 50 });
    await a.ws.ok('vote.cast', { vote_id: vs.payload.vote_id, option_id: 'volcano' });
    await b.ws.ok('vote.cast', { vote_id: vs.payload.vote_id, option_id: 'volcano' });
    const res = await a.ws.next('match.vote_result', 5000);
    assert.equal(res.payload.winner, 'volcano');
    const r2 = await message(a, 'round');
    assert.deepEqual(r2.payload.data, { round_ms: 2500, round: 2, rounds: 2, map: 'volcano' });
    const st = await a.ws.next((m) => m.type === 'match.state' && m.payload.round === 2, 3000);
    assert.equal(st.payload.phase, 'playing');
    assert.equal(st.payload.map, 'volcano');
    assert.equal(st.payload.players[b.player_id].hp, 100);
    assert.notEqual(st.payload.players[b.player_id].x, 50, 'the move sent during the vote was ignored');
    const fin = await a.ws.next('match.finished', 5000);
    assert.equal(fin.payload.result.map, 'volcano');
    assert.deepEqual(fin.payload.result.rounds.map((r) => [r.round, r.map, r.reason]), [[1, 'jungle', 'time_up'], [2, 'volcano', 'time_up']]);
    assert.equal(fin.payload.result.rounds[0].winner, a.player_id);
    const overs = a.ws.received.filter((m) => m.type === 'match.message' && m.payload.subject === 'round_over');
    assert.deepEqual(overs.map((m) => [m.payload.data.round, m.payload.data.vote]), [[1, true], [2, false]]);
  });

  it('a veto keeps the map; a player leaving during the vote ends the match after it', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, { rounds: 3, round_ms: 300, vote_ms: 1500, result_ms: 100, map: 'caves' });
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    assert.equal((await message(a, 'round')).payload.data.map, 'caves');
    let vs = await a.ws.next('match.vote_start', 5000);
    await b.ws.ok('vote.veto', { vote_id: vs.payload.vote_id });
    await a.ws.next('match.vote_vetoed', 3000);
    const r2 = await message(a, 'round');
    assert.equal(r2.payload.data.map, 'caves');
    assert.equal(r2.payload.data.round, 2);
    vs = await a.ws.next('match.vote_start', 5000);
    await b.ws.ok('match.leave', {});
    await a.ws.ok('vote.cast', { vote_id: vs.payload.vote_id, option_id: 'jungle' });
    // b is still eligible, so the vote runs its 1.5 s window; then one player is left: the end
    const fin = await a.ws.next('match.finished', 5000);
    assert.equal(fin.payload.result.rounds.length, 2);
    assert.equal(fin.payload.result.map, 'jungle');
  });

  it('one round by default for a match created by hand: the round ends the match (no vote)', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, { round_ms: 300 });
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    const r1 = await message(a, 'round');
    assert.deepEqual(r1.payload.data, { round_ms: 300 });
    const fin = await a.ws.next('match.finished', 5000);
    assert.equal(fin.payload.result.reason, 'time_up');
    assert.equal(fin.payload.result.rounds, undefined);
    assert.equal(a.ws.received.filter((m) => m.type === 'match.vote_start').length, 0);
  });
});
