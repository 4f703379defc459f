#!/usr/bin/env node
'use strict';
// The cluster's matchmaker against one node (docs/CLUSTER.md "Matchmaker figures").
//
//   node tests/bench/cluster_matchmaker.js [--tickets 10000] [--rate 1000] [--nodes 3]
//        [--only single|cluster|pool] [--wait 8] [--pool 100000]
//
// For each setup (one node without Redis; then --nodes nodes on a private redis-server): a fresh
// database, `tickets` sockets with locally signed tokens spread over the nodes in turn, then one
// matchmaker.add each for the arena mode at `rate` per second with the load generator's
// distribution (tests/bench/loadgen/scen_mm.c: skill 1500 + a bell curve of sd ~290, regions
// eu/us/asia in turn), waiting for matches up to `wait` s after the last add (arena's
// fill_after_ms is 5 s). Reported per setup: share matched, time to matchmaker.matched p50/p99
// (add sent -> matched read, on this client's clock), the pass owner's last pass_ms and
// matched_per_s peak (GET /v1/matchmaker/stats, sampled every 500 ms), server CPU (all nodes);
// then the cluster's figures relative to one node (target: within 10 %).
// pool: `pool` waiting tickets written into Redis (mode mmpool: pairs within a skill window of 0.5,
// skills 1 apart, so none can be grouped and every pass walks all of them) before 3 nodes start;
// (not in mb:mm:node:node1: node1 would take them for leftovers of a previous run and remove
// them); the node that takes the lease reads them and runs its passes:
// reported: pass_ms on the owner, sampled every 200 ms for 5 s (target: < 20 ms).
//
// Needs MOONBASE_TEST_DATABASE_URL (tools/pg.sh / tools/bench.sh provide one) and MOONBASE_BIN
// (default build/moonbase). Loopback only; stops everything it started; a watchdog ends it after
// 5 minutes.
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const WS = require('ws');
const h = require('../integration/harness');

const JWT_SECRET = 'bench-mm-secret-0123456789abcdef-0123456789abcdef';
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const token = (playerId, username) => h.playerToken(JWT_SECRET, playerId, username);
const uuidOf = (prefix, i) => `${prefix}-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;

function parseArgs() {
  const o = { tickets: 10000, rate: 1000, nodes: 3, only: null, wait: 8, pool: 100000 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o)) throw new Error(`unknown option ${a[i]}`);
    o[k] = k === 'only' ? a[++i] : Number(a[++i]);
  }
  return o;
}

function cpuSeconds(pid) {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return NaN; }
}
const pct = (s, q) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN);

function connect(url, tok, onMessage) {
  return new Promise((resolve, reject) => {
    const ws = new WS(url, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error('connect timed out')), 60000);
    let ready = false;
    ws.on('open', () => ws.send(JSON.stringify({ cid: 'c', type: 'session.connect', payload: { token: tok } })));
    ws.on('error', (e) => { if (!ready) reject(e); });
    ws.on('message', (data) => {
      if (!ready) {
        if (!data.toString().includes('session.connected')) return reject(new Error(`connect: ${data}`));
        ready = true;
        clearTimeout(timer);
        resolve(ws);
        return;
      }
      onMessage(data.toString());
    });
  });
}

async function pool(n, conc, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: conc }, async () => { while (i < n) await fn(i++); }));
}

async function runSetup(label, nodes, o) {
  const n = o.tickets;
  console.log(`\n== ${label}: ${n} tickets at ${o.rate}/s over ${nodes.length} node(s)`);
  const tAdd = new Float64Array(n);
  const lat = [];
  let matched = 0, removed = 0, errors = 0, shown = 0;
  const sockets = new Array(n);
  const t0 = Date.now();
  await pool(n, 200, async (i) => {
    const node = nodes[i % nodes.length];
    sockets[i] = await connect(node.wsUrl, token(uuidOf('eeeeeeee', i), `mm_${i}`), (text) => {
      if (text.includes('"matchmaker.matched"')) {
        matched++;
        lat.push(nowMs() - tAdd[i]);
      } else if (text.includes('"matchmaker.removed"')) removed++;
      else if (text.includes('"type":"error"')) {
        errors++;
        if (shown++ < 5) console.log(`client ${i}: ${text.slice(0, 300)}`);
      }
    });
  });
  console.log(`connected ${n} sockets in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const statsTok = token(uuidOf('eeeeeeee', 0), 'mm_0');
  let owner = null, passMs = NaN, peakRate = 0;
  const sample = setInterval(async () => {
    try {
      const r = await nodes[0].http('GET', '/v1/matchmaker/stats', undefined, { authorization: `Bearer ${statsTok}` });
      const a = r.json && r.json.modes && r.json.modes.arena;
      if (!a) return;
      if (a.pass_owner) owner = a.pass_owner;
      if (Number.isFinite(a.pass_ms)) passMs = Math.max(Number.isFinite(passMs) ? passMs : 0, a.pass_ms);
      if (a.matched_per_s > peakRate) peakRate = a.matched_per_s;
    } catch { /* next sample */ }
  }, 500);
  const cpu0 = nodes.map((s) => cpuSeconds(s.pid));
  const regions = ['eu', 'us', 'asia'];
  let next = 0;
  const start = nowMs();
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(n, Math.floor(((nowMs() - start) / 1000) * o.rate) + 1);
      for (; next < due; next++) {
        const i = next;
        const r = (Math.imul(i, 2654435761) >>> 0);
        const u = ((r & 1023) + ((r >>> 10) & 1023) + ((r >>> 20) & 1023)) / 1023 - 1.5;
        tAdd[i] = nowMs();
        sockets[i].send(JSON.stringify({ type: 'matchmaker.add', payload: { mode: 'arena', properties: { skill: Math.trunc(1500 + u * 500), region: regions[i % 3] } } }));
      }
      if (next >= n) { clearInterval(tick); resolve(); }
    }, 5);
  });
  const lastAdd = nowMs();
  const span = (lastAdd - start) / 1000;
  while (matched + removed + errors < n && nowMs() - lastAdd < o.wait * 1000) await new Promise((r) => setTimeout(r, 100));
  clearInterval(sample);
  const cpu = nodes.map((s, k) => cpuSeconds(s.pid) - cpu0[k]).reduce((a, b) => a + b, 0);
  lat.sort((a, b) => a - b);
  const res = {
    setup: label, nodes: nodes.length, tickets: n, tickets_per_s: +(n / span).toFixed(1), matched, removed, errors,
    share_matched: +(matched / n).toFixed(4), p50_ms: +pct(lat, 0.5).toFixed(1), p99_ms: +pct(lat, 0.99).toFixed(1),
    pass_owner: owner, max_pass_ms: Number.isFinite(passMs) ? +passMs.toFixed(2) : null, peak_matched_per_s: +peakRate.toFixed(1),
    server_cpu_s: +cpu.toFixed(2),
  };
  console.log(`submitted ${n} at ${res.tickets_per_s}/s; matched ${matched} (${(100 * res.share_matched).toFixed(1)} %), removed ${removed}, errors ${errors}`);
  console.log(`time to matched p50 ${res.p50_ms} ms, p99 ${res.p99_ms} ms`);
  if (nodes.length > 1) console.log(`pass owner ${owner}: longest pass seen ${res.max_pass_ms} ms, peak ${res.peak_matched_per_s} tickets matched/s`);
  console.log(`server CPU ${res.server_cpu_s} s (all nodes)`);
  console.log(JSON.stringify({ bench: 'cluster_matchmaker', ...res }));
  await Promise.all(sockets.map((ws) => new Promise((r) => { if (!ws || ws.readyState !== WS.OPEN) return r(); ws.once('close', r); ws.close(); setTimeout(r, 2000); })));
  return res;
}

