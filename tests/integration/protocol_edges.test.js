'use strict';
// Protocol edges (issue "Reliability round 2", item 6), over raw TCP sockets so every byte is ours:
// - RFC 6455 §5.1: a client frame without a mask closes the connection with 1002 (text, empty
//   ping, after masked frames that were served, on an authenticated session); frames sent before
//   the 101 answer (§4.1) close it with 1002 as well; masked frames on the same raw client work.
// - an Authorization header over 4096 bytes is answered 431 with a JSON body (REST and the
//   WebSocket upgrade), whatever its length; 4096 bytes exactly is not 431.
// - a "\u0000" key is valid JSON (the payload reaches the handler; documented in PROTOCOL.md).
// - after 3,000 sessions closed, malloc_trim returns the freed memory (RSS near the baseline).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const h = require('./harness');

const log = (...a) => console.log('#', ...a);
const serverEnv = () => ({ ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=8` });

// ---- a raw WebSocket client ----------------------------------------------------------------------
/** A socket with everything it received in `buf`, `ended` once the server closed it. */
function rawConnect(port, host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host, () => resolve(s));
    s.buf = Buffer.alloc(0);
    s.ended = new Promise((res) => s.once('close', () => res(true)));
    s.on('data', (d) => {
      s.buf = Buffer.concat([s.buf, d]);
    });
    s.on('error', () => {});
    s.once('error', reject);
  });
}

const upgradeRequest = (extra = '') =>
  'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;

/** Upgrade a raw socket; resolves once the 101 and its headers are in (s.buf then holds frames only). */
async function rawWs(port) {
  const s = await rawConnect(port);
  s.write(upgradeRequest());
  await h.waitFor('101 Switching Protocols', () => s.buf.indexOf('\r\n\r\n') >= 0, 5000, 10);
  const head = s.buf.toString('latin1', 0, s.buf.indexOf('\r\n\r\n'));
  assert.match(head, /^HTTP\/1\.1 101 /);
  s.buf = s.buf.subarray(s.buf.indexOf('\r\n\r\n') + 4);
  return s;
}

/** One frame, masked with a random key unless `masked` is false. */
function frame(opcode, payload, masked = true) {
  const data = Buffer.from(payload);
  const len = data.length;
  const head = [0x80 | opcode];
  const m = masked ? 0x80 : 0;
  if (len < 126) head.push(m | len);
  else if (len < 65536) head.push(m | 126, len >> 8, len & 255);
  else throw new Error('test frames are small');
  if (!masked) return Buffer.concat([Buffer.from(head), data]);
  const key = crypto.randomBytes(4);
  const out = Buffer.from(data);
  for (let i = 0; i < out.length; i++) out[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, out]);
}

/** Parse the server's frames in s.buf (servers never mask). */
function frames(buf) {
  const out = [];
  let i = 0;
  while (i + 2 <= buf.length) {
    const op = buf[i] & 15;
    let len = buf[i + 1] & 127;
    let o = i + 2;
    if (len === 126) {
      len = buf.readUInt16BE(o);
      o += 2;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(o));
      o += 8;
    }
    if (o + len > buf.length) break;
    const payload = buf.subarray(o, o + len);
    out.push(op === 8 ? { op, code: payload.length >= 2 ? payload.readUInt16BE(0) : null, reason: payload.subarray(2).toString() } : { op, text: payload.toString() });
    i = o + len;
  }
  return out;
}

async function nextText(s, pred, ms = 5000) {
  return h.waitFor('a text frame', () => frames(s.buf).find((f) => f.op === 1 && pred(JSON.parse(f.text))), ms, 10);
}

/** The connection ends with a close frame carrying `code`; returns it. */
async function closedWith(s, code, ms = 5000) {
  await h.withTimeout(s.ended, ms, `server closing the connection (expected ${code})`);
  const close = frames(s.buf).find((f) => f.op === 8);
  assert.ok(close, `a close frame before the TCP close (got ${JSON.stringify(frames(s.buf))})`);
  assert.equal(close.code, code, JSON.stringify(close));
  return close;
}

// ---------------------------------------------------------------------------------------------
describe('RFC 6455 §5.1: unmasked client frames', () => {
  let server;
  before(async () => {
    server = await h.startServer({ env: serverEnv() });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('masked frames from the raw client are served (the control for the tests below)', async () => {
    const s = await rawWs(server.port);
    s.write(frame(1, JSON.stringify({ cid: 'm1', type: 'session.heartbeat', payload: {} })));
    const r = await nextText(s, (m) => m.cid === 'm1');
    assert.equal(JSON.parse(r.text).type, 'error'); // unauthorized: not connected yet, but answered
    // a frame split across TCP writes, header bytes included, is followed correctly
    const f = frame(1, JSON.stringify({ cid: 'm2', type: 'session.heartbeat', payload: { pad: 'x'.repeat(300) } }));
    for (const part of [f.subarray(0, 1), f.subarray(1, 3), f.subarray(3, 6), f.subarray(6, 100), f.subarray(100)]) {
      s.write(part);
      await h.sleep(20); // separate TCP segments: a fixed gap on purpose (the point is that they arrive apart)
    }
    await nextText(s, (m) => m.cid === 'm2');
    s.destroy();
  });

  it('an unmasked text frame after a real upgrade closes the connection with 1002', async () => {
    const s = await rawWs(server.port);
    s.write(frame(1, JSON.stringify({ cid: 'u1', type: 'session.heartbeat', payload: {} }), false));
    const close = await closedWith(s, 1002);
    assert.match(close.reason, /unmasked/);
    // the frame was not handled: no reply to it
    assert.equal(frames(s.buf).filter((f) => f.op === 1).length, 0);
    await server.waitForLog(/event=ws_protocol_error reason="unmasked frame"/);
  });

  it('an unmasked empty ping (which lws answers itself) closes with 1002 too', async () => {
    const s = await rawWs(server.port);
    s.write(frame(9, '', false));
    await closedWith(s, 1002);
  });

  it('an authenticated session that sends an unmasked frame after masked ones is closed with 1002; others are unaffected', async () => {
    const bystander = await h.authed(server);
    const r = await server.http('POST', '/v1/auth/device', { device_id: `raw-${crypto.randomBytes(4).toString('hex')}` });
    const s = await rawWs(server.port);
    s.write(frame(1, JSON.stringify({ cid: 'c1', type: 'session.connect', payload: { token: r.json.token } })));
    assert.equal(JSON.parse((await nextText(s, (m) => m.cid === 'c1')).text).type, 'session.connected');
    s.write(frame(1, JSON.stringify({ cid: 'c2', type: 'session.heartbeat', payload: {} })));
    await nextText(s, (m) => m.cid === 'c2');
    // an unmasked frame whose 16-bit length follows the header
    s.write(frame(1, JSON.stringify({ cid: 'c3', type: 'session.heartbeat', payload: { pad: 'y'.repeat(200) } }), false));
    await closedWith(s, 1002);
    assert.ok(!frames(s.buf).some((f) => f.op === 1 && JSON.parse(f.text).cid === 'c3'));
    assert.equal((await bystander.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    await bystander.ws.close();
  });

  it('frames sent before the 101 answer (RFC 6455 §4.1: the client must wait) close the connection with 1002', async () => {
    const s = await rawConnect(server.port);
    s.write(Buffer.concat([Buffer.from(upgradeRequest()), frame(1, JSON.stringify({ cid: 'e1', type: 'session.heartbeat', payload: {} }))]));
    await h.withTimeout(s.ended, 5000, 'server closing the connection');
    const text = s.buf.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 101 /);
    const close = frames(s.buf.subarray(s.buf.indexOf('\r\n\r\n') + 4)).find((f) => f.op === 8);
    assert.ok(close, 'a close frame');
    assert.equal(close.code, 1002);
    assert.match(close.reason, /before the handshake/);
  });

  it('the ws client library (masked, as every client must) still works after all that', async () => {
    const p = await h.authed(server);
    assert.equal((await p.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    await p.ws.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe('an Authorization header over 4096 bytes', () => {
  let server;
  before(async () => {
    server = await h.startServer({ env: serverEnv() });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  /** Raw HTTP/1.1 request; resolves with the whole answer once the server closes or answers with a body. */
  async function rawHttp(text) {
    const s = await rawConnect(server.port);
    s.write(text);
    const done = () => {
      const str = s.buf.toString('latin1');
      const end = str.indexOf('\r\n\r\n');
      if (end < 0) return false;
      const len = /content-length:\s*(\d+)/i.exec(str.slice(0, end));
      return len && str.length >= end + 4 + Number(len[1]);
    };
    await Promise.race([h.waitFor('an HTTP answer', done, 5000, 10), s.ended]);
    s.destroy();
    const str = s.buf.toString('latin1');
    const end = str.indexOf('\r\n\r\n');
    assert.ok(end > 0, `an HTTP answer, not a silent close (got ${JSON.stringify(str.slice(0, 200))})`);
    return { status: Number(str.slice(9, 12)), head: str.slice(0, end), body: str.slice(end + 4) };
  }

  for (const size of [4097, 5000, 12000, 60000]) {
    it(`GET /v1/account with ${size} bytes of Authorization: 431 with a JSON error`, async () => {
      const auth = `Bearer ${'a'.repeat(size - 7)}`;
      const r = await rawHttp(`GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: ${auth}\r\nUser-Agent: t\r\n\r\n`);
      assert.equal(r.status, 431, r.head);
      const body = JSON.parse(r.body);
      assert.equal(body.error.code, 'bad_request');
      assert.match(body.error.message, /Authorization header over 4096 bytes/);
    });
  }

  it('4096 bytes exactly is not refused for its size (401: not a valid token)', async () => {
    const r = await rawHttp(`GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(4096 - 7)}\r\n\r\n`);
    assert.equal(r.status, 401, r.head);
  });

  it('a POST with a body and a huge Authorization is answered 431 too (the body is read, the answer arrives)', async () => {
    const body = JSON.stringify({ device_id: 'big-auth-device' });
    const r = await rawHttp(`POST /v1/auth/device HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'b'.repeat(9000)}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    assert.equal(r.status, 431, r.head);
  });

  it('a WebSocket upgrade with a 6000-byte Authorization: 431, no upgrade', async () => {
    const r = await rawHttp(upgradeRequest(`Authorization: Bearer ${'c'.repeat(6000)}\r\n`));
    assert.equal(r.status, 431, r.head);
    assert.match(JSON.parse(r.body).error.message, /Authorization/);
  });

  it('headers over 8 KiB in all (not Authorization) still get no answer: the connection is closed (documented limit)', async () => {
    const s = await rawConnect(server.port);
    s.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ${'p'.repeat(9000)}\r\n\r\n`);
    await h.withTimeout(s.ended, 5000, 'server closing the connection');
    assert.equal(s.buf.length, 0);
  });

  it('the server is fine afterwards; the refusals are counted as bad_request', async () => {
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    const m = (await server.http('GET', '/metrics')).text;
    assert.ok(Number(/^moonbase_errors_total\{code="bad_request"\} (\d+)/m.exec(m)[1]) >= 6, m);
  });
});

// ---------------------------------------------------------------------------------------------
describe('JSON edge: a "\\u0000" in a member name', () => {
  it('is refused as invalid JSON (jansson cannot hold it), without a cid; NUL inside a string value is valid JSON', async () => {
    const server = await h.startServer({ env: serverEnv() });
    try {
      const p = await h.authed(server);
      const nulKey = 'invalid JSON: NUL byte in object key not supported';
      // a payload member named "\u0000": the whole message is invalid JSON for the server
      p.ws.sendRaw('{"cid":"z1","type":"session.heartbeat","payload":{"\\u0000":1}}');
      let r = await p.ws.next('error');
      assert.equal(r.payload.code, 'bad_request');
      assert.ok(r.payload.message.startsWith(nulKey), r.payload.message);
      assert.equal(r.cid, undefined); // the cid could not be read (docs/PROTOCOL.md §2)
      // an envelope member too
      p.ws.sendRaw('{"cid":"z2","type":"session.heartbeat","\\u0000":"x"}');
      r = await p.ws.next('error');
      assert.ok(r.payload.message.startsWith(nulKey), r.payload.message);
      // the socket stays usable; NUL inside a string value is valid JSON ...
      p.ws.sendRaw('{"cid":"z3","type":"session.heartbeat","payload":{"note":"a\\u0000b"}}');
      assert.equal((await p.ws.next((m) => m.cid === 'z3')).type, 'session.heartbeat');
      // ... and a declared string field refuses it by name
      p.ws.sendRaw('{"cid":"z4","type":"match.join","payload":{"match_id":"a\\u0000b"}}');
      r = await p.ws.next((m) => m.cid === 'z4');
      assert.equal(r.payload.message, "field 'match_id' must not contain NUL characters");
      // REST bodies: the same, as a 400
      const rest = await server.http('POST', '/v1/auth/device', '{"device_id":"abcdefgh","\\u0000":1}');
      assert.equal(rest.status, 400);
      assert.match(rest.json.error.message, /^invalid JSON body: NUL byte in object key not supported/);
      await p.ws.close();
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});

// ---------------------------------------------------------------------------------------------
describe('memory after 3,000 sessions close', () => {
  const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
  // glibc's malloc_trim does nothing for AddressSanitizer's own allocator: there only the trim is checked
  const sanitized = (pid) => /libasan|libclang_rt\.asan/.test(fs.readFileSync(`/proc/${pid}/maps`, 'utf8'));

  it('are returned to the kernel (malloc_trim once the closes stop): RSS back near the baseline', { timeout: 300000 }, async () => {
    const server = await h.startServer({ logLevel: 'info', env: serverEnv(), args: ['--auth-rate', '1000000'] });
    try {
      const tokens = [];
      for (let i = 0; i < 100; i++) {
        tokens.push((await server.http('POST', '/v1/auth/device', { device_id: `rss-${i}-${crypto.randomBytes(4).toString('hex')}` })).json.token);
      }
      const base = rssKb(server.pid);
      const N = 3000;
      const socks = [];
      for (let b = 0; b < N; b += 200) {
        await Promise.all(Array.from({ length: 200 }, async (_, i) => {
          const ws = await server.ws('/ws', { timeoutMs: 30000 });
          const r = await ws.request('session.connect', { token: tokens[(b + i) % tokens.length] }, { timeoutMs: 30000 });
          assert.equal(r.type, 'session.connected');
          socks.push(ws);
        }));
      }
      const peak = rssKb(server.pid);
      const from = server.logs().length;
      await Promise.all(socks.map((ws) => ws.close(1000, '', 30000)));
      await h.waitFor('every session closed', async () => /^moonbase_sessions 0$/m.test((await server.http('GET', '/metrics')).text), 30000);
      const closed = rssKb(server.pid);
      // 2 s without a close, then the trim (checked every second)
      const line = await server.waitForLog(/event=malloc_trim closed=\d+ released=\d+ us=\d+/, 10000, { from });
      assert.ok(Number(/closed=(\d+)/.exec(line)[1]) >= N, line);
      const after = rssKb(server.pid);
      log(`3,000 sessions: RSS baseline ${base} kB, open ${peak} kB (+${peak - base}), closed ${closed} kB (+${closed - base}), after malloc_trim ${after} kB (+${after - base}); ${line.replace(/^.*event=/, '')}`);
      if (!sanitized(server.pid)) assert.ok(after - base < 6 * 1024, `RSS still ${after - base} kB above the baseline after the trim`);
      // a second burst trims again (once per burst, not once per process)
      const again = [];
      for (let i = 0; i < 300; i++) again.push(server.ws('/ws', { timeoutMs: 30000 }));
      const more = await Promise.all(again);
      const from2 = server.logs().length;
      await Promise.all(more.map((ws) => ws.close(1000, '', 30000)));
      await server.waitForLog(/event=malloc_trim closed=3\d\d /, 10000, { from: from2 });
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
