#!/usr/bin/env node
'use strict';
// Mixed, bounded load against a running server for a fixed time, with a report every minute:
// server RSS (VmRSS) and open fds (/proc/<pid>), sessions, errors, and round-trip latency.
// tools/soak.sh starts PostgreSQL and the server, runs this, and stops both.
//
//   node tests/soak/soak.js --port PORT --pid SERVER_PID --minutes N [--players 40] [--json FILE]
//
// The load (constant for the whole run, so memory must stay flat):
//   matches     players in pairs play arena matches (round_ms 60 s): match.input "move" at
//               10 Hz with a cid (latency = input_ack), match.state at 20 Hz; a finished match is
//               replaced by a new one (REST POST /v1/matches + match.join)
//   chat        (when the chat module exists) each player is in its group's room and sends a
//               message every 3 s (two pairs share a room); everybody in the room receives it
//   matchmaker  4 more players loop: matchmaker.add -> matchmaker.matched -> match.join ->
//               play 10 s -> match.leave
//   auth churn  2 logins/s: POST /v1/auth/device (a pool of 50 devices) -> socket ->
//               session.connect -> heartbeat -> close; a refresh-token rotation every 2 s
//   rpc         5 POST /v1/rpc/echo per second
//   heartbeats  every player every 5 s (latency)
// Flatness: after the run, RSS over its last min(40, 2/3 of the run) minutes (--flat-window,
// SOAK_FLAT_WINDOW) must stay within 1 MB (--flat-mb, SOAK_FLAT_MB): max - min of the per-minute
// RSS <= 1 MB and the least-squares slope times the window <= 1 MB. The summary line and
// summary.json (`flat`) report the window, slope, max - min and the verdict, and the size of every
// in-memory table (moonbase_table_entries gauges) at the start and end of the window. A run
// shorter than 3 minutes gets no verdict.
// Exit status: 1 when the server died, more than 1% of operations failed, or RSS was not flat.
const fs = require('node:fs');
const h = require('../integration/harness');

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), [])
);
const PORT = Number(args.port);
const PID = Number(args.pid);
const MINUTES = Number(args.minutes || 10);
const PLAYERS = Number(args.players || 40);
const MINUTE_MS = Number(args['minute-ms'] || 60000); // shorter for a dry run of the script
const FLAT_MB = Number(args['flat-mb'] || 1);
const FLAT_WINDOW = Math.min(Number(args['flat-window'] || 40), Math.floor((MINUTES * 2) / 3));
if (!PORT || !PID) {
  console.error('usage: soak.js --port PORT --pid SERVER_PID --minutes N [--players 40] [--json FILE]');
  process.exit(2);
}
const http = (method, p, body, headers) => h.httpRequest(PORT, method, p, body, headers, { timeoutMs: 15000 });
const wsUrl = `ws://127.0.0.1:${PORT}/ws`;
const bearer = (t) => ({ authorization: `Bearer ${t}` });

// ---- accounting ------------------------------------------------------------------------------
const lat = {}; // kind -> [ms...] for the current minute
const counts = { ops: 0, errors: 0, states: 0, chat_in: 0, matches: 0, mm_matched: 0, logins: 0 };
const errorKinds = {};
const minuteCounts = () => ({ ...counts });
function sample(kind, ms) {
  (lat[kind] ||= []).push(ms);
}
function fail(kind, detail) {
  counts.errors++;
  errorKinds[kind] = (errorKinds[kind] || 0) + 1;
  if ((errorKinds[kind] || 0) <= 3) console.error(`# error ${kind}: ${String(detail).slice(0, 200)}`);
}
async function timed(kind, fn) {
  const t0 = process.hrtime.bigint();
  counts.ops++;
  try {
    const r = await fn();
    sample(kind, Number(process.hrtime.bigint() - t0) / 1e6);
    return r;
  } catch (e) {
    fail(kind, e.message);
    return null;
  }
}
const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] : NaN);
const procStat = () => {
  try {
    const status = fs.readFileSync(`/proc/${PID}/status`, 'utf8');
    return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)[1]), fds: fs.readdirSync(`/proc/${PID}/fd`).length, alive: true };
  } catch {
    return { rssKb: NaN, fds: NaN, alive: false };
  }
};

let stopping = false;
// The soak is a time-based workload: its sleeps are pacing on purpose (a loop every N ms, a
// back-off after a failure, a player staying in a match), not waits for a condition.
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const loop = async (everyMs, fn) => {
  while (!stopping) {
    const t = Date.now();
    await fn();
    await sleep(Math.max(0, everyMs - (Date.now() - t)));
  }
};

