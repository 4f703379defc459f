'use strict';
// Bad input gets a clear error and nothing breaks (docs/PROTOCOL.md "Errors" and "Limits",
// docs/REST.md "Errors"): malformed envelopes, unknown types, size and depth limits, binary
// frames, invalid UTF-8, the per-connection rate limit, the /ws path, REST 404 and 400.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./harness');

function assertError(msg, { cid, code, requestType = null, messageRe }) {
  assert.equal(msg.type, 'error', JSON.stringify(msg));
  if (cid === undefined) assert.ok(!('cid' in msg), `no cid expected: ${JSON.stringify(msg)}`);
  else assert.equal(msg.cid, cid, JSON.stringify(msg));
  assert.deepEqual(Object.keys(msg.payload).sort(), ['code', 'message', 'request_type']);
  assert.equal(msg.payload.code, code, JSON.stringify(msg));
  assert.equal(msg.payload.request_type, requestType, JSON.stringify(msg));
  if (messageRe) assert.match(msg.payload.message, messageRe);
}

/** The socket still answers a heartbeat. */
async function usable(ws) {
  const r = await ws.request('session.heartbeat', {}, { timeoutMs: 3000 });
  assert.equal(r.type, 'session.heartbeat', JSON.stringify(r));
}

const nested = (depth, leaf = '1') => {
  let s = leaf;
  for (let i = 0; i < depth; i++) s = `[${s}]`;
  return s;
};

describe('malformed messages', () => {
  let server;
  let s;
  before(async () => {
    server = await h.startServer();
    s = await h.authed(server);
  });
  after(async () => {
    if (s) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('invalid JSON: bad_request (no cid: it could not be read), the socket stays usable', async () => {
    s.ws.sendRaw('{"cid": "x", "type": ');
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /^invalid JSON: / });
    s.ws.sendRaw('not json at all');
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /^invalid JSON/ });
    s.ws.sendRaw('{"cid":"dup","type":"session.heartbeat","type":"session.heartbeat"}');
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /invalid JSON: duplicate object key/ });
    await usable(s.ws);
  });

  it('not an object, missing type, non-string type, empty type: bad_request, cid echoed when readable', async () => {
    s.ws.sendRaw('[1, 2, 3]');
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /message must be a JSON object/ });
    // a top-level scalar is not even parsed (jansson expects an object or array)
    s.ws.sendRaw('"session.heartbeat"');
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /^invalid JSON: '\[' or '\{' expected/ });
    s.ws.sendRaw(JSON.stringify({ cid: 'no-type', payload: {} }));
    assertError(await s.ws.next('error'), { cid: 'no-type', code: 'bad_request', messageRe: /missing field 'type'/ });
    s.ws.sendRaw(JSON.stringify({ cid: 'num-type', type: 42, payload: {} }));
    assertError(await s.ws.next('error'), { cid: 'num-type', code: 'bad_request', messageRe: /field 'type' must be a string of 1\.\.64 characters/ });
    s.ws.sendRaw(JSON.stringify({ cid: 'empty-type', type: '', payload: {} }));
    assertError(await s.ws.next('error'), { cid: 'empty-type', code: 'bad_request', messageRe: /field 'type' must be a string/ });
    s.ws.sendRaw(JSON.stringify({ cid: 'long-type', type: 't'.repeat(65), payload: {} }));
    assertError(await s.ws.next('error'), { cid: 'long-type', code: 'bad_request' });
    await usable(s.ws);
  });

  it('payload not an object: bad_request naming the request type', async () => {
    for (const payload of [[], 'text', 5, true]) {
      const r = await s.ws.request('session.heartbeat', payload);
      assertError(r, { cid: r.cid, code: 'bad_request', requestType: 'session.heartbeat', messageRe: /field 'payload' must be an object/ });
    }
    // payload null is refused too (only an absent payload means {})
    s.ws.sendRaw(JSON.stringify({ cid: 'null-payload', type: 'session.heartbeat', payload: null }));
    assertError(await s.ws.next((m) => m.cid === 'null-payload'), {
      cid: 'null-payload', code: 'bad_request', requestType: 'session.heartbeat', messageRe: /field 'payload' must be an object/,
    });
    // an absent payload is {}; unknown envelope members are ignored
    s.ws.sendRaw(JSON.stringify({ cid: 'no-payload', type: 'session.heartbeat', extra: 1 }));
    assert.equal((await s.ws.next((m) => m.cid === 'no-payload')).type, 'session.heartbeat');
    await usable(s.ws);
  });

  it('wrong field types and lengths: bad_request with the field name', async () => {
    assertError(await s.ws.request('match.join', { match_id: 12 }, { cid: 'j1' }), {
      cid: 'j1', code: 'bad_request', requestType: 'match.join', messageRe: /field 'match_id' must be a string/,
    });
    assertError(await s.ws.request('match.join', {}, { cid: 'j2' }), {
      cid: 'j2', code: 'bad_request', requestType: 'match.join', messageRe: /missing field 'match_id'/,
    });
    assertError(await s.ws.request('match.join', { match_id: 'm'.repeat(65) }, { cid: 'j3' }), {
      cid: 'j3', code: 'bad_request', requestType: 'match.join', messageRe: /field 'match_id' must be 1\.\.64 characters long/,
    });
    assertError(await s.ws.request('match.join', { match_id: 'abc', metadata: [1] }, { cid: 'j4' }), {
      cid: 'j4', code: 'bad_request', requestType: 'match.join', messageRe: /field 'metadata' must be an object/,
    });
    await usable(s.ws);
  });

  it('unknown type: unsupported', async () => {
    assertError(await s.ws.request('chat.shout', {}, { cid: 'u1' }), {
      cid: 'u1', code: 'unsupported', requestType: 'chat.shout', messageRe: /unknown message type/,
    });
    s.ws.send({ type: 'no.such.thing', payload: {} });
    assertError(await s.ws.next('error'), { code: 'unsupported', requestType: 'no.such.thing' });
    await usable(s.ws);
  });

  it('JSON nested deeper than 32 levels: bad_request; 32 levels are accepted', async () => {
    // depth counts containers: envelope (1) + payload (2) + n arrays
    s.ws.sendRaw(`{"cid":"deep-ok","type":"session.heartbeat","payload":{"a":${nested(30)}}}`);
    assert.equal((await s.ws.next((m) => m.cid === 'deep-ok')).type, 'session.heartbeat');
    s.ws.sendRaw(`{"cid":"deep","type":"session.heartbeat","payload":{"a":${nested(31)}}}`);
    assertError(await s.ws.next((m) => m.cid === 'deep'), {
      cid: 'deep', code: 'bad_request', requestType: 'session.heartbeat', messageRe: /JSON nested deeper than 32 levels/,
    });
    s.ws.sendRaw(`{"type":"session.heartbeat","payload":{"a":${nested(5000)}}}`);
    assertError(await s.ws.next('error'), { code: 'bad_request' });
    await usable(s.ws);
  });

  it('a binary frame: bad_request, the socket stays usable', async () => {
    s.ws.sendRaw(Buffer.from(JSON.stringify({ cid: 'bin', type: 'session.heartbeat', payload: {} })), { binary: true });
    assertError(await s.ws.next('error'), { code: 'bad_request', messageRe: /binary frames are not supported/ });
    await usable(s.ws);
  });

  it('a message sent in several fragments is assembled', async () => {
    s.ws.socket.send('{"cid":"frag","type":"sess', { fin: false });
    s.ws.socket.send('ion.heartbeat","payl', { fin: false });
    s.ws.socket.send('oad":{}}', { fin: true });
    assert.equal((await s.ws.next((m) => m.cid === 'frag')).type, 'session.heartbeat');
  });

  it('a message of exactly 64 KiB is accepted', async () => {
    const base = JSON.stringify({ cid: 'max', type: 'session.heartbeat', payload: { pad: '' } });
    const msg = JSON.stringify({ cid: 'max', type: 'session.heartbeat', payload: { pad: 'x'.repeat(65536 - base.length) } });
    assert.equal(Buffer.byteLength(msg), 65536);
    s.ws.send(msg);
    assert.equal((await s.ws.next((m) => m.cid === 'max')).type, 'session.heartbeat');
  });
});

