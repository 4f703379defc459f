#!/usr/bin/env node
'use strict';
// Chat and presence fan-out against the real server (docs/SOCIAL.md "Performance").
//
//   node tests/bench/bench_chat.js [--only chat|presence] [--members 5000] [--rate 100]
//        [--duration 10] [--senders 20] [--players 1000] [--friends 100] [--workers 2] [--nodes 1]
//
// --nodes N (chat only): a cluster (docs/CLUSTER.md): a private redis-server and N nodes; the
// senders are on node 1, the receiving sockets spread evenly over all nodes (one worker per
// node at least); server CPU is the sum over the nodes. tools/bench.sh cluster runs it.
//
// Needs MOONBASE_TEST_DATABASE_URL (a PostgreSQL superuser URL; tools/test.sh bench and
// tools/pg.sh provide one) and MOONBASE_BIN (default build/moonbase). Starts its own server on
// 127.0.0.1 (loopback only), creates its own database, stops everything and exits by itself
// (a watchdog ends it after 5 minutes whatever happens).
//
// chat:     `members` sockets (distinct players) join one channel; `senders` of them send
//           `rate` messages per second in total for `duration` seconds. Reported: server CPU
//           (from /proc/<pid>/stat), messages committed and delivered, and delivery latency
//           p50/p99/max (chat.send written by the sender -> chat.message read by a member),
//           sampled on every 10th socket. Receiving sockets live in worker threads.
// presence: `players` players, each with `friends` friends (a ring: i +- 1..friends/2),
//           rows written with SQL. (1) all connect: each online goes to the friends already
//           online; (2) all drop and reconnect at once, inside the reconnect grace: friends
//           must see nothing; (3) all go offline for longer than the grace, then reconnect
//           at once. Reported per wave: duration, presence.changed frames, server CPU,
//           latency p50/p99 (session.connect sent -> presence.changed read by a friend).
//
// The client shares the machine's cores with the server: on a small machine the latency
// figures include the time this client takes to read 500,000 frames per second.
const { isMainThread, Worker, parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');

const WS = require('ws');

const JWT_SECRET = 'bench-chat-secret-0123456789abcdef-0123456789abcdef';
const nowUs = () => Number(process.hrtime.bigint() / 1000n); // monotonic, shared by all threads

const token = (playerId, username) => h.playerToken(JWT_SECRET, playerId, username);

/** Open a socket, session.connect, then optionally chat.join; resolves with the socket. */
function connect(url, tok, channel, onMessage, onOpen) {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, { perMessageDeflate: false, skipUTF8Validation: true });
    let step = 0;
    const timer = setTimeout(() => reject(new Error('connect timed out')), 30000);
    ws.on('open', () => {
      if (onOpen) onOpen();
      ws.send(JSON.stringify({ cid: 'c', type: 'session.connect', payload: { token: tok } }));
    });
    ws.on('error', (e) => reject(e));
    ws.on('message', (data) => {
      if (step === 0) {
        if (!data.toString().includes('session.connected')) return reject(new Error(`connect: ${data}`));
        step = 1;
        if (!channel) {
          clearTimeout(timer);
          resolve(ws);
          return;
        }
        ws.send(JSON.stringify({ cid: 'j', type: 'chat.join', payload: { channel_id: channel } }));
      } else if (step === 1 && data.includes('"cid":"j"')) {
        step = 2;
        clearTimeout(timer);
        resolve(ws);
      } else onMessage(data);
    });
  });
}

async function pool(items, n, fn) {
  let i = 0;
  const run = async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  };
  await Promise.all(Array.from({ length: n }, run));
}

