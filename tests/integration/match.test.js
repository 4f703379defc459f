'use strict';
// Authoritative matches over the wire (docs/PROTOCOL.md "Matches", docs/REST.md "Matches"):
// create, join, started, inputs reflected in match.state, finish, result from PostgreSQL,
// join errors, reconnect grace, leave, empty and max-duration endings, per-player
// state, input errors and limits, listing.
// Modes: the repo's scripts/ (arena, tictactoe) plus test modes from tests/integration/scripts.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const { scriptsDir } = h; // the repo's scripts/ plus the named test modes

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

async function createMatch(server, who, mode, params) {
  const body = params === undefined ? { mode } : { mode, params };
  const res = await server.http('POST', '/v1/matches', body, bearer(who));
  assert.equal(res.status, 201, res.text);
  return res.json;
}

function assertError(msg, code, requestType, messageRe) {
  assert.equal(msg.type, 'error', JSON.stringify(msg));
  assert.equal(msg.payload.code, code, JSON.stringify(msg));
  assert.equal(msg.payload.request_type, requestType);
  if (messageRe) assert.match(msg.payload.message, messageRe);
}

/** The next match.state whose payload satisfies pred. */
const stateWhere = (ws, pred, ms = 3000) => ws.next((m) => m.type === 'match.state' && pred(m.payload), ms);

const { waitFor } = h;

