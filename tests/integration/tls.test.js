'use strict';
// TLS served by the server itself (--tls-cert / --tls-key; issue "Reliability round 2", item 7).
// A CA and certificates are made in the test with the openssl CLI. Asserted: wss:// and https://
// work for a client that trusts the test CA and fail for one that does not; SIGHUP after the
// files were replaced gives new connections the new certificate (its serial) while a connection
// made before stays up and served; bad files at SIGHUP keep the previous certificate and log
// tls_reload_failed; bad paths at start-up stop the server with a clear error and a non-zero
// exit; the unmasked-frame check (1002) works over TLS too.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const tls = require('node:tls');
const h = require('./harness');
const { makeCa, httpsRequest } = require('./tls_certs');

const WebSocket = require('ws');
const serverEnv = () => ({ ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=8` });


/** A wss:// connection: {ws, serial, request(type, payload)}. */
function wss(port, ca) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca, servername: 'localhost', handshakeTimeout: 10000 });
    const pending = new Map();
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.cid && pending.has(m.cid)) {
        pending.get(m.cid)(m);
        pending.delete(m.cid);
      }
    });
    ws.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.on('error', reject);
    ws.on('open', () => resolve({
      ws,
      serial: ws._socket.getPeerCertificate().serialNumber,
      request(type, payload = {}) {
        const cid = crypto.randomBytes(6).toString('hex');
        return h.withTimeout(new Promise((res) => {
          pending.set(cid, res);
          ws.send(JSON.stringify({ cid, type, payload }));
        }), 5000, `reply to ${type}`);
      },
    }));
  });
}

describe('TLS: --tls-cert / --tls-key', () => {
  let server;
  let pki;
  let files; // the paths the server was started with
  before(async () => {
    pki = makeCa();
    const first = pki.issue('first', '1001');
    files = { cert: `${pki.dir}/live.pem`, key: `${pki.dir}/live.key` };
    fs.copyFileSync(first.cert, files.cert);
    fs.copyFileSync(first.key, files.key);
    server = await h.startServer({ env: serverEnv(), waitHealthy: false, args: ['--tls-cert', files.cert, '--tls-key', files.key] });
    await server.waitForLog(/event=tls_certificate serial=1001 /);
    await h.waitFor('/healthz over https', async () => (await httpsRequest(server.port, 'GET', '/healthz', { ca: pki.ca }).catch(() => ({}))).status === 200, 30000);
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  let old; // a wss connection made before the certificate is replaced
  it('REST over https and a session over wss:// for a client trusting the test CA', async () => {
    const r = await httpsRequest(server.port, 'POST', '/v1/auth/device', { ca: pki.ca, body: { device_id: `tls-${crypto.randomBytes(4).toString('hex')}` } });
    assert.ok([200, 201].includes(r.status), r.text);
    assert.equal(r.serial, '1001');
    old = await wss(server.port, pki.ca);
    assert.equal(old.serial, '1001');
    const c = await old.request('session.connect', { token: r.json.token });
    assert.equal(c.type, 'session.connected', JSON.stringify(c));
    assert.equal((await old.request('session.heartbeat')).type, 'session.heartbeat');
  });

  it('a client that does not trust the CA is refused by its own TLS check (it is real TLS)', async () => {
    await assert.rejects(httpsRequest(server.port, 'GET', '/healthz', {}), /self[- ]signed|unable to get local issuer|certificate/i);
    await assert.rejects(wss(server.port, undefined), /self[- ]signed|unable to get local issuer|certificate/i);
    // and plain HTTP on the TLS port gets no HTTP answer
    await assert.rejects(server.http('GET', '/healthz', undefined, {}, { timeoutMs: 3000 }));
  });

  it('SIGHUP after replacing the files: new connections get the new certificate, the old connection stays up', async () => {
    const second = pki.issue('second', '2002');
    fs.copyFileSync(second.cert, files.cert);
    fs.copyFileSync(second.key, files.key);
    const from = server.logs().length;
    process.kill(server.pid, 'SIGHUP');
    await server.waitForLog(/event=tls_reloaded serial=2002 /, 5000, { from });
    const fresh = await wss(server.port, pki.ca);
    assert.equal(fresh.serial, '2002');
    assert.equal((await httpsRequest(server.port, 'GET', '/healthz', { ca: pki.ca })).serial, '2002');
    // the connection made with the first certificate is still open and served
    assert.equal(old.ws.readyState, WebSocket.OPEN);
    assert.equal((await old.request('session.heartbeat')).type, 'session.heartbeat');
    fresh.ws.close();
  });

  it('bad files at SIGHUP (garbage, a key of another certificate, a missing file) keep the current certificate and log an error', async () => {
    const other = pki.issue('other', '3003');
    const cases = [
      ['garbage certificate', () => fs.writeFileSync(files.cert, 'not a certificate\n'), /certificate .*live\.pem/],
      ['key of another certificate', () => {
        fs.copyFileSync(other.cert, files.cert); // the key file still holds the 2002 key
      }, /key .*live\.key: .*key values mismatch/],
      ['missing key', () => fs.rmSync(files.key), /key .*live\.key/],
    ];
    const keep2002 = fs.readFileSync(`${pki.dir}/second.key`);
    for (const [what, breakIt, re] of cases) {
      breakIt();
      const from = server.logs().length;
      process.kill(server.pid, 'SIGHUP');
      const line = await server.waitForLog(/event=tls_reload_failed /, 5000, { from });
      assert.match(line, re, what);
      assert.match(line, /keeping the previous certificate/);
      assert.equal((await httpsRequest(server.port, 'GET', '/healthz', { ca: pki.ca })).serial, '2002', what);
      // restore the 2002 pair for the next case
      fs.copyFileSync(`${pki.dir}/second.pem`, files.cert);
      fs.writeFileSync(files.key, keep2002);
    }
    assert.equal((await old.request('session.heartbeat')).type, 'session.heartbeat');
  });

  it('an unmasked frame over TLS closes with 1002 too', async () => {
    const s = tls.connect({ host: '127.0.0.1', port: server.port, ca: pki.ca, servername: 'localhost' });
    let buf = Buffer.alloc(0);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
    });
    s.on('error', () => {});
    const ended = new Promise((res) => s.once('close', res));
    await new Promise((res) => s.once('secureConnect', res));
    s.write(`GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await h.waitFor('101', () => buf.indexOf('\r\n\r\n') >= 0, 5000, 10);
    assert.match(buf.toString('latin1'), /^HTTP\/1\.1 101 /);
    buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
    const payload = Buffer.from('{"type":"session.heartbeat"}');
    s.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload])); // no mask bit, no key
    await h.withTimeout(ended, 5000, 'server closing the connection');
    assert.equal(buf[0], 0x88, `a close frame (got ${buf.toString('hex')})`);
    assert.equal(buf.readUInt16BE(2), 1002);
  });

  it('closing: the old session ends normally', async () => {
    old.ws.close(1000);
    assert.equal((await h.withTimeout(old.ws.closed, 5000, 'close')).code, 1000);
  });
});

describe('TLS: bad configuration at start-up', () => {
  async function startFails(args, re) {
    let server;
    try {
      server = await h.startServer({ env: serverEnv(), waitHealthy: false, args, startTimeoutMs: 20000 });
    } catch (e) {
      assert.match(e.message, re);
      assert.match(e.message, /server exited \(code [12]\)/);
      return;
    }
    await server.stop();
    assert.fail('the server started');
  }

  it('a missing certificate file: a clear error, exit code 1', async () => {
    await startFails(['--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], /event=tls_config_invalid error="certificate \/nonexistent\/cert\.pem: .*(No such file|no such file|system lib)/);
  });

  it('a key that does not belong to the certificate: a clear error, exit code 1', async () => {
    const pki = makeCa();
    const a = pki.issue('a', '0a');
    const b = pki.issue('b', '0b');
    await startFails(['--tls-cert', a.cert, '--tls-key', b.key], /tls_config_invalid error="key .*b\.key: .*key values mismatch/);
  });

  it('--tls-cert without --tls-key: refused before anything starts, exit code 2', async () => {
    await startFails(['--tls-cert', '/x.pem'], /options tls-cert and tls-key go together/);
  });
});