// ---- players ---------------------------------------------------------------------------------
async function login(deviceId) {
  const r = await http('POST', '/v1/auth/device', { device_id: deviceId });
  if (r.status !== 200 && r.status !== 201) throw new Error(`auth ${r.status} ${r.text}`);
  return r.json;
}
async function connect(auth) {
  const ws = await h.connectWs(wsUrl, { timeoutMs: 15000 });
  const r = await ws.request('session.connect', { token: auth.token }, { timeoutMs: 15000 });
  if (r.type !== 'session.connected') throw new Error(`session.connect: ${JSON.stringify(r)}`);
  ws.socket.on('message', () => {}); // keep flowing
  return ws;
}
/** Drops messages nobody waits for, so a long run does not keep them in the client buffer. */
function drain(ws, keep = () => false) {
  setInterval(() => {
    ws.buffer = ws.buffer.filter(keep);
    ws.received.length = 0;
  }, 1000).unref();
}

let chatEnabled = true;

async function groupPlayer(p, group) {
  p.ws.socket.on('message', (d) => {
    const s = d.toString();
    if (s.startsWith('{"type":"match.state"')) counts.states++;
    else if (s.includes('"type":"chat.message"')) counts.chat_in++;
  });
  drain(p.ws, (m) => m.type === 'match.finished');
  if (chatEnabled) {
    const j = await p.ws.request('chat.join', { channel_id: `soak-${group.n >> 1}` });
    if (j.type === 'error' && j.payload.code === 'unsupported') chatEnabled = false;
    else if (j.type === 'error') fail('chat.join', JSON.stringify(j.payload));
  }
  let seq = 0;
  const tasks = [];
  // inputs at 10 Hz while in a match
  tasks.push(loop(100, async () => {
    if (!group.matchId || !p.joined) return;
    const r = await timed('input', () => p.ws.request('match.input', { action: 'move', x: Math.random() * 100, y: Math.random() * 100, seq: ++seq }, { timeoutMs: 10000 }));
    if (r && r.type === 'error' && r.payload.code !== 'not_found') fail('match.input', JSON.stringify(r.payload));
  }));
  tasks.push(loop(5000, async () => {
    const r = await timed('heartbeat', () => p.ws.request('session.heartbeat', {}, { timeoutMs: 10000 }));
    if (r && r.type !== 'session.heartbeat') fail('heartbeat', JSON.stringify(r));
  }));
  if (chatEnabled) {
    tasks.push(loop(3000, async () => {
      if (!chatEnabled) return;
      const r = await timed('chat', () => p.ws.request('chat.send', { channel_id: `soak-${group.n >> 1}`, content: `hello from ${p.auth.username} ${Date.now()}` }, { timeoutMs: 10000 }));
      if (r && r.type === 'error') fail('chat.send', JSON.stringify(r.payload));
    }));
  }
  return Promise.all(tasks);
}

async function groupLoop(group) {
  // the leader creates a match; everybody joins; when it finishes, again
  while (!stopping) {
    const c = await timed('rest_match_create', () => http('POST', '/v1/matches', { mode: 'arena', params: { round_ms: 60000 } }, bearer(group.players[0].auth.token)));
    if (!c || c.status !== 201) {
      fail('match.create', c && c.text);
      await sleep(2000); // back-off after a failure (pacing)
      continue;
    }
    counts.matches++;
    group.matchId = c.json.match_id;
    for (const p of group.players) {
      const r = await p.ws.request('match.join', { match_id: group.matchId }, { timeoutMs: 10000 }).catch((e) => ({ type: 'error', payload: { message: e.message } }));
      if (r.type !== 'match.joined') fail('match.join', JSON.stringify(r.payload));
      else p.joined = true;
    }
    // wait for the end of the round (or the end of the run)
    while (!stopping) {
      const fin = await group.players[0].ws.next('match.finished', 2000).catch(() => null);
      if (fin) break;
    }
    for (const p of group.players) {
      p.joined = false;
      p.ws.buffer = p.ws.buffer.filter((m) => m.type !== 'match.finished');
    }
  }
}

async function matchmakerLoop(p) {
  drain(p.ws, (m) => m.type === 'matchmaker.matched');
  while (!stopping) {
    const t = await timed('matchmaker_add', () => p.ws.request('matchmaker.add', { mode: 'arena', properties: { skill: 1000, region: 'eu' } }, { timeoutMs: 10000 }));
    if (!t || t.type !== 'matchmaker.ticket') {
      if (t) fail('matchmaker.add', JSON.stringify(t.payload));
      await sleep(2000); // back-off after a failure (pacing)
      continue;
    }
    const m = await p.ws.next('matchmaker.matched', 30000).catch(() => null);
    if (!m) {
      await p.ws.request('matchmaker.remove', { ticket_id: t.payload.ticket_id }).catch(() => {});
      continue;
    }
    counts.mm_matched++;
    const j = await p.ws.request('match.join', { match_id: m.payload.match_id }, { timeoutMs: 10000 }).catch(() => null);
    if (!j || j.type !== 'match.joined') fail('mm.join', j && JSON.stringify(j.payload));
    await sleep(10000); // the player stays in the match for 10 s (workload)
    await p.ws.request('match.leave', {}, { timeoutMs: 10000 }).catch(() => {});
  }
}

