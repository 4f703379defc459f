'use strict';
// WebSocket sessions (docs/PROTOCOL.md "Session"): session.connect, refusal before it,
// bad tokens, heartbeats, idle and authentication timeouts, several sockets per player,
// cid echo and exactly one reply per cid, the close frame on shutdown.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const JWT_SECRET = 'session-test-secret-0123456789abcdef-0123';
const b64url = (buf) => Buffer.from(buf).toString('base64url'); // a forged token below
const signJwt = (claims, secret = JWT_SECRET) => h.signJwt(claims, secret);

async function deviceAuth(server) {
  const res = await server.http('POST', '/v1/auth/device', { device_id: `dev-${crypto.randomBytes(6).toString('hex')}` });
  assert.ok(res.status === 201 || res.status === 200, res.text);
  return res.json;
}

function assertError(msg, cid, code, requestType, messageRe) {
  assert.equal(msg.type, 'error', JSON.stringify(msg));
  if (cid === undefined) assert.ok(!('cid' in msg), `no cid expected: ${JSON.stringify(msg)}`);
  else assert.equal(msg.cid, cid);
  assert.equal(msg.payload.code, code, JSON.stringify(msg));
  assert.equal(typeof msg.payload.message, 'string');
  assert.equal(msg.payload.request_type, requestType);
  if (messageRe) assert.match(msg.payload.message, messageRe);
}

