'use strict';
// IPv6 listening (issue "Reliability round 2", item 7): --host ::1 serves on IPv6 loopback only;
// --host :: serves IPv6 and IPv4 (dual stack); --host 127.0.0.1 stays IPv4 only. This machine
// must have IPv6 on loopback: if it does not, the first test fails and says so (no silent skip).
const { describe, it, before } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const h = require('./harness');

const serverEnv = () => ({ ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || 'detect_leaks=1'}:quarantine_size_mb=8` });

/** Can a TCP connection to host:port be made? */
const reachable = (host, port) =>
  new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(false);
    });
  });

async function start(host) {
  const server = await h.startServer({ env: serverEnv(), waitHealthy: false, args: ['--host', host] });
  const probe = host === '127.0.0.1' ? '127.0.0.1' : '::1';
  await h.waitFor(`/healthz on ${probe}`, async () => (await h.httpRequest(server.port, 'GET', '/healthz', undefined, {}, { host: probe }).catch(() => ({}))).status === 200, 30000);
  return server;
}

/** REST and a WebSocket session over `host` (an address literal). */
async function session(server, host) {
  const url = host.includes(':') ? `[${host}]` : host;
  const r = await h.httpRequest(server.port, 'POST', '/v1/auth/device', { device_id: `v6-${Date.now()}-${Math.random()}` }, {}, { host });
  assert.ok([200, 201].includes(r.status), r.text);
  const ws = await h.connectWs(`ws://${url}:${server.port}/ws`);
  assert.equal((await ws.request('session.connect', { token: r.json.token })).type, 'session.connected');
  assert.equal((await ws.request('session.heartbeat', {})).type, 'session.heartbeat');
  await ws.close();
}

describe('IPv6', () => {
  before(async () => {
    // IPv6 loopback must exist on this machine (a kernel with IPv6 off fails here, loudly)
    const probe = net.createServer();
    await new Promise((resolve, reject) => {
      probe.once('error', (e) => reject(new Error(`this machine cannot listen on ::1 (${e.code}): IPv6 is unavailable, the IPv6 tests cannot run`)));
      probe.listen(0, '::1', resolve);
    });
    probe.close();
  });

  it('--host ::1: REST and WebSocket over [::1]; nothing on 127.0.0.1', async () => {
    const server = await start('::1');
    try {
      await server.waitForLog(/event=listening host=::1 /);
      await session(server, '::1');
      assert.equal(await reachable('127.0.0.1', server.port), false, 'IPv4 connection accepted by a ::1 listener');
      // the peer address the server sees (rate limits, logs) is the IPv6 one
      await server.waitForLog(/event=session_open session=\d+ ip=::1\b/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('--host :: is dual stack: the same port serves ::1 and 127.0.0.1', async () => {
    const server = await start('::');
    try {
      await session(server, '::1');
      await session(server, '127.0.0.1');
      // an IPv4 client of a dual-stack socket appears as an IPv4-mapped address
      await server.waitForLog(/event=session_open session=\d+ ip=::ffff:127\.0\.0\.1\b/);
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });

  it('--host 127.0.0.1 (the default) listens on IPv4 only', async () => {
    const server = await start('127.0.0.1');
    try {
      await session(server, '127.0.0.1');
      assert.equal(await reachable('::1', server.port), false, 'IPv6 connection accepted by a 127.0.0.1 listener');
    } finally {
      assert.equal(await server.stop(), 0);
    }
  });
});
