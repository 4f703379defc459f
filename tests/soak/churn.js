#!/usr/bin/env node
'use strict';
// Fast auth churn against a running server, to see per-login memory in seconds instead of a soak
// hour (docs/PERFORMANCE.md, "Memory under churn"). Each cycle: POST /v1/auth/device -> socket ->
// session.connect -> chat.join + chat.send (7 rooms) -> heartbeat -> close -> POST
// /v1/auth/refresh -> POST /v1/rpc/echo with the token. Bounded: N cycles, then it exits.
//
//   node tests/soak/churn.js --port PORT [--n 3000] [--pool 0] [--concurrency 4]
//
// --pool 0: every cycle signs in a new account (device id); --pool K: K devices in turn.
// Prints the cycles done and the errors; exit 1 when any cycle failed. Start the server with
// --auth-rate 1000000 (the default 60 a minute per address refuses the rest).
const h = require('../integration/harness');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const PORT = Number(args.port);
const N = Number(args.n || 3000);
const POOL = Number(args.pool || 0);
const CONC = Number(args.concurrency || 4);
if (!PORT) {
  console.error('usage: churn.js --port PORT [--n 3000] [--pool 0] [--concurrency 4]');
  process.exit(2);
}
const http = (m, p, b, hd) => h.httpRequest(PORT, m, p, b, hd, { timeoutMs: 15000 });

(async () => {
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  let next = 0;
  let errors = 0;
  const fail = (what) => {
    if (++errors <= 3) console.error(`# error: ${String(what).slice(0, 200)}`);
  };
  async function cycle(i) {
    const r = await http('POST', '/v1/auth/device', { device_id: POOL ? `churn-pool-${i % POOL}` : `churn-${tag}-${i}` });
    if (r.status !== 200 && r.status !== 201) return fail(`auth ${r.status} ${r.text}`);
    const ws = await h.connectWs(`ws://127.0.0.1:${PORT}/ws`, { timeoutMs: 15000 });
    const c = await ws.request('session.connect', { token: r.json.token });
    if (c.type !== 'session.connected') fail(`session.connect ${JSON.stringify(c)}`);
    const room = `churn-${i % 7}`;
    await ws.request('chat.join', { channel_id: room });
    await ws.request('chat.send', { channel_id: room, content: `hello ${i}` });
    await ws.request('session.heartbeat', {});
    await ws.close(1000, '', 10000);
    const f = await http('POST', '/v1/auth/refresh', { refresh_token: r.json.refresh_token });
    if (f.status !== 200) fail(`refresh ${f.status} ${f.text}`);
    const q = await http('POST', '/v1/rpc/echo', { i }, { authorization: `Bearer ${r.json.token}` });
    if (q.status !== 200) fail(`rpc ${q.status} ${q.text}`);
  }
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (next < N) {
      const i = next++;
      await cycle(i).catch((e) => fail(e.message));
    }
  }));
  console.log(`churn: ${N} cycles, ${errors} errors`);
  process.exit(errors ? 1 : 0);
})();