describe('sessions', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--jwt-secret', JWT_SECRET] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('session.connect {token} -> session.connected {player_id}, exactly', async () => {
    const auth = await deviceAuth(server);
    const ws = await server.ws();
    ws.send({ cid: 'hello-1', type: 'session.connect', payload: { token: auth.token } });
    const reply = await ws.next(() => true);
    assert.deepEqual(reply, { cid: 'hello-1', type: 'session.connected', payload: { player_id: auth.player_id } });
    // Without a cid the reply carries none.
    const ws2 = await server.ws();
    ws2.send({ type: 'session.connect', payload: { token: auth.token } });
    assert.deepEqual(await ws2.next(() => true), { type: 'session.connected', payload: { player_id: auth.player_id } });
    await ws.close();
    await ws2.close();
  });

  it('anything but session.connect before it succeeds: error unauthorized with the cid', async () => {
    const ws = await server.ws();
    const r1 = await ws.request('session.heartbeat', {}, { cid: 'early-1' });
    assertError(r1, 'early-1', 'unauthorized', 'session.heartbeat', /session\.connect/);
    const r2 = await ws.request('match.join', { match_id: 'x' }, { cid: 'early-2' });
    assertError(r2, 'early-2', 'unauthorized', 'match.join');
    // An unknown type is "unsupported" even before connecting (the type is checked first).
    assertError(await ws.request('no.such', {}, { cid: 'early-3' }), 'early-3', 'unsupported', 'no.such');
    // The socket stays usable: connect now.
    const auth = await deviceAuth(server);
    assert.equal((await ws.ok('session.connect', { token: auth.token })).player_id, auth.player_id);
    assert.equal((await ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    await ws.close();
  });

  it('forged, expired, malformed or missing tokens: unauthorized / bad_request, and the socket stays usable', async () => {
    const auth = await deviceAuth(server);
    const ws = await server.ws();
    const [head, body, sig] = auth.token.split('.');
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
    const forged = `${head}.${b64url(JSON.stringify({ ...claims, sub: '11111111-1111-4111-8111-111111111111' }))}.${sig}`;
    assertError(await ws.request('session.connect', { token: forged }, { cid: 'f' }), 'f', 'unauthorized', 'session.connect', /invalid token signature/);
    const now = Math.floor(Date.now() / 1000);
    const expired = signJwt({ sub: auth.player_id, usn: auth.username, iat: now - 100, exp: now - 1 });
    assertError(await ws.request('session.connect', { token: expired }, { cid: 'e' }), 'e', 'unauthorized', 'session.connect', /token expired/);
    assertError(await ws.request('session.connect', { token: 'abc' }, { cid: 'm' }), 'm', 'unauthorized', 'session.connect', /malformed token/);
    assertError(await ws.request('session.connect', {}, { cid: 'n' }), 'n', 'bad_request', 'session.connect', /missing field 'token'/);
    assertError(await ws.request('session.connect', { token: 5 }, { cid: 't' }), 't', 'bad_request', 'session.connect', /'token' must be a string/);
    // still not connected
    assertError(await ws.request('session.heartbeat', {}, { cid: 'h' }), 'h', 'unauthorized', 'session.heartbeat');
    // a correctly signed token made by the test is accepted
    const good = signJwt({ sub: auth.player_id, usn: auth.username, iat: now, exp: now + 60 });
    assert.deepEqual(await ws.ok('session.connect', { token: good }), { player_id: auth.player_id });
    // a second session.connect on a connected socket: conflict
    assertError(await ws.request('session.connect', { token: auth.token }, { cid: 'again' }), 'again', 'conflict', 'session.connect', /already connected/);
    await ws.close();
  });

  it('session.heartbeat with a cid gets session.heartbeat {server_time}; without a cid, no reply', async () => {
    const s = await h.authed(server);
    const before = Date.now();
    const r = await s.ws.request('session.heartbeat', {}, { cid: 'hb-1' });
    assert.equal(r.type, 'session.heartbeat');
    assert.equal(r.cid, 'hb-1');
    assert.deepEqual(Object.keys(r.payload), ['server_time']);
    assert.ok(Math.abs(r.payload.server_time - before) < 60000, 'server_time is wall-clock ms');
    s.ws.send({ type: 'session.heartbeat', payload: {} });
    s.ws.send({ type: 'session.heartbeat' }); // payload may be omitted
    await s.ws.expectNone(() => true, 400);
    await s.ws.close();
  });

  it('two sockets of one player are both allowed and both work; closing one leaves the other', async () => {
    const auth = await deviceAuth(server);
    const a = await server.ws();
    const b = await server.ws();
    assert.equal((await a.ok('session.connect', { token: auth.token })).player_id, auth.player_id);
    assert.equal((await b.ok('session.connect', { token: auth.token })).player_id, auth.player_id);
    assert.equal((await a.request('session.heartbeat', {})).type, 'session.heartbeat');
    assert.equal((await b.request('session.heartbeat', {})).type, 'session.heartbeat');
    await a.close();
    assert.equal((await b.request('session.heartbeat', {})).type, 'session.heartbeat');
    assert.ok(b.isOpen);
    await b.close();
  });

  it('every message with a cid gets exactly one reply carrying that cid', async () => {
    const s = await h.authed(server);
    const sent = [
      ['session.heartbeat', {}, 'session.heartbeat'],
      ['session.connect', { token: s.token }, 'error'], // conflict
      ['no.such.type', {}, 'error'], // unsupported
      ['match.join', { match_id: 7 }, 'error'], // bad_request
      ['match.join', { match_id: 'not-a-match' }, 'error'], // not_found
      ['match.leave', {}, 'error'], // not_found
      ['match.input', { action: 'move' }, 'error'], // not_found
      ['session.heartbeat', { extra: true }, 'session.heartbeat'], // undeclared fields are ignored
    ];
    const cids = sent.map((_, i) => `burst-${i}-${crypto.randomBytes(3).toString('hex')}`);
    sent.forEach(([type, payload], i) => s.ws.send({ cid: cids[i], type, payload }));
    // A malformed message whose cid is still readable gets it echoed too.
    s.ws.sendRaw(JSON.stringify({ cid: 'bad-payload', type: 'session.heartbeat', payload: [] }));
    cids.push('bad-payload');
    sent.push([null, null, 'error']);
    for (let i = 0; i < cids.length; i++) {
      const reply = await s.ws.next((m) => m.cid === cids[i], 3000);
      assert.equal(reply.type, sent[i][2], `${cids[i]}: ${JSON.stringify(reply)}`);
    }
    await s.ws.expectNone(() => true, 400); // no second reply to anything
    for (const cid of cids) assert.equal(s.ws.received.filter((m) => m.cid === cid).length, 1, cid);
    await s.ws.close();
  });

  it('an invalid cid (not a string of 1..128 characters) is refused with bad_request and no cid', async () => {
    const s = await h.authed(server);
    s.ws.sendRaw(JSON.stringify({ cid: 12, type: 'session.heartbeat', payload: {} }));
    assertError(await s.ws.next('error'), undefined, 'bad_request', null, /cid must be a string of 1\.\.128/);
    s.ws.sendRaw(JSON.stringify({ cid: 'c'.repeat(129), type: 'session.heartbeat', payload: {} }));
    assertError(await s.ws.next('error'), undefined, 'bad_request', null, /cid must be a string/);
    const longest = 'c'.repeat(128);
    assert.equal((await s.ws.request('session.heartbeat', {}, { cid: longest })).cid, longest);
    await s.ws.close();
  });
});