// ------------------------------------------------------------------------------- worker thread
if (!isMainThread) {
  const { url, channel, tokens, sampleEvery, base } = workerData;
  const sockets = [];
  let received = 0;
  let any = 0; // every chat.message, for progress
  let since = 0; // count messages sent at or after this time (us)
  let samples = new Float64Array(1 << 20);
  let nsamples = 0;
  let closed = 0;
  const MARK = Buffer.from('"content":"b:');
  const onMessageFor = (sample) => (data) => {
    any++;
    const i = data.indexOf(MARK);
    if (i < 0) return;
    let v = 0;
    for (let k = i + MARK.length; k < data.length; k++) {
      const c = data[k];
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
    }
    if (v < since) return;
    received++;
    if (!sample) return;
    if (nsamples === samples.length) {
      const bigger = new Float64Array(samples.length * 2);
      bigger.set(samples);
      samples = bigger;
    }
    samples[nsamples++] = (nowUs() - v) / 1000;
  };
  parentPort.on('message', async (msg) => {
    if (msg.cmd === 'connect') {
      await pool(tokens, 100, async (tok, k) => {
        const ws = await connect(url, tok, channel, onMessageFor((base + k) % sampleEvery === 0));
        ws.on('close', () => closed++);
        sockets.push(ws);
      });
      parentPort.postMessage({ ev: 'connected', n: sockets.length });
    } else if (msg.cmd === 'reset') {
      received = 0;
      since = msg.since;
      nsamples = 0;
      parentPort.postMessage({ ev: 'reset' });
    } else if (msg.cmd === 'report') {
      const out = samples.slice(0, nsamples);
      parentPort.postMessage({ ev: 'report', received, any, closed, samples: out }, [out.buffer]);
    } else if (msg.cmd === 'close') {
      for (const ws of sockets) ws.terminate();
      parentPort.postMessage({ ev: 'closed' });
    }
  });
  return;
}

// --------------------------------------------------------------------------------- main thread
const h = require(path.join(__dirname, '..', 'integration', 'harness.js'));

function parseArgs() {
  const o = { only: null, members: 5000, rate: 100, duration: 10, senders: 20, players: 1000, friends: 100, workers: 2, nodes: 1 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o)) throw new Error(`unknown option ${a[i]} (see the header of ${__filename})`);
    o[k] = k === 'only' ? a[++i] : Number(a[++i]);
  }
  return o;
}