describe('matches', () => {
  let server;
  let dir;
  const open = [];
  const player = async (opts) => {
    const s = await h.authed(server, opts);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = scriptsDir(['grace', 'timed', 'hidden']);
    assert.ok(fs.existsSync(path.join(dir, 'modes', 'mapvote.lua')), 'the mapvote example mode');
    // arena8: the arena mode as shipped, but the round starts once all eight joined
    const arena = fs.readFileSync(path.join(dir, 'modes', 'arena.lua'), 'utf8');
    const arena8 = arena.replace('players = { min = 2, max = 8 }', 'players = { min = 8, max = 8 }');
    assert.notEqual(arena8, arena, 'arena.lua still declares players = { min = 2, max = 8 }');
    fs.writeFileSync(path.join(dir, 'modes', 'arena8.lua'), arena8);
    server = await h.startServer({
      scripts: dir,
      args: ['--input-rate', '30', '--msg-rate', '1000', '--msg-burst', '1000', '--auth-rate', '100000'],
    });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('full lifecycle with 8 clients: create, join, started, inputs in state, finish, result from the database', async () => {
    const ps = [];
    for (let i = 0; i < 8; i++) ps.push(await player());
    const created = await createMatch(server, ps[0], 'arena8', { round_ms: 60000 });
    assert.deepEqual(Object.keys(created).sort(), ['match_id', 'mode', 'script_version']);
    assert.equal(created.mode, 'arena8');
    assert.equal(created.script_version, 1);
    const id = created.match_id;
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);

    // join: match.joined {match_id, mode, players, state}; not started before the 8th
    for (let i = 0; i < 8; i++) {
      const joined = await ps[i].ws.request('match.join', { match_id: id, metadata: { color: `c${i}` } });
      assert.equal(joined.type, 'match.joined', JSON.stringify(joined));
      assert.deepEqual(Object.keys(joined.payload), ['match_id', 'mode', 'players', 'state']);
      assert.equal(joined.payload.match_id, id);
      assert.equal(joined.payload.mode, 'arena8');
      assert.equal(joined.payload.players.length, i + 1);
      assert.deepEqual(joined.payload.players[i], { player_id: ps[i].player_id, username: ps[i].username, connected: true });
      const st = joined.payload.state;
      assert.equal(typeof st.tick, 'number');
      assert.equal(st.started, false);
      assert.deepEqual(Object.keys(st.players).sort(), ps.slice(0, i + 1).map((p) => p.player_id).sort());
      assert.equal(st.players[ps[i].player_id].hp, 100);
      assert.equal(st.players[ps[i].player_id].name, ps[i].username);
      if (i < 7) assert.equal(ps[0].ws.buffer.filter((m) => m.type === 'match.started').length, 0, `started after ${i + 1} joins`);
    }

    // match.started {match_id, players} to every player, once; the round message from start()
    for (const p of ps) {
      const started = await p.ws.next('match.started', 3000);
      assert.deepEqual(Object.keys(started.payload), ['match_id', 'players']);
      assert.equal(started.payload.match_id, id);
      assert.deepEqual(started.payload.players.map((x) => x.player_id), ps.map((x) => x.player_id));
      const msg = await p.ws.next('match.message', 3000);
      assert.deepEqual(msg.payload, { match_id: id, subject: 'round', data: { round_ms: 60000 } });
    }
    // the last joiner got match.joined before match.started
    const last = ps[7].ws.received.map((m) => m.type);
    assert.ok(last.indexOf('match.joined') < last.indexOf('match.started'));

    // inputs: everyone walks to (50, 50); seq is echoed in the state
    for (let k = 1; k <= 6; k++) {
      for (const p of ps) {
        const ack = await p.ws.ok('match.input', { action: 'move', x: 50, y: 50, seq: k });
        assert.deepEqual(Object.keys(ack), ['match_id', 'tick']);
        assert.equal(ack.match_id, id);
      }
    }
    const all = (st) => st.started === true && ps.every((p) => {
      const q = st.players[p.player_id];
      return q && q.x === 50 && q.y === 50 && q.seq === 6;
    });
    const converged = await stateWhere(ps[0].ws, all, 5000);
    assert.equal(typeof converged.payload.time_left_ms, 'number');
    // the same state (same tick, same content) reached every player
    for (const p of ps.slice(1)) {
      const same = await stateWhere(p.ws, (st) => st.tick === converged.payload.tick, 5000);
      assert.deepEqual(same.payload, converged.payload);
    }
    // ticks increase one by one (the buffer may still hold older states that the predicates
    // above skipped: look only at states after the converged one, in arrival order)
    const a = await stateWhere(ps[1].ws, (st) => st.tick > converged.payload.tick, 3000);
    const b = await stateWhere(ps[1].ws, (st) => st.tick > a.payload.tick, 3000);
    assert.equal(b.payload.tick, a.payload.tick + 1);

    // finish: player 0 attacks until everyone else is out (10 damage per hit, 100 hp)
    for (let k = 0; k < 10; k++) await ps[0].ws.ok('match.input', { action: 'attack' });
    for (const p of ps) {
      const fin = await p.ws.next('match.finished', 5000);
      assert.deepEqual(Object.keys(fin.payload), ['match_id', 'result']);
      assert.equal(fin.payload.match_id, id);
      assert.equal(fin.payload.result.winner, ps[0].player_id);
      assert.equal(fin.payload.result.reason, 'last_standing');
      assert.equal(typeof fin.payload.result.ticks, 'number');
    }
    // nothing from the match after match.finished: once a join says not_found the match is gone
    // (no more ticks), and its reply comes after anything the match had sent this socket
    await h.waitFor('the finished match is gone', async () => {
      const r = await ps[0].ws.request('match.join', { match_id: id });
      return r.type === 'error' && r.payload.code === 'not_found';
    }, 10000);
    const rec = ps[0].ws.received;
    assert.ok(rec.slice(rec.findIndex((m) => m.type === 'match.finished') + 1).every((m) => m.type !== 'match.state'));

    // the result from the database (the stored row carries ticks and created_at)
    const stored = await waitFor('the stored match', async () => {
      const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(ps[3]));
      return r.status === 200 && r.json.ticks !== undefined ? r.json : null;
    });
    assert.equal(stored.match_id, id);
    assert.equal(stored.mode, 'arena8');
    assert.equal(stored.status, 'finished');
    assert.equal(stored.reason, 'finished');
    assert.equal(stored.script_version, 1);
    assert.deepEqual(stored.params, { round_ms: 60000 });
    assert.equal(stored.result.winner, ps[0].player_id);
    assert.equal(stored.result.reason, 'last_standing');
    assert.ok(stored.ticks > 0);
    assert.ok(stored.created_at <= stored.started_at && stored.started_at <= stored.finished_at);
    assert.equal(stored.players.length, 8);
    for (const [i, e] of stored.players.entries()) {
      assert.equal(e.player_id, ps[i].player_id);
      assert.equal(e.username, ps[i].username);
      assert.equal(e.reason, 'finished');
      assert.ok(e.joined_at <= e.left_at);
    }

    // the match is gone: join and input refused, no longer listed
    assertError(await ps[0].ws.request('match.join', { match_id: id }), 'not_found', 'match.join', /no live match/);
    assertError(await ps[0].ws.request('match.input', { action: 'attack' }), 'not_found', 'match.input', /not in a match/);
    const list = await server.http('GET', '/v1/matches?mode=arena8', undefined, bearer(ps[0]));
    assert.ok(!list.json.matches.some((m) => m.match_id === id));
  });

  it('join errors: unknown match not_found, full match conflict, join_attempt refusal forbidden with the reason', async () => {
    const [a, b, c] = [await player(), await player(), await player()];
    assertError(await a.ws.request('match.join', { match_id: '00000000-0000-4000-8000-000000000000' }), 'not_found', 'match.join',
      /no live match '00000000-0000-4000-8000-000000000000'/);
    assertError(await a.ws.request('match.join', { match_id: 'nope' }), 'not_found', 'match.join');

    // tictactoe seats two
    const ttt = await createMatch(server, a, 'tictactoe');
    assert.equal((await a.ws.request('match.join', { match_id: ttt.match_id })).type, 'match.joined');
    assert.equal((await b.ws.request('match.join', { match_id: ttt.match_id })).type, 'match.joined');
    assertError(await c.ws.request('match.join', { match_id: ttt.match_id }), 'conflict', 'match.join', /match is full \(2 players\)/);
    // a second match.join by a seated player is answered with match.joined again (same seat)
    const again = await a.ws.request('match.join', { match_id: ttt.match_id });
    assert.equal(again.type, 'match.joined');
    assert.equal(again.payload.players.length, 2);
    // one match at a time
    const other = await createMatch(server, c, 'tictactoe');
    assertError(await a.ws.request('match.join', { match_id: other.match_id }), 'conflict', 'match.join', /already in match .*; send match\.leave first/);

    // arena refuses joins once the round started (join_attempt returns nil, "round already running")
    const [d, e, f] = [await player(), await player(), await player()];
    const arena = await createMatch(server, d, 'arena', { players: [{ player_id: f.player_id }] });
    await d.ws.ok('match.join', { match_id: arena.match_id });
    await e.ws.ok('match.join', { match_id: arena.match_id });
    await d.ws.next('match.started', 3000);
    assertError(await c.ws.request('match.leave', {}), 'not_found', 'match.leave');
    const late = await player();
    assertError(await late.ws.request('match.join', { match_id: arena.match_id }), 'forbidden', 'match.join', /^round already running$/);
    // a player the match was made for (params.players) may still take a seat
    const fj = await f.ws.request('match.join', { match_id: arena.match_id });
    assert.equal(fj.type, 'match.joined', JSON.stringify(fj));
    assert.equal(fj.payload.state.started, true);
  });

  it('rejoin within reconnect grace: match.joined with the current state and the same seat', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'tictactoe');
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started', 3000);
    await a.ws.ok('match.input', { action: 'place', cell: 5 });
    await stateWhere(a.ws, (st) => st.board[4] === 'X');
    await a.ws.close(); // A disconnects: the seat is held (tictactoe: 30 s)

    const seen = await b.ws.ok('match.join', { match_id: id });
    assert.deepEqual(seen.players.find((p) => p.player_id === a.player_id).connected, false);

    // A comes back on a new socket with the same token and claims the seat
    const ws = await server.ws();
    await ws.ok('session.connect', { token: a.token });
    const back = await ws.request('match.join', { match_id: id });
    assert.equal(back.type, 'match.joined', JSON.stringify(back));
    assert.equal(back.payload.state.board[4], 'X');
    assert.deepEqual(back.payload.state.order, [a.player_id, b.player_id], 'same seat: A still plays X');
    assert.equal(back.payload.state.turn, b.player_id);
    assert.deepEqual(back.payload.players.map((p) => [p.player_id, p.connected]), [[a.player_id, true], [b.player_id, true]]);
    // play on
    await b.ws.ok('match.input', { action: 'place', cell: 1 });
    const st = await stateWhere(ws, (s) => s.board[0] === 'O');
    assert.equal(st.payload.turn, a.player_id);
    open.push({ ws });
  });

  it('after reconnect grace: leave runs with "disconnected"; a later join takes a new seat', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'grace'); // reconnect_grace_ms = 300
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    const t0 = Date.now();
    await a.ws.close();
    const st = await stateWhere(b.ws, (s) => s.left[a.player_id] === 'disconnected', 3000);
    assert.ok(Date.now() - t0 >= 250, 'not before the grace ran out');
    assert.ok(!(a.player_id in st.payload.present));
    const ws = await server.ws();
    await ws.ok('session.connect', { token: a.token });
    const back = await ws.ok('match.join', { match_id: id });
    assert.equal(back.state.joins[a.player_id], 2, 'join ran again: a new seat');
    open.push({ ws });
  });

  it('match.leave -> match.left; leave runs with "left"; then input and leave are not_found', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'grace');
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    const left = await a.ws.request('match.leave', {});
    assert.deepEqual(left, { cid: left.cid, type: 'match.left', payload: { match_id: id, reason: 'left' } });
    await stateWhere(b.ws, (s) => s.left[a.player_id] === 'left');
    assertError(await a.ws.request('match.input', { action: 'echo', value: 1 }), 'not_found', 'match.input', /not in a match; send match\.join first/);
    assertError(await a.ws.request('match.leave', {}), 'not_found', 'match.leave', /not in a match/);
    // after leaving, the player may join another match
    const { match_id: other } = await createMatch(server, a, 'grace');
    assert.equal((await a.ws.request('match.join', { match_id: other })).type, 'match.joined');
  });

  it('match:finish from an input -> match.finished {match_id, result} to every player', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'grace');
    for (const p of [a, b]) await p.ws.ok('match.join', { match_id: id });
    await a.ws.ok('match.input', { action: 'echo', value: { nested: [1, 'two'] } });
    await stateWhere(b.ws, (s) => JSON.stringify(s.last[a.player_id]) === '{"nested":[1,"two"]}');
    await b.ws.ok('match.input', { action: 'finish' });
    for (const p of [a, b]) {
      const fin = await p.ws.next('match.finished', 3000);
      assert.deepEqual(fin.payload, { match_id: id, result: { by: b.player_id } });
    }
  });

  it('match:kick -> leave(..., "kicked") and match.left {match_id, reason: "kicked", message} to the player', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'grace');
    for (const p of [a, b]) await p.ws.ok('match.join', { match_id: id });
    await a.ws.ok('match.input', { action: 'kick', target: b.player_id });
    const left = await b.ws.next('match.left', 3000);
    assert.deepEqual(left.payload, { match_id: id, reason: 'kicked', message: 'bye' });
    await stateWhere(a.ws, (s) => s.left[b.player_id] === 'kicked');
    assertError(await b.ws.request('match.input', { action: 'echo', value: 1 }), 'not_found', 'match.input', /not in a match/);
  });

  it('nobody connected for empty_timeout_ms: finished with result {reason: "empty"}', async () => {
    const a = await player();
    const { match_id: id } = await createMatch(server, a, 'grace'); // empty_timeout_ms = 800
    await a.ws.ok('match.join', { match_id: id });
    await a.ws.ok('match.leave', {});
    const done = await waitFor('the empty match to finish', async () => {
      const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      return r.json && r.json.status === 'finished' ? r.json : null;
    }, 5000);
    assert.deepEqual(done.result, { reason: 'empty' });
    assert.equal(done.reason, 'empty');
  });

  it('max_duration_ms: finished with result {reason: "max_duration"}', async () => {
    const a = await player();
    const t0 = Date.now();
    const { match_id: id } = await createMatch(server, a, 'timed'); // 600 ms
    await a.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started', 3000);
    const fin = await a.ws.next('match.finished', 3000);
    assert.deepEqual(fin.payload, { match_id: id, result: { reason: 'max_duration' } });
    assert.ok(Date.now() - t0 >= 550, `after ${Date.now() - t0} ms`);
  });

  it('per_player_state: each player gets its own view; match.joined carries the joiner\'s view', async () => {
    const a = await player();
    const b = await player();
    const admin = { authorization: `Bearer ${server.adminToken}` };
    const { match_id: id } = await createMatch(server, a, 'hidden');
    const ja = await a.ws.ok('match.join', { match_id: id });
    assert.deepEqual({ ...ja.state, tick: 0 }, { tick: 0, count: 1, viewer: a.player_id, secret: `secret of ${a.username}` });
    const jb = await b.ws.ok('match.join', { match_id: id });
    assert.equal(jb.state.secret, `secret of ${b.username}`);
    const sa = await stateWhere(a.ws, (s) => s.count === 2);
    const sb = await stateWhere(b.ws, (s) => s.count === 2);
    assert.equal(sa.payload.secret, `secret of ${a.username}`);
    assert.equal(sa.payload.viewer, a.player_id);
    assert.equal(sb.payload.secret, `secret of ${b.username}`);
    assert.ok(!JSON.stringify(a.ws.received).includes(`secret of ${b.username}`), 'A never saw B\'s secret');
    assert.ok(!JSON.stringify(b.ws.received).includes(`secret of ${a.username}`), 'B never saw A\'s secret');
    // the admin view is the broadcast view (viewer nil)
    const adm = await server.http('GET', `/v1/admin/matches/${id}`, undefined, admin);
    assert.equal(adm.status, 200, adm.text);
    assert.equal(adm.json.state.viewer, false);
    assert.equal(adm.json.state.count, 2);
  });

  it('input errors: not in a match, payload not an object, oversized (1009), flood (rate_limited)', async () => {
    const a = await player();
    const b = await player();
    assertError(await a.ws.request('match.input', { action: 'move', x: 1, y: 1 }), 'not_found', 'match.input', /not in a match/);
    const { match_id: id } = await createMatch(server, a, 'grace');
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    assertError(await a.ws.request('match.input', [1, 2]), 'bad_request', 'match.input', /field 'payload' must be an object/);
    assertError(await a.ws.request('match.input', 'move'), 'bad_request', 'match.input');
    // flood: --input-rate 30 (per player per second, burst 30)
    const n = 60;
    for (let i = 0; i < n; i++) a.ws.send({ cid: `in-${i}`, type: 'match.input', payload: { action: 'echo', value: i } });
    const replies = [];
    for (let i = 0; i < n; i++) replies.push(await a.ws.next((m) => m.cid === `in-${i}`, 3000));
    const acks = replies.filter((r) => r.type === 'match.input_ack').length;
    const limited = replies.filter((r) => r.type === 'error');
    assert.ok(acks >= 25 && acks <= 35, `acknowledged ${acks}`);
    assert.equal(acks + limited.length, n);
    for (const r of limited) assertError(r, 'rate_limited', 'match.input', /too many inputs; limit is 30 per second/);
    // the other player is not limited
    assert.equal((await b.ws.request('match.input', { action: 'echo', value: 'b' })).type, 'match.input_ack');
    // the fast path (payload text decoded straight into the match VM) refuses what the full
    // parser refuses, with the cid: a duplicate key inside the payload, nesting too deep
    b.ws.sendRaw('{"payload":{"action":"echo","value":1,"value":2},"type":"match.input","cid":"dup"}');
    assertError(await b.ws.next((m) => m.cid === 'dup', 3000), 'bad_request', 'match.input', /duplicate key "value"/);
    b.ws.sendRaw(`{"cid":"deep","type":"match.input","payload":{"value":${'['.repeat(40)}${']'.repeat(40)}}}`);
    assertError(await b.ws.next((m) => m.cid === 'deep', 3000), 'bad_request', 'match.input', /nested deeper than 32 levels/);
    // key order, whitespace, escapes and \u0000 do not matter; values arrive intact
    b.ws.sendRaw(' {\n "payload" : { "value" : [ "a\\u0000b" , 1.5e3 , null , { } , [ ] ] , "action" : "echo" } ,\t"cid" : "ws" , "type" : "match.input" } ');
    assert.equal((await b.ws.next((m) => m.cid === 'ws', 3000)).type, 'match.input_ack');
    await stateWhere(a.ws, (s) => JSON.stringify(s.last[b.player_id]) === JSON.stringify(['a\u0000b', 1500, null, {}, []]));
    // the accepted inputs ran in order: the last accepted value is in the state
    const lastAccepted = replies.map((r, i) => (r.type === 'match.input_ack' ? i : -1)).filter((i) => i >= 0).pop();
    await stateWhere(b.ws, (s) => s.last[a.player_id] === lastAccepted);
    // oversized input: the message limit (64 KiB) closes the socket with 1009
    a.ws.send({ type: 'match.input', payload: { action: 'echo', value: 'x'.repeat(70000) } });
    assert.equal((await a.ws.waitClosed(3000)).code, 1009);
  });

  it('admin: GET /v1/admin/matches, GET /v1/admin/matches/{id} (state), POST /v1/admin/matches/{id}/end', async () => {
    const adm = { authorization: `Bearer ${server.adminToken}` };
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'tictactoe');
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started', 3000);
    const list = await server.http('GET', '/v1/admin/matches', undefined, adm);
    assert.equal(list.status, 200, list.text);
    const entry = list.json.matches.find((m) => m.match_id === id);
    assert.equal(entry.status, 'running');
    assert.equal(entry.players.length, 2, 'the admin list includes players');
    assert.equal(typeof entry.started_at, 'number');
    const one = await server.http('GET', `/v1/admin/matches/${id}`, undefined, adm);
    assert.equal(one.status, 200);
    assert.deepEqual(one.json.state.board, ['', '', '', '', '', '', '', '', '']);
    assert.equal(one.json.state.turn, a.player_id);
    assert.equal((await server.http('GET', `/v1/admin/matches/${id}`, undefined, bearer(a))).status, 401, 'players are not admins');
    const end = await server.http('POST', `/v1/admin/matches/${id}/end`, {}, adm);
    assert.equal(end.status, 200, end.text);
    assert.deepEqual(end.json, { match_id: id, status: 'finished' });
    for (const p of [a, b]) {
      const fin = await p.ws.next('match.finished', 3000);
      assert.deepEqual(fin.payload, { match_id: id, result: { reason: 'ended_by_admin' } });
    }
    const again = await server.http('POST', `/v1/admin/matches/${id}/end`, {}, adm);
    assert.equal(again.status, 404);
    assert.match(again.json.error.message, /no live match/);
    assert.equal((await server.http('GET', `/v1/admin/matches/${id}`, undefined, adm)).status, 404);
  });

  it('matchmaking: matchmaker.add -> matchmaker.ticket; four arena tickets -> matchmaker.matched; join the reserved seats', async () => {
    const adm = { authorization: `Bearer ${server.adminToken}` };
    const solo = await player();
    // errors
    assertError(await solo.ws.request('matchmaker.add', { mode: 'tictactoe' }), 'not_found', 'matchmaker.add');
    assertError(await solo.ws.request('matchmaker.add', { mode: 'no_such_mode' }), 'not_found', 'matchmaker.add');
    assertError(await solo.ws.request('matchmaker.add', { mode: 'arena', properties: { region: 'eu' } }), 'bad_request', 'matchmaker.add',
      /properties\.skill \(number\) is required by mode 'arena'/);
    assertError(await solo.ws.request('matchmaker.add', { mode: 'arena', properties: { skill: 1200 } }), 'bad_request', 'matchmaker.add',
      /properties\.region \(string\) is required by mode 'arena'/);
    assertError(await solo.ws.request('matchmaker.add', { mode: 'arena', properties: { skill: 1200, region: 'eu', deck: [1] } }), 'bad_request', 'matchmaker.add',
      /property 'deck' must be a finite number or a string of at most 64 characters/);
    assertError(await solo.ws.request('matchmaker.add', { mode: 'arena', properties: 'eu' }), 'bad_request', 'matchmaker.add', /field 'properties' must be an object/);
    // a ticket, a duplicate, removal
    const t = await solo.ws.request('matchmaker.add', { mode: 'arena', properties: { skill: 1500, region: 'mars' } });
    assert.equal(t.type, 'matchmaker.ticket', JSON.stringify(t));
    assert.deepEqual(Object.keys(t.payload).sort(), ['mode', 'ticket_id']);
    assert.equal(t.payload.mode, 'arena');
    assertError(await solo.ws.request('matchmaker.add', { mode: 'arena', properties: { skill: 1500, region: 'mars' } }), 'conflict', 'matchmaker.add',
      /already have a ticket for mode 'arena'/);
    const stats = await server.http('GET', '/v1/matchmaker/stats', undefined, bearer(solo));
    assert.equal(stats.status, 200, stats.text);
    assert.equal(stats.json.modes.arena.tickets, 1);
    assert.deepEqual(Object.keys(stats.json.modes.arena).sort(), ['matches_formed', 'mean_skill_spread', 'mean_wait_ms', 'oldest_wait_ms', 'tickets']);
    assert.equal((await server.http('GET', '/v1/admin/matchmaker', undefined, adm)).json.modes.arena.tickets, 1);
    assertError(await solo.ws.request('matchmaker.remove', { ticket_id: 'nope' }), 'not_found', 'matchmaker.remove', /no ticket 'nope' of yours/);
    const other = await player();
    assertError(await other.ws.request('matchmaker.remove', { ticket_id: t.payload.ticket_id }), 'not_found', 'matchmaker.remove');
    const removed = await solo.ws.request('matchmaker.remove', { ticket_id: t.payload.ticket_id });
    assert.deepEqual(removed.payload, { ticket_id: t.payload.ticket_id, reason: 'removed' });
    assert.equal(removed.type, 'matchmaker.removed');

    // four compatible tickets: a full group at the next pass
    const ps = [];
    for (let i = 0; i < 4; i++) ps.push(await player());
    const tickets = [];
    for (const [i, p] of ps.entries()) tickets.push((await p.ws.ok('matchmaker.add', { mode: 'arena', properties: { skill: 1200 + i * 10, region: 'eu' } })).ticket_id);
    const matched = [];
    for (const p of ps) matched.push(await p.ws.next('matchmaker.matched', 5000));
    const id = matched[0].payload.match_id;
    for (const [i, m] of matched.entries()) {
      assert.deepEqual(Object.keys(m.payload).sort(), ['match_id', 'players', 'ticket_id']);
      assert.equal(m.payload.match_id, id);
      assert.equal(m.payload.ticket_id, tickets[i]);
      assert.deepEqual(m.payload.players.map((x) => x.player_id).sort(), ps.map((x) => x.player_id).sort());
    }
    const me = matched[0].payload.players.find((x) => x.player_id === ps[0].player_id);
    assert.deepEqual(me, { player_id: ps[0].player_id, username: ps[0].username, properties: { skill: 1200, region: 'eu' }, team: null });
    // seats are reserved: the match starts once all four claimed theirs
    for (const [i, p] of ps.entries()) {
      const j = await p.ws.ok('match.join', { match_id: id });
      assert.equal(j.players.length, i + 1);
      if (i < 3) assert.ok(!ps[0].ws.buffer.some((m) => m.type === 'match.started'), 'not started before every reservation is claimed');
    }
    for (const p of ps) await p.ws.next('match.started', 3000);
    const after = await server.http('GET', '/v1/matchmaker/stats', undefined, bearer(solo));
    assert.equal(after.json.modes.arena.tickets, 0);
    assert.equal(after.json.modes.arena.matches_formed, 1);
  });

  it('voting in a match (mapvote): match.vote_start, vote.cast -> vote.accepted, live match.vote_tally, match.vote_result, vote.veto, errors', async () => {
    const a = await player();
    const b = await player();
    const { match_id: id } = await createMatch(server, a, 'mapvote', { round_ms: 300, vote_ms: 5000, rounds: 4 });
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    const options = [{ id: 'jungle', label: 'Jungle Path' }, { id: 'volcano', label: 'Volcano Path' }, { id: 'caves', label: 'Crystal Caves' }];

    // round 1 ends: a plurality vote with live tallies
    const start1 = await a.ws.next('match.vote_start', 3000);
    assert.deepEqual({ ...start1.payload, vote_id: 'x' }, {
      vote_id: 'x', options, window_ms: 5000, method: 'plurality', visibility: 'live', tie_breaker: 'status_quo', veto_enabled: true,
    });
    const v1 = start1.payload.vote_id;
    assert.deepEqual((await b.ws.next('match.vote_start', 3000)).payload, start1.payload);
    const castErr = async (payload, code, reason) => {
      const r = await a.ws.request('vote.cast', payload);
      assert.equal(r.type, 'error', JSON.stringify(r));
      assert.equal(r.payload.code, code);
      assert.equal(r.payload.reason, reason);
      assert.equal(r.payload.request_type, 'vote.cast');
    };
    await castErr({ vote_id: 'no-such-vote', option_id: 'jungle' }, 'not_found', 'not_found');
    await castErr({ vote_id: v1, option_id: 'lava' }, 'bad_request', 'unknown_option');
    await castErr({ vote_id: v1, option_id: ['jungle'] }, 'bad_request', 'malformed');
    assertError(await a.ws.request('vote.cast', { vote_id: v1 }), 'bad_request', 'vote.cast', /missing field 'option_id'/);
    const acc = await a.ws.request('vote.cast', { vote_id: v1, option_id: 'volcano' });
    assert.deepEqual(acc.payload, { vote_id: v1, total_votes: 1 });
    assert.equal(acc.type, 'vote.accepted');
    const tally = await b.ws.next('match.vote_tally', 3000);
    assert.deepEqual({ ...tally.payload, time_remaining_ms: 0 }, { vote_id: v1, tallies: { jungle: 0, volcano: 1, caves: 0 }, time_remaining_ms: 0, total_votes: 1 });
    assert.ok(tally.payload.time_remaining_ms > 0 && tally.payload.time_remaining_ms <= 5000);
    await b.ws.ok('vote.cast', { vote_id: v1, option_id: 'volcano' }); // everyone voted: the vote closes
    const res1 = await a.ws.next('match.vote_result', 3000);
    assert.equal(res1.payload.vote_id, v1);
    assert.equal(res1.payload.winner, 'volcano');
    assert.deepEqual(res1.payload.counts, { jungle: 0, volcano: 2, caves: 0 });
    assert.equal(res1.payload.total_votes, 2);
    assert.equal(res1.payload.turnout, 1);
    assert.equal(res1.payload.tie, false);
    await stateWhere(a.ws, (st) => st.map === 'volcano' && st.round === 2);

    // round 2: a ranked, hidden vote; A vetoes it (one token per player per match)
    const start2 = await a.ws.next('match.vote_start', 3000);
    assert.equal(start2.payload.method, 'ranked');
    assert.equal(start2.payload.visibility, 'hidden');
    const v2 = start2.payload.vote_id;
    const veto = await a.ws.request('vote.veto', { vote_id: v2 });
    assert.deepEqual(veto, { cid: veto.cid, type: 'vote.veto_accepted', payload: { vote_id: v2, tokens_left: 0 } });
    for (const p of [a, b]) assert.deepEqual((await p.ws.next('match.vote_vetoed', 3000)).payload, { vote_id: v2, vetoed_by: a.player_id });
    await castErr({ vote_id: v2, option_id: ['caves'] }, 'conflict', 'vote_closed'); // vetoed: closed for the match's life
    await stateWhere(b.ws, (st) => st.round === 3 && st.last_vote.vetoed_by === a.player_id);

    // round 3: A has no token left
    const v3 = (await a.ws.next('match.vote_start', 3000)).payload.vote_id;
    const noTok = await a.ws.request('vote.veto', { vote_id: v3 });
    assert.equal(noTok.payload.code, 'forbidden');
    assert.equal(noTok.payload.reason, 'no_tokens');
    await a.ws.ok('vote.cast', { vote_id: v3, option_id: 'caves' });
    await b.ws.ok('vote.cast', { vote_id: v3, option_id: 'caves' });
    assert.equal((await b.ws.next((m) => m.type === 'match.vote_result' && m.payload.vote_id === v3, 3000)).payload.winner, 'caves');

    // round 4 is the last: finished with the maps played
    const fin = await a.ws.next('match.finished', 5000);
    assert.deepEqual(fin.payload.result.maps, ['jungle', 'volcano', 'volcano', 'caves']);
    // the votes are stored with the match
    const stored = await waitFor('the stored votes', async () => {
      const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      return r.json && r.json.ticks !== undefined && Array.isArray(r.json.votes) && r.json.votes.length === 3 ? r.json : null;
    });
    assert.deepEqual(stored.votes.map((v) => [v.vote_id, v.method, v.status, v.vetoed_by]), [
      [v1, 'plurality', 'closed', null], [v2, 'ranked', 'vetoed', a.player_id], [v3, 'plurality', 'closed', null],
    ]);
    assert.equal(stored.votes[0].result.winner, 'volcano');
  });

  it('GET /v1/matches?mode= lists live matches; GET /v1/matches/{id} reads one; POST errors', async () => {
    const a = await player();
    const m1 = await createMatch(server, a, 'arena');
    const m2 = await createMatch(server, a, 'arena', { round_ms: 1000 });
    const t = await createMatch(server, a, 'tictactoe');
    await a.ws.ok('match.join', { match_id: m1.match_id });
    const res = await server.http('GET', '/v1/matches?mode=arena', undefined, bearer(a));
    assert.equal(res.status, 200, res.text);
    assert.ok(res.json.matches.every((m) => m.mode === 'arena'));
    const ids = res.json.matches.map((m) => m.match_id);
    assert.ok(ids.includes(m1.match_id) && ids.includes(m2.match_id));
    assert.ok(!ids.includes(t.match_id));
    const e1 = res.json.matches.find((m) => m.match_id === m1.match_id);
    assert.deepEqual(Object.keys(e1).sort(), ['created_at', 'label', 'match_id', 'max_players', 'min_players', 'mode', 'open', 'player_count', 'script_version', 'started_at', 'status', 'tick', 'tick_rate']);
    assert.equal(e1.status, 'waiting');
    assert.equal(e1.player_count, 1);
    assert.equal(e1.max_players, 8);
    assert.equal(e1.min_players, 2);
    assert.equal(e1.tick_rate, 20);
    assert.equal(e1.started_at, null);
    const everything = await server.http('GET', '/v1/matches', undefined, bearer(a));
    assert.ok(everything.json.matches.some((m) => m.match_id === t.match_id));
    const none = await server.http('GET', '/v1/matches?mode=no_such_mode', undefined, bearer(a));
    assert.deepEqual(none.json, { matches: [] });

    const one = await server.http('GET', `/v1/matches/${m1.match_id}`, undefined, bearer(a));
    assert.equal(one.status, 200);
    assert.equal(one.json.status, 'waiting');
    assert.equal(one.json.result, null);
    assert.deepEqual(one.json.players, [{ player_id: a.player_id, username: a.username, connected: true }]);
    assert.equal((await server.http('GET', '/v1/matches/00000000-0000-4000-8000-000000000000', undefined, bearer(a))).status, 404);
    const bad = await server.http('GET', '/v1/matches/not-a-uuid', undefined, bearer(a));
    assert.equal(bad.status, 404);
    assert.equal(bad.json.error.code, 'not_found');

    const post = (body, hdrs = bearer(a)) => server.http('POST', '/v1/matches', body, hdrs);
    let r = await post({});
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /missing field 'mode'/);
    r = await post({ mode: 'no_such_mode' });
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { error: { code: 'not_found', message: "unknown mode 'no_such_mode'" } });
    r = await post({ mode: 'arena', params: [1] });
    assert.equal(r.status, 400);
    assert.match(r.json.error.message, /field 'params' must be an object/);
    r = await post({ mode: 'arena' }, {});
    assert.equal(r.status, 401);
    assert.equal((await server.http('GET', '/v1/matches')).status, 401);
  });
});