describe('admin: sessions and players', () => {
  let server;
  let adm;
  before(async () => {
    server = await h.startServer();
    adm = { authorization: `Bearer ${server.adminToken}` };
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('GET /v1/admin/overview', async () => {
    const s = await h.authed(server);
    const anon = await server.ws();
    const res = await server.http('GET', '/v1/admin/overview', undefined, adm);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.json).sort(), ['authenticated_sessions', 'database', 'matches', 'matches_by_mode', 'messages_in_per_s', 'messages_out_per_s', 'sessions', 'uptime_s']);
    assert.equal(res.json.sessions, 2);
    assert.equal(res.json.authenticated_sessions, 1);
    assert.equal(res.json.database.up, true);
    assert.deepEqual(Object.keys(res.json.database).sort(), ['busy', 'connected', 'durable_pending', 'pool_size', 'queued', 'up']);
    assert.equal((await server.http('GET', '/v1/admin/overview', undefined, { authorization: `Bearer ${s.token}` })).status, 401);
    await s.ws.close();
    await anon.close();
  });

  it('GET /v1/admin/players?q=, GET /v1/admin/players/{id}, POST /v1/admin/players/{id}/kick closes every socket (4001)', async () => {
    const username = `kickme_${crypto.randomBytes(4).toString('hex')}`;
    const a = await h.authed(server, { username });
    const second = await server.ws();
    await second.ok('session.connect', { token: a.token });
    const bystander = await h.authed(server);

    const found = await server.http('GET', `/v1/admin/players?q=${username.slice(0, 10)}`, undefined, adm);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.players.length, 1);
    const row = found.json.players[0];
    assert.equal(row.player_id, a.player_id);
    assert.equal(row.username, username);
    assert.equal(row.online, true);
    assert.equal(row.sessions.length, 2);
    const byId = await server.http('GET', `/v1/admin/players?q=${a.player_id}`, undefined, adm);
    assert.equal(byId.json.players[0].player_id, a.player_id);

    const detail = await server.http('GET', `/v1/admin/players/${a.player_id}`, undefined, adm);
    assert.equal(detail.status, 200, detail.text);
    assert.equal(detail.json.username, username);
    assert.equal(detail.json.online, true);
    assert.equal(detail.json.sessions.length, 2);
    assert.equal(typeof detail.json.created_at, 'string');
    assert.equal((await server.http('GET', '/v1/admin/players/00000000-0000-4000-8000-000000000000', undefined, adm)).status, 404);
    assert.equal((await server.http('GET', '/v1/admin/players/not-a-uuid', undefined, adm)).status, 404);

    const kick = await server.http('POST', `/v1/admin/players/${a.player_id}/kick`, {}, adm);
    assert.equal(kick.status, 200, kick.text);
    assert.deepEqual(kick.json, { player_id: a.player_id, closed_sockets: 2 });
    assert.deepEqual(await a.ws.waitClosed(3000), { code: 4001, reason: 'kicked by an administrator' });
    assert.equal((await second.waitClosed(3000)).code, 4001);
    assert.ok(bystander.ws.isOpen);
    const offline = await server.http('GET', `/v1/admin/players/${a.player_id}`, undefined, adm);
    assert.equal(offline.json.online, false);
    const none = await server.http('POST', `/v1/admin/players/${a.player_id}/kick`, {}, adm);
    assert.deepEqual(none.json, { player_id: a.player_id, closed_sockets: 0 });
    await bystander.ws.close();
  });
});