const MMPOOL = `local M = { tick_rate = 10, players = { min = 2, max = 2 },
  matchmaker = { size = { min = 2, max = 2 }, skill = "skill", window = 0.5, widen_per_second = 0, max_window = 0.5,
                 fill_after_ms = -1, timeout_ms = 0 } }
function M.init(match, params) return {} end
function M.get_state(match, state, viewer) return {} end
return M
`;

async function runPool(o, args) {
  const n = o.pool;
  console.log(`\n== one pass over ${n} waiting tickets on the pass owner (3 nodes)`);
  const ch = require(path.join(__dirname, '..', 'cluster', 'cluster_harness.js'));
  const net = require('node:net');
  const redis = await ch.startRedis();
  const scripts = h.scriptsDir([], { 'modes/mmpool.lua': MMPOOL });
  const now = Date.now();
  const parts = [];
  const cmd = (...a) => parts.push(`*${a.length}\r\n` + a.map((x) => `$${Buffer.byteLength(String(x))}\r\n${x}\r\n`).join(''));
  for (let i = 0; i < n; i++) {
    const tid = uuidOf('ffffffff', i);
    cmd('HSET', 'mb:mm:tickets:mmpool', tid, JSON.stringify({ ticket_id: tid, node_id: 'node1', player_id: uuidOf('eeeeeeee', i),
      username: `p${i}`, mode: 'mmpool', properties: { skill: i }, created_at: now }));
  }
  cmd('SADD', 'mb:mm:modes', 'mmpool');
  await new Promise((resolve, reject) => {
    const sock = net.connect(redis.port, '127.0.0.1');
    let replies = 0, buf = '';
    const want = n + 1;
    sock.on('connect', () => sock.end(parts.join('')));
    sock.on('data', (d) => { buf += d; replies += (buf.match(/\r\n/g) || []).length; buf = buf.slice(buf.lastIndexOf('\r\n') + 2); if (replies >= want) resolve(); });
    sock.on('error', reject);
    sock.on('close', () => (replies >= want ? resolve() : reject(new Error(`redis: ${replies} of ${want} replies`))));
  });
  console.log(`wrote ${n} tickets into Redis in ${((Date.now() - now) / 1000).toFixed(1)} s`);
  const databaseUrl = await h.createDatabase();
  const nodes = [];
  let res = null;
  try {
    for (let i = 1; i <= 3; i++) {
      nodes.push(await h.startServer({ logLevel: 'info', name: `cluster_mm-pool-node${i}`, databaseUrl, scripts,
        args: [...args, '--redis-url', redis.url, '--node-id', `node${i}`] }));
    }
    const tok = token(uuidOf('eeeeeeee', 0), 'p0');
    let owner = null, last = '';
    const t0 = Date.now();
    while (Date.now() - t0 < 60000) {
      const r = await nodes[0].http('GET', '/v1/matchmaker/stats', undefined, { authorization: `Bearer ${tok}` });
      const m = r.json && r.json.modes && r.json.modes.mmpool;
      last = r.text;
      if (m && m.pass_owner && m.tickets === n) { owner = m.pass_owner; break; }
      await new Promise((r2) => setTimeout(r2, 200));
    }
    if (!owner) throw new Error(`no pass owner with the whole pool in 60 s; last stats: ${last.slice(0, 500)}`);
    const on = nodes[Number(owner.replace('node', '')) - 1];
    const samples = [];
    for (let k = 0; k < 25; k++) {
      await new Promise((r2) => setTimeout(r2, 200));
      const r = await on.http('GET', '/v1/matchmaker/stats', undefined, { authorization: `Bearer ${tok}` });
      const m = r.json.modes.mmpool;
      if (m.pass_owner === owner && m.tickets === n) samples.push(m.pass_ms);
    }
    samples.sort((a, b) => a - b);
    res = { pool: n, owner, samples: samples.length, pass_ms_p50: +pct(samples, 0.5).toFixed(2), pass_ms_max: +samples[samples.length - 1].toFixed(2) };
    console.log(`owner ${owner}: pass over ${n} tickets: median ${res.pass_ms_p50} ms, max ${res.pass_ms_max} ms (${samples.length} samples; target < 20 ms)`);
    console.log(JSON.stringify({ bench: 'cluster_matchmaker_pool', ...res }));
  } finally {
    for (const s2 of nodes) await s2.stop().catch(() => {});
    await redis.stop();
    fs.rmSync(scripts, { recursive: true, force: true });
  }
  return res;
}

