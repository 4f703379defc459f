#!/usr/bin/env node
'use strict';
// The match workload on 1 node and on 2 nodes of a cluster (docs/CLUSTER.md "Figures"):
//
//   node tests/bench/bench_cluster_match.js [--nodes 1|2] [--matches 100] [--players 4 (sdktest seats 4)]
//        [--input-hz 10] [--duration 10]
//
// Starts a private redis-server and N nodes in cluster mode (one database), creates the matches
// (mode sdktest from sdk/js/test/fixtures, 20 Hz) pinned round-robin to the nodes with the admin
// API, connects every player straight to its match's node (what a client does after
// match.redirect), each sends a move input at --input-hz; after a 2 s warm-up it counts the
// match.state frames received for --duration seconds and reads the nodes' CPU from /proc.
// Reported: server CPU (all nodes) per 100,000 delivered states. Needs MOONBASE_TEST_DATABASE_URL
// (tools/bench.sh cluster provides it) and MOONBASE_BIN. Loopback only; stops everything it
// started by PID; a watchdog ends it after 3 minutes.
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');
const h = require(path.join(__dirname, '..', 'integration', 'harness.js'));
const ch = require(path.join(__dirname, '..', 'cluster', 'cluster_harness.js'));

function parseArgs() {
  const o = { nodes: 1, matches: 100, players: 4, 'input-hz': 10, duration: 10 };
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const k = a[i].replace(/^--/, '');
    if (!(k in o)) throw new Error(`unknown option ${a[i]} (see the header of ${__filename})`);
    o[k] = Number(a[++i]);
  }
  return o;
}
let clk = 100;
try { clk = Number(execSync('getconf CLK_TCK').toString().trim()) || 100; } catch { /* 100 */ }
const ticks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(x[11]) + Number(x[12]);
};

async function main() {
  const o = parseArgs();
  setTimeout(() => { console.error('bench_cluster_match: watchdog: 3 minutes'); process.exit(2); }, 180000).unref();
  if (!process.env.MOONBASE_BIN) process.env.MOONBASE_BIN = path.join(h.REPO_ROOT, 'build', 'moonbase');
  const scripts = h.scriptsDir([], {
    'modes/sdktest.lua': fs.readFileSync(path.join(h.REPO_ROOT, 'sdk/js/test/fixtures/modes/sdktest.lua'), 'utf8'),
  });
  const c = await ch.startCluster(o.nodes, { scripts, logLevel: 'info', args: ['--auth-rate', '1000000', '--msg-rate', '1000', '--input-rate', '100'] });
  let ok = true;
  const sockets = [];
  try {
    await c.waitMembers(c.nodes.map((n) => n.nodeId), 15000);
    const ids = [];
    for (let i = 0; i < o.matches; i++) {
      const node = c.nodes[i % c.nodes.length];
      const r = await c.admin(c.nodes[0], 'POST', '/v1/admin/matches', { mode: 'sdktest', node_id: node.nodeId });
      if (r.status !== 201) throw new Error(`create: ${r.status} ${r.text}`);
      ids.push({ id: r.json.match_id, node: c.nodes.find((n) => n.nodeId === r.json.node_id) });
    }
    let states = 0;
    for (let m = 0; m < ids.length; m++) {
      for (let p = 0; p < o.players; p++) {
        const a = await h.authed(ids[m].node, { device_id: `bcm-${m}-${p}` });
        const j = await a.ws.request('match.join', { match_id: ids[m].id });
        if (j.type !== 'match.joined') throw new Error(`join: ${JSON.stringify(j)}`);
        // count states without the harness's parse-and-keep of every message
        a.ws.socket.removeAllListeners('message');
        a.ws.socket.on('message', (d) => { if (d.includes('"type":"match.state"')) states++; });
        sockets.push(a.ws.socket);
      }
    }
    const timer = setInterval(() => {
      for (const ws of sockets) ws.send(`{"type":"match.input","payload":{"action":"move","x":${Math.floor(Math.random() * 100)},"y":1}}`);
    }, 1000 / o['input-hz']);
    await h.sleep(2000); // warm-up on purpose
    const pids = c.nodes.map((n) => n.pid);
    const t0 = pids.map(ticks);
    const s0 = states;
    const w0 = Date.now();
    await h.sleep(o.duration * 1000); // the measured window (fixed on purpose)
    const cpu = pids.reduce((a, p, i) => a + (ticks(p) - t0[i]) / clk, 0);
    const got = states - s0;
    const wall = (Date.now() - w0) / 1000;
    clearInterval(timer);
    const per100k = (cpu * 100000) / Math.max(1, got);
    console.log(`nodes ${o.nodes}: ${o.matches} matches x ${o.players} players, ${(got / wall).toFixed(0)} states/s delivered, ` +
      `server CPU ${(cpu / wall * 100).toFixed(1)}% of a core (all nodes), ${per100k.toFixed(3)} CPU-s per 100k states; load average ${require('node:os').loadavg()[0].toFixed(2)}`);
    if (got === 0) ok = false;
  } catch (e) {
    console.error(e);
    ok = false;
  } finally {
    for (const ws of sockets) ws.terminate();
    for (const n of c.nodes) await n.stop().catch((e) => { console.error(e.message); ok = false; });
    await c.redis.stop();
    fs.rmSync(scripts, { recursive: true, force: true });
  }
  process.exit(ok ? 0 : 1);
}
main().catch((e) => { console.error(e); process.exit(1); });