let clkTck = 100;
try {
  clkTck = Number(execSync('getconf CLK_TCK').toString().trim()) || 100;
} catch {
  /* keep 100 */
}
function cpuTicks(pid) {
  if (Array.isArray(pid)) return pid.reduce((a, p) => a + cpuTicks(p), 0); // a cluster: every node
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function cpuMeter(pid) {
  const t0 = cpuTicks(pid);
  const w0 = Date.now();
  const c0 = process.cpuUsage();
  return () => {
    const wall = (Date.now() - w0) / 1000;
    const c = process.cpuUsage(c0);
    return { wall, server: (cpuTicks(pid) - t0) / clkTck / wall, client: (c.user + c.system) / 1e6 / wall };
  };
}
function pct(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
const f2 = (x) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');

function uuidOf(prefix, i) {
  return `${prefix}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

async function benchChat(server, o) {
  const channel = 'bench-lobby';
  const n = o.members;
  const senders = Math.min(o.senders, n);
  console.log(`\n== chat fan-out: ${n} sockets in one channel, ${o.rate} msg/s from ${senders} senders, ${o.duration} s`);
  // members are distinct players with locally signed tokens
  const tokens = Array.from({ length: n }, (_, i) => token(uuidOf('cccccccc', i), `chat_${i}`));
  // senders need account rows: a message whose sender has none is dropped (deleted accounts,
  // migrations/0006_account_lifecycle.sql)
  await h.sql(
    `INSERT INTO accounts (id, username) SELECT ('cccccccc-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'chat_' || i
     FROM generate_series(0, ${senders - 1}) i ON CONFLICT DO NOTHING`,
    { database: decodeURIComponent(new URL(server.databaseUrl).pathname.slice(1)) }
  );
  const senderTokens = tokens.slice(0, senders);
  const rest = tokens.slice(senders);
  const t0 = Date.now();
  const workers = [];
  const nodes = o.servers || [server];
  const nWorkers = Math.max(o.workers, nodes.length);
  const per = Math.ceil(rest.length / nWorkers);
  const waitFor = (w, ev) => new Promise((resolve) => {
    const on = (m) => {
      if (m.ev === ev) {
        w.off('message', on);
        resolve(m);
      }
    };
    w.on('message', on);
  });
  for (let k = 0; k < nWorkers; k++) {
    const part = rest.slice(k * per, (k + 1) * per);
    if (!part.length) continue;
    const url = nodes[k % nodes.length].wsUrl;
    const w = new Worker(__filename, { workerData: { url, channel, tokens: part, sampleEvery: 10, base: k * per } });
    workers.push(w);
  }
  await Promise.all(workers.map((w) => {
    const p = waitFor(w, 'connected');
    w.postMessage({ cmd: 'connect' });
    return p;
  }));
  const senderSockets = [];
  let windowStart = Infinity; // set when measuring starts
  const pending = new Map(); // cid -> send time (us)
  let acked = 0;
  let refused = 0;
  const ackLat = [];
  for (let i = 0; i < senders; i++) {
    const ws = await connect(server.wsUrl, senderTokens[i], channel, (data) => {
      const s = data.toString();
      if (!s.startsWith('{"cid":"m')) return;
      const cid = /^\{"cid":"(m\d+)"/.exec(s)[1];
      const t = pending.get(cid);
      pending.delete(cid);
      if (t === undefined || t < windowStart) return;
      if (s.includes('"type":"chat.message"')) {
        acked++;
        ackLat.push((nowUs() - t) / 1000);
      } else refused++;
    });
    senderSockets.push(ws);
  }
  console.log(`connected and joined: ${n} sockets in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  // warm up one second, then measure
  let seq = 0;
  let running = true;
  let measuring = false;
  let sentInWindow = 0;
  const interval = 10; // ms
  let due = 0;
  let last = Date.now();
  const tick = setInterval(() => {
    if (!running) return;
    const now = Date.now();
    due += ((now - last) / 1000) * o.rate;
    last = now;
    while (due >= 1) {
      due -= 1;
      const ws = senderSockets[seq % senders];
      const cid = `m${seq++}`;
      const t = nowUs();
      pending.set(cid, t);
      ws.send(`{"cid":"${cid}","type":"chat.send","payload":{"channel_id":"${channel}","content":"b:${t}"}}`);
      if (measuring) sentInWindow++;
    }
  }, interval);
  await h.sleep(1500); // warm-up on purpose: the load runs 1.5 s before the measured window
  windowStart = nowUs();
  measuring = true;
  await Promise.all(workers.map((w) => {
    const p = waitFor(w, 'reset');
    w.postMessage({ cmd: 'reset', since: windowStart });
    return p;
  }));
  const meter = cpuMeter(nodes.length > 1 ? nodes.map((x) => x.pid) : server.pid);
  await h.sleep(o.duration * 1000); // the measured window (a fixed time on purpose)
  measuring = false;
  running = false;
  clearInterval(tick);
  const cpu = meter();
  const report = () => Promise.all(workers.map((w) => {
    const p = waitFor(w, 'report');
    w.postMessage({ cmd: 'report' });
    return p;
  }));
  // wait for the backlog to drain: until every acknowledged message reached every receiver, or
  // nothing arrived for 3 s, or 90 s passed
  const drainStart = Date.now();
  let reports;
  let lastTotal = -1;
  let lastChange = Date.now();
  for (;;) {
    await h.sleep(500);
    reports = await report();
    const total = reports.reduce((a, r) => a + r.received, 0);
    const progress = reports.reduce((a, r) => a + r.any, 0);
    if (progress !== lastTotal) {
      lastTotal = progress;
      lastChange = Date.now();
    }
    if (total >= acked * rest.length && !pending.size || Date.now() - lastChange > 3000 || Date.now() - drainStart > 90000) break;
  }
  const drainMs = Date.now() - drainStart;
  const total = meter(); // sending + draining
  let received = 0;
  let closed = 0;
  let all = [];
  for (const r of reports) {
    received += r.received;
    closed += r.closed;
    all.push(r.samples);
  }
  const lat = Float64Array.from(all.flatMap((a) => Array.from(a))).sort();
  ackLat.sort((x, y) => x - y);
  const receivers = rest.length;
  const metrics = (await server.http('GET', '/metrics')).text;
  const commits = Number((/^moonbase_chat_commits_total (\d+)/m.exec(metrics) || [])[1]);
  const committed = Number((/^moonbase_chat_messages_total (\d+)/m.exec(metrics) || [])[1]);
  console.log(`sent ${sentInWindow} in ${cpu.wall.toFixed(1)} s (${f1(sentInWindow / cpu.wall)} msg/s), acknowledged ${acked}, refused ${refused}`);
  console.log(`delivered ${received} chat.message to ${receivers} receiving sockets (expected ${acked * receivers}; ` +
    `${f1((100 * received) / Math.max(1, acked * receivers))}%); sockets closed: ${closed}`);
  console.log(`server CPU ${f1(cpu.server * 100)}% of one core while sending (this client ${f1(cpu.client * 100)}%); ` +
    `the last frame arrived ${(drainMs / 1000).toFixed(1)} s after the last send`);
  const cpuSec = total.server * total.wall;
  console.log(`throughput ${f1(received / total.wall)} frames/s over ${total.wall.toFixed(1)} s; server ${cpuSec.toFixed(2)} CPU-s in all = ` +
    `${f2((cpuSec * 1e6) / Math.max(1, received + acked))} us per delivered frame`);
  console.log(`delivery latency (${lat.length} samples): p50 ${f2(pct(lat, 0.5))} ms, p99 ${f2(pct(lat, 0.99))} ms, max ${f2(lat[lat.length - 1])} ms`);
  console.log(`sender ack latency (commit + reply): p50 ${f2(pct(ackLat, 0.5))} ms, p99 ${f2(pct(ackLat, 0.99))} ms`);
  console.log(`group commits: ${committed} messages in ${commits} INSERTs since start`);
  for (const ws of senderSockets) ws.terminate();
  await Promise.all(workers.map((w) => {
    const p = waitFor(w, 'closed');
    w.postMessage({ cmd: 'close' });
    return p;
  }));
  await Promise.all(workers.map((w) => w.terminate()));
  return { cpu: cpu.server, p50: pct(lat, 0.5), p99: pct(lat, 0.99), delivered: received / Math.max(1, acked * receivers), closed };
}

async function benchPresence(server, o) {
  const n = o.players;
  const half = Math.floor(o.friends / 2);
  console.log(`\n== presence fan-out: ${n} players with ${2 * half} friends each`);
  const db = decodeURIComponent(new URL(server.databaseUrl).pathname.slice(1));
  const ids = Array.from({ length: n }, (_, i) => uuidOf('dddddddd', i));
  await h.sql(
    `INSERT INTO accounts (id, username) SELECT ('dddddddd-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'presence_' || i FROM generate_series(0, ${n - 1}) i;
     INSERT INTO friendships (player_id, other_id, state)
       SELECT ('dddddddd-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
              ('dddddddd-0000-4000-8000-' || lpad(to_hex((i + d + ${n}) % ${n}), 12, '0'))::uuid, 'friend'
       FROM generate_series(0, ${n - 1}) i, generate_series(-${half}, ${half}) d WHERE d <> 0;`,
    { database: db }
  );
  const index = new Map(ids.map((id, i) => [id, i]));
  const tokens = ids.map((id, i) => token(id, `presence_${i}`));
  const sentAt = new Float64Array(n); // when player i sent session.connect (us)
  let frames = 0;
  let lastFrame = 0;
  const lat = [];
  const sockets = new Array(n);
  const onMessage = (data) => {
    const s = data.toString();
    if (!s.includes('"presence.changed"')) return;
    frames++;
    lastFrame = nowUs();
    const m = /"player_id":"([0-9a-f-]{36})","status":"online"/.exec(s);
    if (m) lat.push((lastFrame - sentAt[index.get(m[1])]) / 1000);
  };
  async function wave(name, expectFrames) {
    frames = 0;
    lat.length = 0;
    const meter = cpuMeter(server.pid);
    const t0 = nowUs();
    await pool(ids, 200, async (id, i) => {
      sockets[i] = await connect(server.wsUrl, tokens[i], null, onMessage, () => {
        sentAt[i] = nowUs();
      });
    });
    const connectedMs = (nowUs() - t0) / 1000;
    // wait until presence traffic has been quiet for 500 ms (or 30 s at most)
    const deadline = Date.now() + 30000;
    for (;;) {
      await h.sleep(100);
      if ((frames && nowUs() - lastFrame > 500000) || Date.now() > deadline || (!expectFrames && nowUs() - t0 > 1500000)) break;
    }
    const cpu = meter();
    lat.sort((x, y) => x - y);
    const spanMs = frames ? (lastFrame - t0) / 1000 : connectedMs;
    console.log(`${name}: ${n} connected in ${connectedMs.toFixed(0)} ms; ${frames} presence.changed in ${spanMs.toFixed(0)} ms; ` +
      `server CPU ${f1(cpu.server * 100)}% over ${cpu.wall.toFixed(1)} s` +
      (lat.length ? `; latency p50 ${f2(pct(lat, 0.5))} ms, p99 ${f2(pct(lat, 0.99))} ms` : ''));
    return { frames, spanMs, doneUs: t0 + connectedMs * 1000, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
  }
  const closeAll = () => Promise.all(sockets.map((ws) => new Promise((resolve) => {
    ws.once('close', resolve);
    ws.close();
  })));
  const first = await wave('(1) everyone connects', true);
  const dropUs = nowUs();
  await closeAll();
  const blip = await wave('(2) everyone drops and reconnects inside the grace', false);
  // only a real check when the whole drop + reconnect fit in the 2 s grace (a busy machine may not)
  blip.inGrace = blip.doneUs - dropUs < 1900000;
  if (!blip.inGrace) console.log(`    (drop + reconnect took ${((blip.doneUs - dropUs) / 1000).toFixed(0)} ms, longer than the grace: not checked)`);
  await closeAll();
  // past the 2 s grace: everyone offline (the gauge counts players in the grace too)
  await h.waitFor('moonbase_presence_online 0', async () =>
    /^moonbase_presence_online 0$/m.test((await server.http('GET', '/metrics')).text), 30000, 100);
  const cold = await wave('(3) everyone reconnects after being offline', true);
  await closeAll();
  return { first, blip, cold };
}

async function main() {
  const o = parseArgs();
  const watchdog = setTimeout(() => {
    console.error('bench_chat: watchdog: still running after 5 minutes, giving up');
    process.exit(2);
  }, 5 * 60 * 1000);
  watchdog.unref();
  if (!process.env.MOONBASE_BIN) process.env.MOONBASE_BIN = path.join(h.REPO_ROOT, 'build', 'moonbase');
  const serverArgs = ['--jwt-secret', JWT_SECRET, '--chat-rate', '10000', '--msg-rate', '10000', '--msg-burst', '10000',
    '--max-connections', '19000', '--token-ttl', '3600', '--idle-timeout-ms', '600000'];
  let server;
  let redis = null;
  if (o.nodes > 1) {
    if (o.only !== 'chat') throw new Error('--nodes N needs --only chat');
    const ch = require(path.join(__dirname, '..', 'cluster', 'cluster_harness.js'));
    redis = await ch.startRedis();
    const databaseUrl = await h.createDatabase();
    o.servers = [];
    for (let i = 1; i <= o.nodes; i++) {
      o.servers.push(await h.startServer({ logLevel: 'info', name: `bench_chat-node${i}`, databaseUrl,
        args: [...serverArgs, '--redis-url', redis.url, '--node-id', `node${i}`] }));
    }
    server = o.servers[0];
    console.log(`cluster: ${o.nodes} nodes on ${redis.url}: ${o.servers.map((x) => x.wsUrl).join(' ')}`);
  } else {
    server = await h.startServer({
      logLevel: 'info', // the harness waits for event=listening (info)
      name: 'bench_chat',
      args: serverArgs,
    });
  }
  const os = require('node:os');
  const load = os.loadavg()[0];
  console.log(`server ${server.bin} pid ${server.pid} on ${server.wsUrl}; ${os.cpus().length} cores, load average ${load.toFixed(2)}`);
  if (load > os.cpus().length / 2) console.log('note: the machine is busy with other work; latency figures will suffer');
  let ok = true;
  try {
    if (!o.only || o.only === 'chat') {
      const r = await benchChat(server, o);
      if (!(r.delivered > 0.999) || r.closed) ok = false; // every acknowledged message reached everyone
    }
    if (!o.only || o.only === 'presence') {
      const r = await benchPresence(server, o);
      if ((r.blip.inGrace && r.blip.frames !== 0) || r.first.frames === 0 || r.cold.frames === 0) ok = false;
    }
  } finally {
    for (const x of o.servers || [server]) {
      await x.stop().catch((e) => {
        console.error(e.message);
        ok = false;
      });
    }
    if (redis) await redis.stop();
  }
  console.log(ok ? '\nbench_chat: ok' : '\nbench_chat: FAILED (see above)');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