async function authChurn() {
  let n = 0;
  let refresh = null;
  const devices = Array.from({ length: 50 }, (_, i) => `soak-churn-${process.pid}-${i}`);
  const a = loop(500, async () => {
    const dev = devices[n++ % devices.length];
    const auth = await timed('rest_auth', () => login(dev));
    if (!auth) return;
    counts.logins++;
    refresh = auth.refresh_token;
    await timed('connect_cycle', async () => {
      const ws = await connect(auth);
      await ws.request('session.heartbeat', {}, { timeoutMs: 10000 });
      await ws.close(1000, '', 10000);
    });
  });
  const b = loop(2000, async () => {
    if (!refresh) return;
    const t = refresh;
    refresh = null;
    const r = await timed('rest_refresh', () => http('POST', '/v1/auth/refresh', { refresh_token: t }));
    if (r && r.status !== 200) fail('refresh', `${r.status} ${r.text}`);
  });
  return Promise.all([a, b]);
}

async function rpcLoop(auth) {
  return loop(200, async () => {
    const r = await timed('rest_rpc', () => http('POST', '/v1/rpc/echo', { n: Math.random() }, bearer(auth.token)));
    if (r && r.status !== 200) fail('rpc', `${r.status} ${r.text}`);
  });
}

// ---- flatness verdict ----------------------------------------------------------------------
/** RSS over the last FLAT_WINDOW minutes: least-squares slope, max - min, verdict. */
function flatness(rows) {
  const w = rows.filter((r) => r.minute > rows.length - FLAT_WINDOW && Number.isFinite(r.rss_kb));
  const n = w.length;
  // a run of 1-2 minutes is all warm-up: no verdict (and no failure)
  if (n < 2) return { window: n, from: n ? w[0].minute : 0, to: n ? w[n - 1].minute : 0, judged: false, flat: null, tables: {} };
  const xs = w.map((r) => r.minute), ys = w.map((r) => r.rss_kb / 1024);
  const mx = xs.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  const slope = sxy / sxx; // MB per minute
  const max = Math.max(...ys), min = Math.min(...ys);
  const overWindow = slope * (xs[n - 1] - xs[0]);
  const tables = {};
  for (const name of Object.keys(w[n - 1].tables || {})) {
    const vals = w.map((r) => (r.tables || {})[name]).filter((v) => v !== undefined);
    tables[name] = { start: vals[0], end: vals[vals.length - 1], max: Math.max(...vals) };
  }
  return {
    window: n, from: xs[0], to: xs[n - 1], limit_mb: FLAT_MB,
    slope_kb_per_min: +(slope * 1024).toFixed(1), slope_mb_over_window: +overWindow.toFixed(2),
    min_mb: +min.toFixed(1), max_mb: +max.toFixed(1), max_minus_min_mb: +(max - min).toFixed(2),
    judged: true, flat: max - min <= FLAT_MB && Math.abs(overWindow) <= FLAT_MB, tables,
  };
}