async function main() {
  const o = parseArgs();
  const watchdog = setTimeout(() => { console.error('cluster_matchmaker: watchdog: 5 minutes, giving up'); process.exit(2); }, 5 * 60 * 1000);
  watchdog.unref();
  if (!process.env.MOONBASE_BIN) process.env.MOONBASE_BIN = path.join(h.REPO_ROOT, 'build', 'moonbase');
  const args = ['--jwt-secret', JWT_SECRET, '--msg-rate', '10000', '--msg-burst', '10000', '--max-connections', '19000',
    '--token-ttl', '3600', '--idle-timeout-ms', '600000'];
  console.log(`${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(2)}; ${process.env.MOONBASE_BIN}`);
  const out = {};
  let ok = true;
  if (o.only === 'pool') {
    const r = await runPool(o, args);
    process.exit(r && r.samples ? 0 : 1);
  }
  if (o.only !== 'cluster') {
    const s = await h.startServer({ logLevel: 'info', name: 'cluster_mm-single', args });
    try { out.single = await runSetup('one node, no Redis', [s], o); } finally { await s.stop().catch(() => { ok = false; }); }
  }
  if (o.only !== 'single') {
    const ch = require(path.join(__dirname, '..', 'cluster', 'cluster_harness.js'));
    const redis = await ch.startRedis();
    const databaseUrl = await h.createDatabase();
    const nodes = [];
    try {
      for (let i = 1; i <= o.nodes; i++) {
        nodes.push(await h.startServer({ logLevel: 'info', name: `cluster_mm-node${i}`, databaseUrl,
          args: [...args, '--redis-url', redis.url, '--node-id', `node${i}`] }));
      }
      out.cluster = await runSetup(`cluster of ${o.nodes}`, nodes, o);
    } finally {
      for (const s of nodes) await s.stop().catch(() => { ok = false; });
      await redis.stop();
    }
  }
  if (out.single && out.cluster) {
    const rel = (a, b) => (b ? ((a - b) / b) * 100 : NaN);
    const r = {
      share_matched_pct: rel(out.cluster.share_matched, out.single.share_matched),
      p50_pct: rel(out.cluster.p50_ms, out.single.p50_ms),
      p99_pct: rel(out.cluster.p99_ms, out.single.p99_ms),
    };
    console.log(`\ncluster vs one node: share matched ${r.share_matched_pct.toFixed(1)} %, p50 ${r.p50_pct.toFixed(1)} %, p99 ${r.p99_pct.toFixed(1)} % (target: within 10 %)`);
    console.log(JSON.stringify({ bench: 'cluster_matchmaker_compare', ...r }));
  }
  if (!o.only && o.pool > 0) {
    const r = await runPool(o, args);
    if (!r || !r.samples) ok = false;
  }
  for (const r of [out.single, out.cluster]) if (r && (r.errors || r.matched === 0)) ok = false;
  console.log(ok ? '\ncluster_matchmaker: ok' : '\ncluster_matchmaker: FAILED (see above)');
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(1); });
