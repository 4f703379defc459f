// Match events that cannot be missed: socket.next('match.started') after `await joinMatch()`
// misses a match.started that came in the same burst as the join reply (it was dispatched before
// the await resumed). nextMatchEvent() takes it from a buffer kept since the join, and
// joinMatch(id, metadata, {on}) sets handlers up before match.join is sent.
// Mode: test/fixtures/modes/sdktest.lua (players.min = 1: the join itself starts the match).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, player, until } from './helpers.js';

describe('Socket: match events without a race', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  async function newMatch(client) {
    const m = await client.createMatch('sdktest');
    return m.match_id;
  }

  it('nextMatchEvent returns a match.started that arrived before the call (next() misses it)', async () => {
    const { client, socket } = await player(server);
    const seen = [];
    socket.on('*', (m) => seen.push(m.type));
    const id = await newMatch(client);
    const joined = await socket.joinMatch(id);
    assert.equal(joined.match_id, id);
    // the message is in: it came before the calls below
    await until(() => seen.includes('match.started'), { what: 'match.started received' });
    // the old way waits for a next one that never comes (300 ms of nothing is the point here)
    await assert.rejects(socket.next('match.started', { timeoutMs: 300 }), { code: 'timeout' });
    const started = await socket.nextMatchEvent('match.started', { timeoutMs: 2000 });
    assert.equal(started.match_id, id);
    // taken once: a second call waits for another one
    await assert.rejects(socket.nextMatchEvent('match.started', { timeoutMs: 50 }), { code: 'timeout' });
    // states come in order, each once; filter picks a later one
    const s1 = await socket.nextMatchEvent('match.state');
    const s2 = await socket.nextMatchEvent('match.state');
    assert.ok(s2.tick > s1.tick, `${s2.tick} > ${s1.tick}`);
    const s5 = await socket.nextMatchEvent('match.state', { filter: (s) => s.tick >= s2.tick + 3 });
    assert.ok(s5.tick >= s2.tick + 3);
    // waiting works too: the finish comes after the call
    const fin = socket.nextMatchEvent('match.finished', { timeoutMs: 5000 });
    socket.sendInput({ action: 'finish' });
    assert.equal((await fin).match_id, id);
  });

  it('joinMatch(id, metadata, {on}): handlers set up before the join, ended with the match', async () => {
    const { client, socket } = await player(server);
    const started = [];
    const states = [];
    const id = await newMatch(client);
    await socket.joinMatch(id, { team: 'red' }, { on: { 'match.started': (p) => started.push(p), 'match.state': (p) => states.push(p) } });
    await until(() => started.length === 1 && states.length >= 2, { what: 'match.started and states through the handlers' });
    assert.equal(started[0].match_id, id);
    const fin = socket.nextMatchEvent('match.finished', { timeoutMs: 5000 });
    socket.sendInput({ action: 'finish' });
    await fin;
    const count = states.length;
    // a new match: the old handlers are gone, the buffer starts afresh
    const id2 = await newMatch(client);
    const seen2 = [];
    socket.on('match.state', (p) => seen2.push(p));
    await socket.joinMatch(id2);
    assert.equal((await socket.nextMatchEvent('match.started', { timeoutMs: 3000 })).match_id, id2, 'not the first match\'s');
    await until(() => seen2.length >= 3, { what: 'states of the second match' });
    assert.equal(states.length, count, 'the first match\'s handlers saw nothing of the second');
    await socket.leaveMatch();
  });

  it('the buffer is bounded (matchEventBuffer): the oldest go first', async () => {
    const { client, socket } = await player(server, { socket: { matchEventBuffer: 5 } });
    const ticks = [];
    socket.on('match.state', (p) => ticks.push(p.tick));
    await socket.joinMatch(await newMatch(client));
    await until(() => ticks.length >= 12, { what: '12 states' });
    const first = await socket.nextMatchEvent('match.state');
    assert.ok(first.tick > ticks[0], `the oldest states were dropped (got tick ${first.tick}, first was ${ticks[0]})`);
    await socket.leaveMatch();
  });
});