// ---- main ------------------------------------------------------------------------------------
(async () => {
  const t0 = Date.now();
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const groups = [];
  for (let g = 0; g < Math.ceil(PLAYERS / 2); g++) {
    const group = { n: g, players: [], matchId: null };
    for (let i = 0; i < 2 && g * 2 + i < PLAYERS; i++) {
      const auth = await login(`soak-${tag}-${g}-${i}`);
      group.players.push({ auth, ws: await connect(auth), joined: false });
    }
    groups.push(group);
  }
  const mm = [];
  for (let i = 0; i < 4; i++) {
    const auth = await login(`soak-${tag}-mm-${i}`);
    mm.push({ auth, ws: await connect(auth) });
  }
  const rpcAuth = await login(`soak-${tag}-rpc`);
  console.log(`# soak: ${PLAYERS} match players in ${groups.length} pairs, 4 matchmaker players, auth churn 2/s, rpc 5/s, ${MINUTES} min; server pid ${PID}`);
  console.log('# min   rss_MB  fds  sessions  ops/s  errors  states/s  chat/s | latency ms p50/p95/p99: input  heartbeat  chat  rpc  auth  connect_cycle');

  const work = [];
  for (const g of groups) {
    for (const p of g.players) work.push(groupPlayer(p, g));
    work.push(groupLoop(g));
  }
  for (const p of mm) work.push(matchmakerLoop(p));
  work.push(authChurn());
  work.push(rpcLoop(rpcAuth));

  const rows = [];
  let last = minuteCounts();
  for (let minute = 1; minute <= MINUTES; minute++) {
    await sleep(Math.max(0, t0 + minute * MINUTE_MS - Date.now()));
    const st = procStat();
    let sessions = NaN;
    const tables = {};
    try {
      const m = await http('GET', '/metrics');
      sessions = Number(/^moonbase_sessions (\d+)/m.exec(m.text)[1]);
      for (const [, name, n] of m.text.matchAll(/^moonbase_table_entries\{table="([^"]+)"\} (\d+)$/gm)) tables[name] = Number(n);
    } catch {
      /* the server is gone: reported below */
    }
    const now = minuteCounts();
    const d = (k) => now[k] - last[k];
    const L = (k) => {
      const a = (lat[k] || []).sort((x, y) => x - y);
      return a.length ? `${pct(a, 50).toFixed(1)}/${pct(a, 95).toFixed(1)}/${pct(a, 99).toFixed(1)}` : '-';
    };
    const row = {
      minute, rss_mb: +(st.rssKb / 1024).toFixed(1), rss_kb: st.rssKb, fds: st.fds, tables, sessions, ops_per_s: +(d('ops') / (MINUTE_MS / 1000)).toFixed(1), errors: d('errors'),
      states_per_s: Math.round(d('states') / (MINUTE_MS / 1000)), chat_per_s: +(d('chat_in') / (MINUTE_MS / 1000)).toFixed(1),
      latency: Object.fromEntries(['input', 'heartbeat', 'chat', 'rest_rpc', 'rest_auth', 'connect_cycle'].map((k) => [k, L(k)])),
    };
    rows.push(row);
    console.log(`  ${String(minute).padStart(3)}  ${String(row.rss_mb).padStart(6)}  ${String(st.fds).padStart(3)}  ${String(sessions).padStart(8)}  ${String(row.ops_per_s).padStart(5)}  ${String(row.errors).padStart(6)}  ${String(row.states_per_s).padStart(8)}  ${String(row.chat_per_s).padStart(6)} | ${Object.values(row.latency).join('  ')}`);
    for (const k of Object.keys(lat)) lat[k] = [];
    last = now;
    if (!st.alive) {
      console.log('# the server process is gone');
      break;
    }
  }
  stopping = true;
  const first = rows[0];
  const lastRow = rows[rows.length - 1];
  const alive = procStat().alive;
  const flat = flatness(rows);
  const summary = {
    minutes: rows.length, players: PLAYERS + 4, alive, ops: counts.ops, errors: counts.errors, error_kinds: errorKinds,
    matches_created: counts.matches, matchmaker_matches: counts.mm_matched, logins: counts.logins,
    rss_mb_first: first && first.rss_mb, rss_mb_last: lastRow && lastRow.rss_mb, rss_mb_max: Math.max(...rows.map((r) => r.rss_mb)),
    fds_first: first && first.fds, fds_last: lastRow && lastRow.fds, flat, rows,
  };
  console.log(`# summary: ${rows.length} min, server ${alive ? 'alive' : 'DEAD'}, ${counts.ops} operations, ${counts.errors} errors ${JSON.stringify(errorKinds)}, ` +
    `${counts.matches} matches created, ${counts.mm_matched} matchmaker matches, ${counts.logins} logins; ` +
    `RSS ${summary.rss_mb_first} MB (min 1) -> ${summary.rss_mb_last} MB (min ${rows.length}), max ${summary.rss_mb_max} MB; fds ${summary.fds_first} -> ${summary.fds_last}`);
  if (!flat.judged) console.log('# flatness: not judged (a run of at least 3 minutes is needed)');
  else console.log(`# flatness: RSS over minutes ${flat.from}-${flat.to} (last ${flat.window} min): slope ${flat.slope_kb_per_min} KB/min ` +
    `(${flat.slope_mb_over_window} MB over the window), max - min ${flat.max_minus_min_mb} MB (${flat.min_mb} .. ${flat.max_mb}); ` +
    `limit ${FLAT_MB} MB: ${flat.flat ? 'FLAT' : 'NOT FLAT'}`);
  if (flat.judged) console.log(`# tables (entries at minute ${flat.from} -> ${flat.to}, max in window): ` +
    Object.entries(flat.tables).map(([k, t]) => `${k} ${t.start}->${t.end} (max ${t.max})`).join(', '));
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(summary, null, 2));
  // let in-flight operations finish, close sockets
  await sleep(500);
  for (const g of groups) for (const p of g.players) p.ws.socket.terminate();
  for (const p of mm) p.ws.socket.terminate();
  void work;
  process.exit(!alive || counts.errors > counts.ops / 100 || flat.flat === false ? 1 : 0);
})().catch((e) => {
  console.error(`soak: ${e.stack || e}`);
  process.exit(1);
});