describe('session timeouts (--idle-timeout-ms 1500 --auth-timeout-ms 1000)', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--idle-timeout-ms', '1500', '--auth-timeout-ms', '1000'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('an authenticated socket silent for the idle timeout is closed (1008 "idle timeout")', async () => {
    const s = await h.authed(server);
    const t0 = Date.now();
    const closed = await s.ws.waitClosed(4000);
    const ms = Date.now() - t0;
    assert.deepEqual(closed, { code: 1008, reason: 'idle timeout' });
    assert.ok(ms >= 1200 && ms < 3500, `closed after ${ms} ms`);
  });

  it('heartbeats (with or without cid) keep it alive past the idle timeout', async () => {
    const s = await h.authed(server);
    const t0 = Date.now();
    let i = 0;
    while (Date.now() - t0 < 2400) {
      if (i++ % 2) s.ws.send({ type: 'session.heartbeat', payload: {} });
      else assert.equal((await s.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
      await h.sleep(400); // pacing on purpose: the point is that the socket is NOT closed meanwhile
    }
    assert.ok(s.ws.isOpen, 'still open after 2.4 s of heartbeats');
    // any message counts as activity, even one answered with an error
    for (let k = 0; k < 4; k++) {
      s.ws.send({ type: 'no.such', payload: {} });
      await h.sleep(400); // pacing on purpose (nothing may close the socket)
    }
    assert.ok(s.ws.isOpen, 'still open after 1.6 s of (refused) messages');
    const closed = await s.ws.waitClosed(4000);
    assert.equal(closed.code, 1008);
  });

  it('a socket that does not authenticate within the auth timeout is closed (1008 "authentication timeout"), even if it talks', async () => {
    const ws = await server.ws();
    const t0 = Date.now();
    const chatter = setInterval(() => ws.isOpen && ws.send({ type: 'session.heartbeat', payload: {} }), 250);
    try {
      const closed = await ws.waitClosed(3000);
      const ms = Date.now() - t0;
      assert.deepEqual(closed, { code: 1008, reason: 'authentication timeout' });
      assert.ok(ms >= 800 && ms < 2500, `closed after ${ms} ms`);
    } finally {
      clearInterval(chatter);
    }
    assert.ok(ws.received.every((m) => m.type === 'error' && m.payload.code === 'unauthorized'));
  });

  it('a socket that connects in time is not closed by the auth timeout', async () => {
    const s = await h.authed(server);
    // fixed waits on purpose: the point is that nothing happens (no close) past the auth timeout
    await h.sleep(700);
    s.ws.send({ type: 'session.heartbeat', payload: {} });
    await h.sleep(700); // 1.4 s after opening: past the auth timeout, within the idle timeout
    assert.ok(s.ws.isOpen);
    assert.equal((await s.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    await s.ws.close();
  });
});

describe('shutdown', () => {
  it('SIGTERM closes every socket with 1001 "server shutting down" and exits 0', async () => {
    const server = await h.startServer();
    const s = await h.authed(server);
    const anon = await server.ws();
    const code = server.stop('SIGTERM');
    assert.deepEqual(await s.ws.waitClosed(5000), { code: 1001, reason: 'server shutting down' });
    assert.equal((await anon.waitClosed(5000)).code, 1001);
    assert.equal(await code, 0);
  });
});
