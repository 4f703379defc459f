#!/usr/bin/env node
'use strict';
// The match workload on 1 node and on 2 nodes of a cluster (docs/CLUSTER.md "Figures"):
//
//   node tests/bench/bench_cluster_match.js [--nodes 1|2] [--matches 100] [--players 4 (sdktest seats 4)]
//        [--input-hz 10] [--duration 10] [--pin 1] [--compare 0]
//
// Starts a private redis-server and N nodes in cluster mode (one database), creates the matches
// (mode sdktest from sdk/js/test/fixtures, 20 Hz) pinned round-robin to the nodes with the admin
// API, connects every player straight to its match's node (what a client does after
// match.redirect), each sends a move input at --input-hz; after a 2 s warm-up it counts the
// match.state frames received for --duration seconds and reads the nodes' CPU from /proc.
// Reported: server CPU (all nodes) per 100,000 delivered states.
// --pin 1 (the default on 2+ CPUs): every node on the first CPU, this client and redis-server on
// the last (taskset), as the single-node match bench's "server on one core, load generator on the
// other". Unpinned, the scheduler moves the processes between the two cores and the figure comes
// out bimodal (1 node: 1.45 to 1.90 CPU-s per 100k in one hour, the spread larger than the 10 %
// the comparison needs): a send to a reader on the same core costs the sender less than one that
// wakes the other core.
// --compare R: R rounds of 1 node then 2 nodes, alternated; prints each run, the medians and the
// ratio 2 nodes / 1 node (issue 15's target: 2 nodes within 10 % of 1 node; what it guards
// against is the cluster's overhead, so 2 nodes cheaper than 1 is not a miss), and a JSON line. tools/bench.sh cluster
// runs --compare 3. Needs MOONBASE_TEST_DATABASE_URL
// (tools/bench.sh cluster provides it) and MOONBASE_BIN. Loopback only; stops everything it
// started by PID; a watchdog ends it after 3 minutes.
const fs = require('node:fs');
const path = require('node:path');
const { execSync } = require('node:child_process');
const h = require(path.join(__dirname, '..', 'integration', 'harness.js'));
const ch = require(path.join(__dirname, '..', 'cluster', 'cluster_harness.js'));

function parseArgs() {
  const o = { nodes: 1, matches: 100, players: 4, 'input-hz': 10, duration: 10, compare: 0, pin: require('node:os').cpus().length >= 2 ? 1 : 0 };
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

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main() {
  const o = parseArgs();
  const runs = o.compare > 0 ? 2 * o.compare : 1;
  setTimeout(() => { console.error(`bench_cluster_match: watchdog: ${3 * runs} minutes`); process.exit(2); }, 180000 * runs).unref();
  if (!process.env.MOONBASE_BIN) process.env.MOONBASE_BIN = path.join(h.REPO_ROOT, 'build', 'moonbase');
  if (!o.compare) {
    const r = await runOnce(o, o.nodes);
    process.exit(r.ok ? 0 : 1);
  }
  const per = { 1: [], 2: [] };
  for (let i = 0; i < o.compare; i++) {
    for (const n of [1, 2]) {
      const r = await runOnce(o, n);
      if (!r.ok) process.exit(1);
      per[n].push(r.per100k);
    }
  }
  const m1 = median(per[1]), m2 = median(per[2]);
  const pct = (m2 / m1 - 1) * 100;
  console.log(`median of ${o.compare}: 1 node ${m1.toFixed(3)}, 2 nodes ${m2.toFixed(3)} CPU-s per 100k states: ` +
    `2 nodes ${pct >= 0 ? '+' : ''}${pct.toFixed(1)} % (target: at most 10 % above 1 node) ${pct <= 10 ? 'MET' : 'MISSED'}` +
    (pct < -10 ? ' (2 nodes cheaper by more than 10 %: the runs are noisier than the comparison, see docs/CLUSTER.md)' : ''));
  console.log(JSON.stringify({ bench: 'cluster_match_compare', rounds: o.compare, pinned: !!o.pin, one_node: per[1], two_nodes: per[2], median_one: m1, median_two: m2, pct }));
  process.exit(0);
}

async function runOnce(o, nodes) {
  let per100k = 0;
  const scripts = h.scriptsDir([], {
    'modes/sdktest.lua': fs.readFileSync(path.join(h.REPO_ROOT, 'sdk/js/test/fixtures/modes/sdktest.lua'), 'utf8'),
  });
  const c = await ch.startCluster(nodes, { scripts, logLevel: 'info', args: ['--auth-rate', '1000000', '--msg-rate', '1000', '--input-rate', '100'] });
  let ok = true;
  const sockets = [];
  try {
    await c.waitMembers(c.nodes.map((n) => n.nodeId), 15000);
    if (o.pin) {
      const last = require('node:os').cpus().length - 1;
      for (const n of c.nodes) execSync(`taskset -a -pc 0 ${n.pid}`, { stdio: 'ignore' });
      execSync(`taskset -a -pc ${last} ${c.redis.pid}`, { stdio: 'ignore' });
      execSync(`taskset -a -pc ${last} ${process.pid}`, { stdio: 'ignore' });
    }
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
    per100k = (cpu * 100000) / Math.max(1, got);
    console.log(`nodes ${nodes}: ${o.matches} matches x ${o.players} players, ${(got / wall).toFixed(0)} states/s delivered, ` +
      `server CPU ${(cpu / wall * 100).toFixed(1)}% of a core (all nodes), ${per100k.toFixed(3)} CPU-s per 100k states${o.pin ? ' (nodes pinned to CPU 0, client and redis to the last)' : ''}; load average ${require('node:os').loadavg()[0].toFixed(2)}`);
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
  return { ok, per100k };
}
main().catch((e) => { console.error(e); process.exit(1); });
