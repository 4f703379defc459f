'use strict';
// send_state = "on_change" (docs/LUA_API.md §1, docs/PROTOCOL.md match.state): a viewer gets
// match.state only when the state (without its tick) differs from the last one it was sent;
// match.joined always carries the current state. The default ("always") sends every tick.
// Test modes: turns (on_change), turns_pp (the same with per_player_state), turns_always
// (no send_state), turns_bad (an invalid value, refused at load).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const isState = (m) => m.type === 'match.state';

describe('send_state = "on_change"', () => {
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    const turns = fs.readFileSync(path.join(__dirname, 'scripts', 'modes', 'turns.lua'), 'utf8');
    const variant = (name, from, to) => {
      const text = turns.replace(from, to);
      assert.notEqual(text, turns, `turns.lua still has ${from}`);
      fs.writeFileSync(path.join(dir, 'modes', `${name}.lua`), text);
    };
    fs.writeFileSync(path.join(dir, 'modes', 'turns.lua'), turns);
    variant('turns_pp', 'send_state = "on_change",', 'send_state = "on_change", per_player_state = true,');
    variant('turns_always', 'send_state = "on_change",', '');
    variant('turns_bad', 'send_state = "on_change",', 'send_state = "sometimes",');
    server = await h.startServer({ scripts: dir });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const create = async (who, mode) => {
    const r = await server.http('POST', '/v1/matches', { mode }, bearer(who));
    assert.equal(r.status, 201, r.text);
    return r.json.match_id;
  };
  const tickOf = async (who, id) => (await server.http('GET', `/v1/matches/${id}`, undefined, bearer(who))).json.tick;

  it('one match.state per change, none while nothing changes (ticks still run); joins get the state', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, 'turns');
    const ja = await a.ws.ok('match.join', { match_id: id });
    assert.equal(ja.state.moves, 0);
    const t0 = await tickOf(a, id);
    // the point is that nothing arrives: a timed wait (20 Hz: about 8 ticks)
    await a.ws.expectNone(isState, 400);
    assert.ok((await tickOf(a, id)) >= t0 + 4, 'the match kept ticking');

    for (let n = 1; n <= 3; n++) {
      await a.ws.ok('match.input', { action: 'move' });
      const st = await a.ws.next(isState, 3000);
      assert.equal(st.payload.moves, n);
      assert.equal(typeof st.payload.tick, 'number');
      await a.ws.expectNone(isState, 250); // nothing more until the next change
    }
    // B joins: B's match.joined holds moves=3; the join changed nothing A sees
    const jb = await b.ws.ok('match.join', { match_id: id });
    assert.equal(jb.state.moves, 3);
    await Promise.all([a.ws.expectNone(isState, 300), b.ws.expectNone(isState, 300)]);
    // B moves: both get exactly one state
    await b.ws.ok('match.input', { action: 'move' });
    assert.equal((await a.ws.next(isState, 3000)).payload.moves, 4);
    assert.equal((await b.ws.next(isState, 3000)).payload.moves, 4);
    await Promise.all([a.ws.expectNone(isState, 250), b.ws.expectNone(isState, 250)]);
    await b.ws.ok('match.leave', {});

    // A reconnects on a new socket: match.joined has the current state, no duplicate follows
    await a.ws.close();
    const ws = await server.ws();
    open.push({ ws });
    await ws.ok('session.connect', { token: a.token });
    const back = await ws.ok('match.join', { match_id: id });
    assert.equal(back.state.moves, 4);
    await ws.expectNone(isState, 300);
    // a second socket of the same player: match.join gives it the state; changes reach both
    const ws2 = await server.ws();
    open.push({ ws: ws2 });
    await ws2.ok('session.connect', { token: a.token });
    assert.equal((await ws2.ok('match.join', { match_id: id })).state.moves, 4);
    await ws.ok('match.input', { action: 'move' });
    assert.equal((await ws.next(isState, 3000)).payload.moves, 5);
    assert.equal((await ws2.next(isState, 3000)).payload.moves, 5);
    await ws.ok('match.leave', {});
  });

  it('with per_player_state each viewer is compared with what it was sent', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, 'turns_pp');
    assert.equal((await a.ws.ok('match.join', { match_id: id })).state.mine, 0);
    assert.equal((await b.ws.ok('match.join', { match_id: id })).state.mine, 0);
    await a.ws.ok('match.input', { action: 'move' });
    assert.equal((await a.ws.next(isState, 3000)).payload.mine, 1);
    await b.ws.expectNone(isState, 300); // B's view did not change
    await b.ws.ok('match.input', { action: 'move' });
    await b.ws.ok('match.input', { action: 'move' });
    const sb = await b.ws.next((m) => isState(m) && m.payload.mine === 2, 3000);
    assert.equal(sb.payload.mine, 2);
    await a.ws.expectNone(isState, 300);
    await a.ws.ok('match.leave', {});
    await b.ws.ok('match.leave', {});
  });

  it('the default ("always") still sends every tick, identical states included', async () => {
    const a = await player();
    const id = await create(a, 'turns_always');
    await a.ws.ok('match.join', { match_id: id });
    const s1 = await a.ws.next(isState, 3000);
    const s2 = await a.ws.next((m) => isState(m) && m.payload.tick > s1.payload.tick, 3000);
    const s3 = await a.ws.next((m) => isState(m) && m.payload.tick > s2.payload.tick, 3000);
    for (const s of [s1, s2, s3]) assert.deepEqual({ ...s.payload, tick: 0 }, { tick: 0, moves: 0 });
    await a.ws.ok('match.leave', {});
  });

  it('tictactoe (turn-based) sends on change: after the start, nothing until a move', async () => {
    const [a, b] = [await player(), await player()];
    const id = await create(a, 'tictactoe');
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    // the start gives X the turn: one state each
    for (const p of [a, b]) assert.equal((await p.ws.next(isState, 3000)).payload.turn, a.player_id);
    await Promise.all([a.ws.expectNone(isState, 400), b.ws.expectNone(isState, 400)]);
    await a.ws.ok('match.input', { action: 'place', cell: 5 });
    const st = await b.ws.next((m) => isState(m) && m.payload.board[4] === 'X', 3000);
    assert.equal(st.payload.turn, b.player_id);
    await a.ws.next((m) => isState(m) && m.payload.board[4] === 'X', 3000);
    await Promise.all([a.ws.expectNone(isState, 300), b.ws.expectNone(isState, 300)]);
    await a.ws.ok('match.leave', {});
  });

  it('an invalid send_state is refused at load with the field named', async () => {
    const s = await server.http('GET', '/v1/admin/scripts', undefined, { authorization: `Bearer ${server.adminToken}` });
    const bad = s.json.modes.find((m) => m.mode === 'turns_bad');
    assert.equal(bad.version, null);
    assert.match(bad.error, /turns_bad\.lua: send_state must be "always" or "on_change"$/);
    const a = await player();
    const r = await server.http('POST', '/v1/matches', { mode: 'turns_bad' }, bearer(a));
    assert.equal(r.status, 404, r.text);
  });
});