describe('connection-ending errors', () => {
  let server;
  before(async () => {
    server = await h.startServer();
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('a message over 64 KiB closes the socket with 1009', async () => {
    const s = await h.authed(server);
    s.ws.send(JSON.stringify({ type: 'session.heartbeat', payload: { pad: 'x'.repeat(65536) } }));
    assert.deepEqual(await s.ws.waitClosed(3000), { code: 1009, reason: 'message over 65536 bytes' });
  });

  it('fragments adding up to more than 64 KiB close the socket with 1009', async () => {
    const s = await h.authed(server);
    s.ws.socket.send('{"type":"session.heartbeat","payload":{"pad":"', { fin: false });
    s.ws.socket.send('x'.repeat(40000), { fin: false });
    s.ws.socket.send('x'.repeat(40000), { fin: true });
    // BUG: when the client has already sent more frames after the one crossing the limit,
    // the close frame is sometimes lost (the client sees 1006): only the deterministic case is asserted.
    assert.equal((await s.ws.waitClosed(3000)).code, 1009);
  });

  it('an oversized message is refused before session.connect too (1009)', async () => {
    const ws = await server.ws();
    ws.send('x'.repeat(70000));
    assert.equal((await ws.waitClosed(3000)).code, 1009);
  });

  it('a text frame that is not valid UTF-8 closes the socket with 1007 "bad utf8"', async () => {
    const s = await h.authed(server);
    s.ws.sendRaw(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { binary: false });
    assert.deepEqual(await s.ws.waitClosed(3000), { code: 1007, reason: 'bad utf8' });
    // the server is fine
    const other = await h.authed(server);
    await usable(other.ws);
    await other.ws.close();
  });

  it('a WebSocket upgrade on any path but /ws is refused (connection closed, no upgrade)', async () => {
    for (const p of ['/', '/other', '/ws/extra', '/v1/ws']) {
      await assert.rejects(server.ws(p, { timeoutMs: 3000 }), (err) => !/no open within/.test(err.message), p);
    }
    // /ws with a query string is /ws
    const ws = await server.ws('/ws?client=test');
    await ws.close();
  });

  it('a plain HTTP GET of /ws (no upgrade) is a REST 404', async () => {
    const res = await server.http('GET', '/ws');
    assert.equal(res.status, 404);
    assert.equal(res.json.error.code, 'not_found');
  });
});

describe('per-connection rate limit (--msg-rate 5 --msg-burst 5)', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--msg-rate', '5', '--msg-burst', '5'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('a flood gets rate_limited errors (cid echoed, one reply each), then the bucket refills', async () => {
    const s = await h.authed(server); // session.connect took one token
    const n = 12;
    for (let i = 0; i < n; i++) s.ws.send({ cid: `flood-${i}`, type: 'session.heartbeat', payload: {} });
    const replies = [];
    for (let i = 0; i < n; i++) replies.push(await s.ws.next((m) => m.cid === `flood-${i}`, 3000));
    const ok = replies.filter((r) => r.type === 'session.heartbeat').length;
    const limited = replies.filter((r) => r.type === 'error');
    assert.ok(ok >= 3 && ok <= 6, `answered normally: ${ok}`);
    assert.equal(ok + limited.length, n);
    for (const r of limited) {
      assertError(r, { cid: r.cid, code: 'rate_limited', requestType: 'session.heartbeat', messageRe: /too many messages/ });
    }
    // the accepted ones are the first ones
    assert.ok(replies.slice(0, ok).every((r) => r.type === 'session.heartbeat'));
    await s.ws.expectNone(() => true, 300);
    assert.ok(s.ws.isOpen, 'rate limiting does not close the socket');
    // the bucket refills (5 tokens per second; a refused message takes none): a heartbeat is answered again
    await h.waitFor('a heartbeat answered after the refill',
      async () => (await s.ws.request('session.heartbeat', {}, { timeoutMs: 3000 })).type === 'session.heartbeat', 10000, 100);
    await s.ws.close();
  });

  it('the limit is per connection: another socket of the same server is not limited', async () => {
    const a = await h.authed(server);
    const b = await h.authed(server);
    for (let i = 0; i < 10; i++) a.ws.send({ type: 'session.heartbeat', payload: {} });
    await a.ws.next((m) => m.type === 'error' && m.payload.code === 'rate_limited', 3000);
    await usable(b.ws);
    await a.ws.close();
    await b.ws.close();
  });
});

