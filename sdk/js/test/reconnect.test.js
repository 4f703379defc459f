// Reconnection: after a server restart (same port, database and data dir), after a network
// drop (a TCP proxy the test cuts), after a connection that stops answering (heartbeat
// timeout); and when not to reconnect (kicked, credentials gone for good).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Client, AdminClient } from '../src/moonbase-client.js';
import { h, startServer, testScripts, player, signedIn, collect, until, track, deviceId, WebSocket } from './helpers.js';

const FAST = { minDelayMs: 50, maxDelayMs: 400, jitter: 0 };

/** A TCP proxy to the server: cut() closes every connection, freeze() stops forwarding on them. */
async function proxy(port) {
  const conns = new Set();
  const srv = net.createServer((c) => {
    const u = net.connect(port, '127.0.0.1');
    const pair = { c, u, frozen: false };
    conns.add(pair);
    c.on('data', (d) => pair.frozen || u.write(d));
    u.on('data', (d) => pair.frozen || c.write(d));
    const end = () => {
      conns.delete(pair);
      c.destroy();
      u.destroy();
    };
    c.on('close', end).on('error', end);
    u.on('close', end).on('error', end);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  srv.unref();
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    cut: () => conns.forEach((p) => (p.c.destroy(), p.u.destroy())),
    freeze: () => conns.forEach((p) => (p.frozen = true)),
    close: () => new Promise((r) => (conns.forEach((p) => (p.c.destroy(), p.u.destroy())), srv.close(r))),
  };
}

describe('reconnect', () => {
  it('after the server restarts: re-authenticates (refreshing the token), rejoins channels, resubmits tickets', async (t) => {
    const scripts = testScripts();
    const first = await startServer({ scripts });
    let second;
    t.after(() => second && second.stop());
    const a = await player(first, { socket: { reconnect: FAST } });
    const room = `restart.${Date.now()}`;
    const mmRoom = `mm-${Date.now()}`;
    await a.socket.joinChat(room);
    const ticket = await a.socket.addTicket('sdktest', { room: mmRoom });
    const m = await a.client.createMatch('sdktest');
    await a.socket.joinMatch(m.match_id);
    const finished = a.socket.next('match.finished', { timeoutMs: 10000 });
    const disconnects = collect(a.socket, 'disconnect');
    const reconnected = new Promise((resolve) => a.socket.onReconnect(resolve));
    const oldRefresh = a.client.session.refresh_token;
    a.client.session.expires_at = 0; // the reconnect must refresh first

    await first.stop();
    assert.deepEqual((await finished).result, { reason: 'shutdown' });
    assert.equal(a.socket.match, null);
    await until(() => disconnects.length === 1, { what: 'disconnect event' });
    assert.equal(disconnects[0].code, 1001);
    assert.equal(disconnects[0].willReconnect, true);
    assert.equal(a.socket.state, 'reconnecting');
    await assert.rejects(a.socket.heartbeat(), { code: 'disconnected' });

    second = await startServer({ scripts, port: first.port, databaseUrl: first.databaseUrl, dataDir: first.dataDir, adminToken: first.adminToken });
    const ev = await reconnected;
    assert.ok(ev.attempt >= 1);
    assert.equal(ev.match, null);
    assert.deepEqual(ev.channels, [{ channel_id: room, ok: true }]);
    assert.equal(ev.tickets.length, 1);
    assert.equal(ev.tickets[0].old_ticket_id, ticket.ticket_id);
    assert.equal(ev.tickets[0].ok, true);
    assert.ok(a.socket.tickets.has(ev.tickets[0].ticket_id));
    assert.equal(a.socket.state, 'open');
    assert.notEqual(a.client.session.refresh_token, oldRefresh, 'refreshed');
    assert.ok((await a.socket.heartbeat()).server_time);

    // the rejoined channel and the resubmitted ticket work
    const b = await player(second);
    await b.socket.joinChat(room);
    const heard = a.socket.next('chat.message');
    await b.socket.sendChat(room, 'welcome back');
    assert.equal((await heard).content, 'welcome back');
    const matched = a.socket.next('matchmaker.matched', { timeoutMs: 5000 });
    await b.socket.addTicket('sdktest', { room: mmRoom });
    assert.equal((await matched).ticket_id, ev.tickets[0].ticket_id);
  });

  describe('one server', () => {
    let server, admin;
    before(async () => {
      server = await startServer();
      admin = new AdminClient(server.baseUrl, server.adminToken);
    });
    after(() => server && server.stop());

    it('after a network drop: rejoins the match within its reconnect grace and keeps receiving state', async (t) => {
      const px = await proxy(server.port);
      t.after(() => px.close());
      const client = await signedIn(server);
      const viaProxy = new Client(px.url, { WebSocket, session: client.session.toJSON() });
      const socket = track(viaProxy.socket({ heartbeatMs: 0, reconnect: FAST }));
      await socket.connect();
      const other = await player(server);
      const m = await other.client.createMatch('sdktest');
      await socket.joinMatch(m.match_id, { color: 'teal' });
      await other.socket.joinMatch(m.match_id);
      await socket.joinChat(`match:${m.match_id}`);
      await other.socket.joinChat(`match:${m.match_id}`);
      const reconnected = new Promise((resolve) => socket.onReconnect(resolve));
      const drop = new Promise((resolve) => socket.onDisconnect(resolve));
      px.cut();
      const d = await drop;
      assert.equal(d.willReconnect, true);
      const ev = await reconnected;
      assert.equal(ev.match.ok, true);
      assert.equal(ev.match.match_id, m.match_id);
      assert.ok(ev.match.joined.state.players[viaProxy.session.player_id], 'the seat was kept');
      assert.deepEqual(ev.channels, [{ channel_id: `match:${m.match_id}`, ok: true }]);
      assert.deepEqual(socket.match, { match_id: m.match_id, mode: 'sdktest', metadata: { color: 'teal' } });
      socket.sendInput({ action: 'move', x: 42, y: 7 });
      const st = await socket.next('match.state', { filter: (s) => s.players[viaProxy.session.player_id].x === 42 });
      assert.equal(st.players[viaProxy.session.player_id].y, 7);
      const heard = other.socket.next('chat.message');
      await socket.sendChat(`match:${m.match_id}`, 'back');
      assert.equal((await heard).content, 'back');
    });

    it('a connection that stops answering is dropped after a heartbeat timeout, then reconnects', async (t) => {
      const px = await proxy(server.port);
      t.after(() => px.close());
      const client = await signedIn(server);
      const viaProxy = new Client(px.url, { WebSocket, session: client.session.toJSON() });
      const socket = track(viaProxy.socket({ heartbeatMs: 150, heartbeatTimeoutMs: 400, reconnect: FAST }));
      await socket.connect();
      const drop = new Promise((resolve) => socket.onDisconnect(resolve));
      const reconnected = new Promise((resolve) => socket.onReconnect(resolve));
      px.freeze();
      const d = await drop;
      assert.equal(d.reason, 'heartbeat timeout');
      assert.equal(d.willReconnect, true);
      await reconnected;
      assert.equal(socket.state, 'open');
      assert.ok(typeof (await socket.heartbeat()).server_time === 'number');
    });

    it('keeps trying with backoff while the server is unreachable, and gives up after maxAttempts', async () => {
      const px = await proxy(server.port);
      const client = await signedIn(server);
      const viaProxy = new Client(px.url, { WebSocket, session: client.session.toJSON() });
      const socket = track(viaProxy.socket({ heartbeatMs: 0, reconnect: { ...FAST, maxAttempts: 3 } }));
      await socket.connect();
      const errors = collect(socket, 'error');
      const disconnects = collect(socket, 'disconnect');
      await px.close(); // nothing listens there any more
      await until(() => disconnects.length === 2, { what: 'final disconnect' });
      assert.equal(disconnects[0].willReconnect, true);
      assert.equal(disconnects[1].willReconnect, false);
      assert.equal(socket.state, 'closed');
      assert.equal(errors.length, 1);
      assert.equal(errors[0].code, 'disconnected');
      assert.match(errors[0].message, /3 attempts/);
    });

    it('does not reconnect after an administrator kick (close code 4001)', async () => {
      const { socket, id } = await player(server, { socket: { reconnect: FAST } });
      const drop = new Promise((resolve) => socket.onDisconnect(resolve));
      const kicked = await admin.kickPlayer(id);
      assert.equal(kicked.closed_sockets, 1);
      const d = await drop;
      assert.equal(d.code, 4001);
      assert.equal(d.willReconnect, false);
      // a fixed wait on purpose: the point is that no reconnect happens (FAST would retry by now)
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(socket.state, 'closed');
      await socket.connect(); // the application may connect again on purpose
      assert.equal(socket.state, 'open');
    });

    it('stops when the credentials are gone for good (refresh token revoked, no device to sign in with)', async (t) => {
      const px = await proxy(server.port);
      t.after(() => px.close());
      const email = `${deviceId('rc')}@example.com`;
      const c = new Client(px.url, { WebSocket });
      await c.authenticateEmail(email, 'correct horse battery', { create: true });
      const socket = track(c.socket({ heartbeatMs: 0, reconnect: FAST }));
      await socket.connect();
      await new Client(server.baseUrl).logout(c.session.refresh_token);
      c.session.expires_at = 0;
      const errors = collect(socket, 'error');
      const disconnects = collect(socket, 'disconnect');
      px.cut();
      await until(() => disconnects.length === 2, { what: 'final disconnect' });
      assert.equal(disconnects[1].willReconnect, false);
      assert.equal(errors[0].code, 'unauthorized');
      assert.equal(socket.state, 'closed');
    });

    it('close() during reconnecting stops the attempts', async () => {
      const px = await proxy(server.port);
      const client = await signedIn(server);
      const c = new Client(px.url, { WebSocket, session: client.session.toJSON() });
      const socket = track(c.socket({ heartbeatMs: 0, reconnect: { minDelayMs: 300, maxDelayMs: 300, jitter: 0 } }));
      await socket.connect();
      const reconnects = collect(socket, 'reconnect');
      const drop = new Promise((resolve) => socket.onDisconnect(resolve));
      px.cut();
      await drop;
      socket.close();
      // a fixed wait on purpose: the point is that no attempt happens (two reconnect delays)
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(reconnects.length, 0);
      assert.equal(socket.state, 'closed');
      await px.close();
    });
  });
});
