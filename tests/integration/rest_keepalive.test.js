'use strict';
// REST over ONE keep-alive connection (the harness's http() opens a connection per request).
// transport.c writes a response's status line, headers and body with one lws_write, usually from
// the request callback itself, and serves the POLLOUT that lws asks for after each transaction from
// an ev_prepare watcher. These tests check that a connection keeps working through all of that:
// many calls in a row, a response far larger than one socket write (lws keeps the rest and only
// then completes the transaction), HEAD, an error, and CORS headers longer than the room reserved
// in front of the body.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./harness');

// A minimal HTTP/1.1 client on one socket; requests are answered in order.
function connect(port) {
  const sock = net.connect(port, '127.0.0.1');
  let buf = Buffer.alloc(0);
  const pending = []; // {method, resolve, reject}
  let closed = false;
  const failAll = (err) => {
    closed = true;
    while (pending.length) pending.shift().reject(err);
  };
  const pump = () => {
    while (pending.length) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(head[0].split(' ')[1]);
      const headers = {};
      for (const line of head.slice(1)) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const len = pending[0].method === 'HEAD' ? 0 : Number(headers['content-length'] || 0);
      if (buf.length < end + 4 + len) return;
      const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
      buf = buf.subarray(end + 4 + len);
      pending.shift().resolve({ status, headers, body });
    }
  };
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    pump();
  });
  sock.on('error', (e) => failAll(e));
  sock.on('close', () => failAll(new Error('connection closed')));
  const ready = new Promise((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  return {
    async request(method, path, body, headers = {}) {
      await ready;
      if (closed) throw new Error('connection closed');
      const data = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
      let req = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
      for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
      if (data.length) req += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(data)}\r\n`;
      const p = new Promise((resolve, reject) => pending.push({ method, resolve, reject }));
      sock.write(req + '\r\n' + data);
      return Promise.race([
        p,
        new Promise((_, reject) => setTimeout(() => reject(new Error(`${method} ${path}: no answer in 10 s`)), 10000).unref()),
      ]);
    },
    close() {
      sock.destroy();
    },
  };
}

describe('REST over one keep-alive connection', () => {
  let server;
  let p;
  let c;
  const origin = `http://${'a'.repeat(240)}.example`;
  before(async () => {
    server = await h.startServer({ args: ['--cors-origins', '*'] });
    p = await h.authed(server);
    c = connect(server.port);
  });
  after(async () => {
    if (c) c.close();
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });
  const auth = () => ({ Authorization: `Bearer ${p.token}` });

  it('answers 200 rpc calls in a row, each with its own payload', async () => {
    for (let i = 0; i < 200; i++) {
      const res = await c.request('POST', '/v1/rpc/echo', { i }, auth());
      assert.equal(res.status, 200, res.body);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(res.body).echo, { i });
    }
  });

  it('a 600 KB response goes out whole, and the next request on the connection is answered', async () => {
    const big = 'x'.repeat(600 * 1024);
    const res = await c.request('POST', '/v1/rpc/echo', { big }, auth());
    assert.equal(res.status, 200);
    assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body));
    assert.equal(JSON.parse(res.body).echo.big, big);
    const next = await c.request('GET', '/healthz');
    assert.equal(next.status, 200);
    assert.equal(JSON.parse(next.body).status, 'ok');
    const metrics = await c.request('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^moonbase_rpc_calls_total \d+$/m);
  });

  it('HEAD: the headers of GET (content-length included) and no body', async () => {
    const get = await c.request('GET', '/healthz');
    const head = await c.request('HEAD', '/healthz');
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], get.headers['content-length']);
    assert.equal(head.body, '');
    assert.equal((await c.request('POST', '/v1/rpc/echo', {}, auth())).status, 200);
  });

  it('errors keep the connection: 401, 404, 400', async () => {
    assert.equal((await c.request('POST', '/v1/rpc/echo', {})).status, 401);
    assert.equal((await c.request('GET', '/no/such/route')).status, 404);
    const bad = await c.request('POST', '/v1/rpc/echo', '{"a":', auth());
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body).error.message, /invalid JSON body/);
    assert.equal((await c.request('POST', '/v1/rpc/echo', { after: 'errors' }, auth())).status, 200);
  });

  it('CORS with a 250-character Origin (headers longer than the room before the body)', async () => {
    const pre = await c.request('OPTIONS', '/v1/rpc/echo', undefined, { Origin: origin });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers['access-control-allow-origin'], origin);
    assert.match(pre.headers['access-control-allow-methods'], /POST/);
    const res = await c.request('POST', '/v1/rpc/echo', { cors: true }, { ...auth(), Origin: origin });
    assert.equal(res.status, 200);
    assert.equal(res.headers['access-control-allow-origin'], origin);
    assert.deepEqual(JSON.parse(res.body).echo, { cors: true });
  });
});
