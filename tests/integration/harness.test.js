'use strict';
// Smoke test of the harness itself: first against an in-process WebSocket server (no moonbase
// needed), then against the real binary: /healthz, device auth + session.connect, clean stop.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const WebSocket = require('ws');
const h = require('./harness');

describe('harness: WebSocket client', () => {
  let wss;
  let url;
  before(async () => {
    wss = new WebSocket.WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    url = `ws://127.0.0.1:${wss.address().port}/ws`;
    // Echo server: replies to requests, pushes an "event" first, closes on "bye".
    wss.on('connection', (sock) => {
      sock.on('message', (data) => {
        let m;
        try {
          m = JSON.parse(data.toString());
        } catch {
          sock.send(JSON.stringify({ type: 'error', payload: { code: 'bad_request' } }));
          return;
        }
        if (m.type === 'bye') return sock.close(4000, 'bye');
        sock.send(JSON.stringify({ type: 'event', payload: { n: 1 } }));
        sock.send(JSON.stringify({ cid: m.cid, type: `${m.type}.reply`, payload: m.payload }));
      });
    });
  });
  after(() => new Promise((resolve) => wss.close(resolve)));

  it('request() resolves with the reply carrying its cid; next() keeps other messages buffered', async () => {
    const ws = await h.connectWs(url);
    const reply = await ws.request('ping', { x: 1 });
    assert.equal(reply.type, 'ping.reply');
    assert.deepEqual(reply.payload, { x: 1 });
    const ev = await ws.next('event');
    assert.deepEqual(ev.payload, { n: 1 });
    await ws.expectNone('event', 100);
    assert.deepEqual(await ws.ok('echo', { y: 2 }), { y: 2 });
    await ws.close();
  });

  it('next() times out with a useful message', async () => {
    const ws = await h.connectWs(url);
    await assert.rejects(ws.next('never', 100), /next\(never\) timed out after 100 ms/);
    await ws.close();
  });

  it('raw frames, server close and the closed promise', async () => {
    const ws = await h.connectWs(url);
    ws.sendRaw('{not json');
    const err = await ws.next('error');
    assert.equal(err.payload.code, 'bad_request');
    ws.send({ type: 'bye' });
    const closed = await ws.waitClosed(2000);
    assert.deepEqual(closed, { code: 4000, reason: 'bye' });
    await assert.rejects(ws.next('anything', 1000), /socket closed \(code 4000/);
  });

  it('connectWs rejects when nothing listens', async () => {
    const port = await h.freePort();
    await assert.rejects(h.connectWs(`ws://127.0.0.1:${port}/ws`, { timeoutMs: 2000 }));
  });

  it('sanitizerReport finds ASan, LSan and UBSan reports only', () => {
    assert.equal(h.sanitizerReport('level=error msg="lua: runtime error: x"\n'), null);
    assert.match(h.sanitizerReport('a\n==1==ERROR: AddressSanitizer: heap-use-after-free\nb'), /^==1==ERROR: AddressSanitizer/);
    assert.match(h.sanitizerReport('==2==ERROR: LeakSanitizer: detected memory leaks'), /LeakSanitizer/);
    assert.match(h.sanitizerReport('x\nruntime/session.c:10:3: runtime error: signed integer overflow\n'), /^runtime\/session\.c/);
  });
});

describe('harness: moonbase server', () => {
  let server;
  before(async () => {
    server = await h.startServer();
  });
  after(async () => {
    if (server) await server.stop();
  });

  it('GET /healthz answers 200', async () => {
    const res = await server.http('GET', '/healthz');
    assert.equal(res.status, 200, res.text);
  });

  it('device auth + session.connect', async () => {
    const s = await h.authed(server, { device_id: 'harness-smoke-device' });
    assert.ok(s.token, 'token');
    assert.ok(s.refresh_token, 'refresh_token');
    assert.ok(s.player_id, 'player_id');
    // The same device finds the same account.
    const again = await h.authed(server, { device_id: 'harness-smoke-device' });
    assert.equal(again.player_id, s.player_id);
    await s.ws.close();
    await again.ws.close();
  });

  it('SIGTERM exits 0 with no sanitizer report', async () => {
    const code = await server.stop('SIGTERM');
    server = null;
    assert.equal(code, 0);
  });
});

describe('harness: privatePostgres', () => {
  it('gives a file its own cluster: stop makes /healthz 503, start brings it back', async () => {
    const pg = await h.privatePostgres();
    const server = await h.startServer({ databaseUrl: await pg.createDatabase() });
    try {
      assert.equal((await server.http('GET', '/healthz')).status, 200);
      await pg.stop();
      let res;
      for (let i = 0; i < 100; i++) {
        res = await server.http('GET', '/healthz');
        if (res.status === 503) break;
        await h.sleep(100);
      }
      assert.equal(res.status, 503, 'healthz while the database is down');
      await pg.start();
      for (let i = 0; i < 300; i++) {
        res = await server.http('GET', '/healthz');
        if (res.status === 200) break;
        await h.sleep(100);
      }
      assert.equal(res.status, 200, 'healthz after the database came back');
    } finally {
      assert.equal(await server.stop(), 0);
      await pg.destroy();
    }
  });
});
