'use strict';
// Memory under churn (reliability round 2, item 8): every in-memory table keyed by player,
// session, token or address must return to its baseline when the players are gone, or stay under
// its bound. RSS is noisy; the table sizes are exact, so these tests read the
// moonbase_table_entries / moonbase_table_slots gauges of /metrics (runtime/metrics.h) instead.
// tools/soak.sh checks RSS itself over an hour.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const h = require('./harness');

const TOKEN_CACHE_MAX = 1024; // runtime/core.c

async function tables(server) {
  const r = await server.http('GET', '/metrics');
  assert.equal(r.status, 200);
  const out = {};
  for (const [, kind, name, n] of r.text.matchAll(/^moonbase_table_(entries|slots)\{table="([^"]+)"\} (\d+)$/gm)) {
    (out[name] ||= {})[kind] = Number(n);
  }
  return out;
}

/** POST /v1/auth/device from a given loopback source address (127.0.0.0/8 is all local). */
function authFrom(port, localAddress, deviceId) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify({ device_id: deviceId });
    const req = http.request(
      { host: '127.0.0.1', port, localAddress, method: 'POST', path: '/v1/auth/device', agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      }
    );
    req.setTimeout(10000, () => req.destroy(new Error('auth timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

describe('memory bounds under churn', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--auth-rate', '1000000'], logLevel: 'info' });
  });
  after(() => server && server.stop());

  it('new accounts sign in, connect, chat, refresh, call an RPC and leave: every table returns to its baseline, the token cache stays at its bound', async () => {
    const base = await tables(server);
    for (const name of ['token_cache', 'sessions', 'session_players', 'presence_players', 'chat_members', 'chat_channels',
      'chat_rate_buckets', 'auth_ip_buckets', 'peer_addresses', 'pending_connections', 'matches', 'match_players']) {
      assert.ok(base[name], `table ${name} is exposed in /metrics`);
    }
    const N = TOKEN_CACHE_MAX + 126; // more distinct tokens than the cache holds
    const tag = Date.now().toString(36);
    let next = 0;
    let maxSessions = 0;
    const one = async (i) => {
      const r = await server.http('POST', '/v1/auth/device', { device_id: `churn-${tag}-${i}` });
      assert.ok(r.status === 200 || r.status === 201, `auth ${r.status} ${r.text}`);
      const ws = await server.ws();
      const c = await ws.request('session.connect', { token: r.json.token });
      assert.equal(c.type, 'session.connected');
      const room = `churn-${i % 5}`;
      assert.equal((await ws.request('chat.join', { channel_id: room })).type, 'chat.joined');
      const sent = await ws.request('chat.send', { channel_id: room, content: `hello ${i}` });
      assert.notEqual(sent.type, 'error', JSON.stringify(sent.payload));
      await ws.close(1000);
      const f = await server.http('POST', '/v1/auth/refresh', { refresh_token: r.json.refresh_token });
      assert.equal(f.status, 200, f.text);
      const q = await server.http('POST', '/v1/rpc/echo', { i }, { authorization: `Bearer ${r.json.token}` });
      assert.equal(q.status, 200, q.text);
    };
    const worker = async () => {
      while (next < N) {
        const i = next++;
        await one(i);
        if (i % 200 === 0) {
          const t = await tables(server);
          maxSessions = Math.max(maxSessions, t.sessions.entries);
          assert.ok(t.token_cache.entries <= TOKEN_CACHE_MAX, `token cache ${t.token_cache.entries} > ${TOKEN_CACHE_MAX}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));

    // Presence keeps a player for a 2 s reconnect grace after the last socket: wait for it.
    const end = await h.waitFor('tables back to their baseline', async () => {
      const t = await tables(server);
      return t.presence_players.entries === base.presence_players.entries && t.sessions.entries === base.sessions.entries ? t : null;
    }, 15000);

    // The token cache holds the most recent tokens, never more than its bound.
    assert.equal(end.token_cache.entries, TOKEN_CACHE_MAX);
    assert.ok(end.token_cache.slots <= 4 * TOKEN_CACHE_MAX, `token cache slots ${end.token_cache.slots}`);
    // Every other table is back where it started (the /metrics request itself is one connection).
    for (const [name, t] of Object.entries(end)) {
      if (name === 'token_cache') continue;
      const b = base[name] ? base[name].entries : 0;
      // the test's own address (127.0.0.1) and the /metrics request's connection
      const slack = ['peer_addresses', 'pending_connections', 'auth_ip_buckets'].includes(name) ? 1 : 0;
      assert.ok(t.entries <= b + slack, `table ${name}: ${t.entries} entries after the churn, ${b} before`);
    }
    // Keys that came and went (N sessions, N players, N chat memberships, at most 6 at a time)
    // must not have grown the slot arrays: their size follows the live entries, not the number
    // of keys ever inserted (it used to double on every rehash of tombstones).
    for (const name of ['sessions', 'session_players', 'chat_members', 'chat_rate_buckets', 'chat_channels', 'peer_addresses']) {
      assert.ok(end[name].slots <= 64, `table ${name}: ${end[name].slots} slots after ${N} keys came and went (live at most ${maxSessions + 6})`);
    }
  });

  it('a token seen once is forgotten when it expires', async () => {
    const s2 = await h.startServer({ args: ['--token-ttl', '10'] });
    try {
      const players = [];
      for (let i = 0; i < 5; i++) players.push(await h.authed(s2));
      const t = await tables(s2);
      assert.equal(t.token_cache.entries, 5);
      // expired after 10 s; the sweep runs every 5 s
      await h.waitFor('expired tokens swept', async () => (await tables(s2)).token_cache.entries === 0, 25000, 500);
      // and an expired token is refused, not served from anywhere
      const ws = await s2.ws();
      const r = await ws.request('session.connect', { token: players[0].token });
      assert.equal(r.type, 'error');
      assert.equal(r.payload.code, 'unauthorized');
      for (const p of players) await p.ws.close();
      await ws.close();
    } finally {
      await s2.stop();
    }
  });

  it('auth rate-limit buckets of addresses that went quiet are forgotten', async () => {
    const s3 = await h.startServer({ args: ['--auth-rate', '60'] }); // a token a second, burst 60
    try {
      // 20 addresses sign in once each: 20 buckets, each full again one second later
      for (let i = 2; i < 22; i++) assert.equal(await authFrom(s3.port, `127.0.0.${i}`, `device-quiet-${i}`), 201); // created
      assert.equal((await tables(s3)).auth_ip_buckets.entries, 20);
      // The table is swept (at most every 10 s) when a new address arrives: keep new addresses
      // coming until the 20 quiet ones are gone; what is left is the recent newcomers only.
      let n = 0;
      await h.waitFor('quiet addresses forgotten', async () => {
        assert.equal(await authFrom(s3.port, `127.0.2.${++n}`, `device-late-${n}`), 201);
        return (await tables(s3)).auth_ip_buckets.entries <= Math.min(n, 3);
      }, 30000, 1000);
    } finally {
      await s3.stop();
    }
  });
});