describe('REST errors', () => {
  let server;
  before(async () => {
    server = await h.startServer();
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  const isError = (res, status, code, re) => {
    assert.equal(res.status, status, res.text);
    assert.deepEqual(Object.keys(res.json), ['error']);
    assert.equal(res.json.error.code, code);
    if (re) assert.match(res.json.error.message, re);
  };

  it('unknown route: 404 not_found JSON', async () => {
    isError(await server.http('GET', '/v1/does-not-exist'), 404, 'not_found', /no such route: GET \/v1\/does-not-exist/);
    isError(await server.http('POST', '/nothing/here', {}), 404, 'not_found');
  });

  it('known path, other method: 404 unsupported', async () => {
    isError(await server.http('GET', '/v1/auth/device'), 404, 'unsupported', /method GET not allowed here/);
    isError(await server.http('PUT', '/v1/account', { a: 1 }), 404, 'unsupported', /method PUT not allowed here/);
  });

  it('bad JSON body: 400; a non-object body: 400; a body over 1 MiB: 400', async () => {
    isError(await server.http('POST', '/v1/auth/device', '{"device_id": "abcdef"'), 400, 'bad_request', /invalid JSON body/);
    isError(await server.http('POST', '/v1/auth/device', '[1, 2]'), 400, 'bad_request', /JSON body must be an object/);
    isError(await server.http('POST', '/v1/auth/device', '"abcdef"'), 400, 'bad_request', /invalid JSON body/);
    isError(await server.http('POST', '/v1/auth/device', JSON.stringify({ device_id: 'x'.repeat(1100000) })), 400, 'bad_request', /request body over 1048576 bytes/);
  });

  it('OPTIONS (CORS preflight) answers 204 with an empty body', async () => {
    const res = await server.http('OPTIONS', '/v1/account');
    assert.equal(res.status, 204);
    assert.equal(res.text, '');
  });

  it('a half-open HTTP request does not block the server', async () => {
    const sock = net.connect(server.port, '127.0.0.1');
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write('POST /v1/auth/device HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"dev');
    const res = await server.http('GET', '/healthz');
    assert.equal(res.status, 200);
    sock.destroy();
  });
});
