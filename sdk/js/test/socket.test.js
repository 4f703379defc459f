// Socket against the real server: connect, heartbeats, request/reply by cid, error typing,
// timeouts, and the match and matchmaker helpers and events.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, MoonbaseError } from '../src/moonbase-client.js';
import { startServer, player, signedIn, collect, until, WebSocket } from './helpers.js';

describe('Socket', () => {
  let server;
  before(async () => {
    server = await startServer({ args: ['--idle-timeout-ms', '1500'] });
  });
  after(() => server.stop());

  it('connect authenticates with the session token', async () => {
    const { client, socket } = await player(server);
    assert.equal(socket.state, 'open');
    assert.equal(socket.connected, true);
    assert.equal(socket.playerId, client.session.player_id);
    assert.deepEqual(await socket.connect(), { player_id: socket.playerId }, 'connect() again is a no-op');
    socket.close();
    assert.equal(socket.state, 'closed');
  });

  it('connect refuses without a session, and with a bad token that cannot be refreshed', async () => {
    const c = new Client(server.baseUrl, { WebSocket });
    await assert.rejects(c.socket().connect(), { code: 'unauthorized' });
    const bad = new Client(server.baseUrl, { WebSocket, session: { token: 'x.y.z', player_id: 'p', username: 'u', expires_at: Date.now() + 3600e3 } });
    const s = bad.socket({ reconnect: false });
    await assert.rejects(s.connect(), (e) => e instanceof MoonbaseError && e.code === 'unauthorized' && e.requestType === 'session.connect');
    assert.notEqual(s.state, 'open');
  });

  it('refreshes an expired token before session.connect', async () => {
    const c = await signedIn(server);
    const rt = c.session.refresh_token;
    c.session.expires_at = Date.now() - 1;
    const s = c.socket({ heartbeatMs: 0 });
    await s.connect();
    assert.notEqual(c.session.refresh_token, rt);
    s.close();
  });

  it('heartbeats keep an idle connection open and measure latency', async () => {
    // The server closes sockets silent for 1.5 s (--idle-timeout-ms): heartbeats every 300 ms.
    const { socket } = await player(server, { socket: { heartbeatMs: 300 } });
    const disconnects = collect(socket, 'disconnect');
    // a fixed wait on purpose: the point is that nothing happens (no close) past the idle timeout
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(socket.state, 'open');
    assert.equal(disconnects.length, 0);
    assert.equal(typeof socket.latencyMs, 'number');
    const hb = await socket.heartbeat();
    assert.ok(Math.abs(hb.server_time - Date.now()) < 60000);
    socket.close();
  });

  it('without heartbeats the idle timeout closes the socket and onDisconnect fires', async () => {
    const { socket } = await player(server, { socket: { heartbeatMs: 0, reconnect: false } });
    const ev = await new Promise((resolve) => socket.onDisconnect(resolve)); // idle: no heartbeats
    assert.equal(ev.willReconnect, false);
    assert.equal(ev.byClient, false);
    assert.equal(ev.code, 1008);
    assert.equal(socket.state, 'closed');
  });

  it('request resolves with the reply carrying the same cid; errors are typed', async () => {
    const { socket } = await player(server);
    const env = await socket.request('session.heartbeat', {}, { raw: true });
    assert.equal(env.type, 'session.heartbeat');
    assert.match(env.cid, /-\d+$/);
    await assert.rejects(socket.request('no.such.type', {}), (e) => {
      assert.ok(e instanceof MoonbaseError);
      assert.equal(e.code, 'unsupported');
      assert.equal(e.requestType, 'no.such.type');
      assert.ok(e.cid);
      return true;
    });
    await assert.rejects(socket.joinMatch(''), { code: 'bad_request', requestType: 'match.join' });
    await assert.rejects(socket.joinMatch('00000000-0000-4000-8000-000000000000'), { code: 'not_found' });
    await assert.rejects(socket.leaveMatch(), { code: 'not_found', requestType: 'match.leave' });
    await assert.rejects(socket.sendInput({ action: 'move' }, { ack: true }), { code: 'not_found' });
    await assert.rejects(socket.request('session.connect', { token: 'again' }), { code: 'conflict' });
    socket.close();
  });

  it('an error that answers no request arrives as onError', async () => {
    const { socket } = await player(server);
    const errors = collect(socket, 'error');
    assert.equal(socket.sendInput({ action: 'move', x: 1, y: 1 }), true, 'fire-and-forget');
    await until(() => errors.length, { what: 'error event' });
    assert.ok(errors[0] instanceof MoonbaseError);
    assert.equal(errors[0].code, 'not_found');
    assert.equal(errors[0].requestType, 'match.input');
    socket.close();
  });

  it('request times out when the server does not answer, then the socket still works', async () => {
    const { socket } = await player(server);
    server.proc.kill('SIGSTOP');
    try {
      await assert.rejects(socket.request('session.heartbeat', {}, { timeoutMs: 300 }), (e) => e.code === 'timeout' && e.requestType === 'session.heartbeat');
    } finally {
      server.proc.kill('SIGCONT');
    }
    assert.ok((await socket.heartbeat()).server_time);
    socket.close();
  });

  it('requests pending when the socket closes reject with disconnected; sending while closed too', async () => {
    const { socket } = await player(server);
    server.proc.kill('SIGSTOP');
    const p = socket.request('session.heartbeat', {});
    socket.close();
    server.proc.kill('SIGCONT');
    await assert.rejects(p, { code: 'disconnected' });
    await assert.rejects(socket.heartbeat(), { code: 'disconnected' });
    assert.equal(socket.sendInput({ action: 'move' }), false);
  });

  it('matchmaker: addTicket, onMatchmakerMatched, joinMatch, onMatchStarted, sendInput, onMatchState, onMatchMessage, leaveMatch', async () => {
    const a = await player(server);
    const b = await player(server);
    const props = { skill: 1000, region: `r-${Date.now()}` };
    const matchedA = a.socket.next('matchmaker.matched', { timeoutMs: 20000 });
    const matchedB = b.socket.next('matchmaker.matched', { timeoutMs: 20000 });
    const ta = await a.socket.addTicket('arena', props);
    assert.equal(ta.mode, 'arena');
    assert.ok(a.socket.tickets.has(ta.ticket_id));
    await b.socket.addTicket('arena', props);
    await assert.rejects(a.socket.addTicket('arena', props), { code: 'conflict' }, 'one ticket per mode');
    const [ma, mb] = await Promise.all([matchedA, matchedB]);
    assert.equal(ma.match_id, mb.match_id);
    assert.equal(ma.ticket_id, ta.ticket_id);
    assert.equal(ma.players.length, 2);
    assert.equal(a.socket.tickets.size, 0, 'matched tickets are forgotten');

    const startedA = a.socket.next('match.started', { timeoutMs: 5000 });
    const messageA = a.socket.next('match.message', { timeoutMs: 5000 });
    const ja = await a.socket.joinMatch(ma.match_id);
    assert.equal(ja.mode, 'arena');
    assert.ok(ja.state && ja.state.players[a.id], 'the joiner gets the state');
    assert.deepEqual(a.socket.match, { match_id: ma.match_id, mode: 'arena', metadata: undefined });
    await b.socket.joinMatch(mb.match_id);
    const started = await startedA;
    assert.equal(started.match_id, ma.match_id);
    assert.equal(started.players.length, 2);
    const msg = await messageA;
    assert.equal(msg.subject, 'round');
    assert.equal(msg.match_id, ma.match_id);

    // B moves; A sees it in match.state
    const start = ja.state.players[b.id] || (await a.socket.next('match.state')).players[b.id];
    const ack = await b.socket.sendInput({ action: 'move', x: start.x + 5, y: start.y, seq: 7 }, { ack: true });
    assert.equal(ack.match_id, mb.match_id);
    assert.equal(typeof ack.tick, 'number');
    const seen = await a.socket.next('match.state', { filter: (s) => s.players[b.id] && s.players[b.id].seq === 7 });
    assert.ok(Math.abs(seen.players[b.id].x - (start.x + 5)) < 0.001);
    assert.equal(typeof seen.tick, 'number');
    assert.equal(seen.started, true);

    const left = await b.socket.leaveMatch();
    assert.deepEqual(left, { match_id: mb.match_id, reason: 'left' });
    assert.equal(b.socket.match, null);
    const finished = await a.socket.next('match.finished', { timeoutMs: 5000 });
    assert.equal(finished.match_id, ma.match_id);
    assert.equal(finished.result.winner, a.id, 'last one standing');
    assert.equal(a.socket.match, null, 'a finished match is forgotten');
    a.socket.close();
    b.socket.close();
  });

  it('matchmaker: removeTicket, and onMatchmakerRemoved when a ticket times out', async () => {
    const { socket } = await player(server);
    const t = await socket.addTicket('sdktest', { room: `alone-${Date.now()}` });
    const r = await socket.removeTicket(t.ticket_id);
    assert.equal(r.ticket_id, t.ticket_id);
    assert.equal(r.reason, 'removed');
    assert.equal(socket.tickets.size, 0);
    await assert.rejects(socket.removeTicket(t.ticket_id), { code: 'not_found', requestType: 'matchmaker.remove' });
    await assert.rejects(socket.addTicket('tictactoe', {}), { code: 'not_found' }, 'mode without matchmaker');
    await assert.rejects(socket.addTicket('arena', { region: 'x' }), (e) => e.code === 'bad_request' && /skill/.test(e.message));

    const t2 = await socket.addTicket('sdktest', { room: `alone2-${Date.now()}` });
    const removed = await new Promise((resolve) => socket.onMatchmakerRemoved(resolve));
    assert.equal(removed.ticket_id, t2.ticket_id);
    assert.equal(removed.reason, 'timeout');
    assert.equal(socket.tickets.size, 0);
    socket.close();
  });

  it('onMatchLeft when the script kicks the player; onMatchFinished with the result', async () => {
    const a = await player(server);
    const b = await player(server);
    const c = await a.client.createMatch('sdktest');
    await a.socket.joinMatch(c.match_id, { color: 'red' });
    await b.socket.joinMatch(c.match_id);
    const leftP = new Promise((resolve) => b.socket.onMatchLeft(resolve));
    b.socket.sendInput({ action: 'kick' });
    const left = await leftP;
    assert.equal(left.reason, 'kicked');
    assert.equal(left.message, 'asked to be kicked');
    assert.equal(b.socket.match, null);

    const said = a.socket.next('match.message', { filter: (m) => m.subject === 'said' });
    a.socket.sendInput({ action: 'say', text: 'hello moon' });
    assert.deepEqual((await said).data, { text: 'hello moon', from: a.id });

    const fin = new Promise((resolve) => a.socket.onMatchFinished(resolve));
    a.socket.sendInput({ action: 'finish' });
    assert.deepEqual((await fin).result, { winner: a.id });
    a.socket.close();
    b.socket.close();
  });

  it('on(type) reaches any message type; "*" sees every envelope; unsubscribe works', async () => {
    const { client, socket } = await player(server);
    const all = collect(socket, '*');
    const states = [];
    const off = socket.on('match.state', (p, env) => states.push(env));
    const m = await client.createMatch('sdktest');
    await socket.joinMatch(m.match_id);
    await until(() => states.length >= 2, { what: 'two states' });
    off();
    const n = states.length;
    // a new state reaches the socket ('*' still listens: a move changes the state); the removed
    // listener sees none
    socket.sendInput({ action: 'move', x: 7, y: 7 });
    const me = client.session.player_id;
    await until(() => all.some((e) => e.type === 'match.state' && e.payload.players[me] && e.payload.players[me].x === 7),
      { timeoutMs: 10000, what: 'the state after the move' });
    assert.equal(states.length, n);
    assert.equal(states[0].type, 'match.state');
    assert.ok(all.some((e) => e.type === 'match.state'));
    socket.close();
  });

  it('a listener that throws does not stop the others', async () => {
    const { client, socket } = await player(server);
    const orig = globalThis.reportError;
    const reported = [];
    globalThis.reportError = (e) => reported.push(e);
    try {
      let got = 0;
      socket.onMatchState(() => {
        throw new Error('boom');
      });
      socket.onMatchState(() => got++);
      const m = await client.createMatch('sdktest');
      await socket.joinMatch(m.match_id);
      await until(() => got > 0, { what: 'second listener' });
      assert.ok(reported.length > 0 && reported[0].message === 'boom');
    } finally {
      globalThis.reportError = orig;
      socket.close();
    }
  });
});
