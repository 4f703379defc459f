'use strict';
// The client half of tests/bench/leaderboard.sh (read its header). Node's http with keep-alive.
const http = require('node:http');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const url = new URL(args.url);
const RECORDS = Number(args.records);
const READS = Number(process.env.LB_READS || 2000);
const RATE = Number(process.env.LB_RATE || 5000);
const SECONDS = Number(process.env.LB_SECONDS || 10);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(process.env.LB_SOCKETS || 1024) });
const headers = { authorization: `Bearer ${args.admin}`, 'content-type': 'application/json' };

const owner = (i) => {
  const h = crypto.createHash('md5').update(`lb${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const req = http.request({ host: url.hostname, port: url.port, method, path, headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString(), ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', reject);
    if (body) req.end(JSON.stringify(body));
    else req.end();
  });
}

// CPU seconds the server used (user + system), from /proc: separates its own cost from the
// waits a loaded machine adds
const cpu = () => {
  const f = require('node:fs').readFileSync(`/proc/${args.pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
};

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const round = (x) => Math.round(x * 1000) / 1000;

async function reads(name, pathOf) {
  const lat = [];
  for (let i = 0; i < 100; i++) await request('GET', pathOf(i)); // warm-up
  const c0 = cpu();
  for (let i = 0; i < READS; i++) {
    const r = await request('GET', pathOf(i));
    if (r.status !== 200) throw new Error(`${name}: ${r.status} ${r.text}`);
    lat.push(r.ms);
  }
  return { p50_ms: round(pct(lat, 50)), p99_ms: round(pct(lat, 99)), max_ms: round(Math.max(...lat)),
    server_cpu_us_per_read: Math.round(((cpu() - c0) / READS) * 1e6) };
}

async function main() {
  const loadavg = () => require('node:os').loadavg().map((x) => Math.round(x * 100) / 100);
  const out = { loadavg_before: loadavg(), records: RECORDS, load: args.load, rss_mb: Math.round(Number(args['rss-kb']) / 1024) };
  const t = await request('GET', '/v1/admin/leaderboards/bench?limit=1');
  out.total = JSON.parse(t.text).leaderboard.total;
  out.top100 = await reads('top 100', () => '/v1/admin/leaderboards/bench?limit=100');
  out.around25 = await reads('around', (i) => `/v1/admin/leaderboards/bench/around/${owner(1 + ((i * 104729) % RECORDS))}?n=25`);
  // deep pages: a cursor halfway down
  const mid = JSON.parse((await request('GET', `/v1/admin/leaderboards/bench/around/${owner(RECORDS >> 1)}?n=0`)).text).records[0];
  const cursor = encodeURIComponent(`${mid.score}:${mid.subscore}:${0}:${mid.owner_id}`);
  out.page100_mid = await reads('page', () => `/v1/admin/leaderboards/bench?limit=100&cursor=${cursor}`);

  // submits: RATE per second for SECONDS, open loop (a timer sends the due ones every ms)
  const total = RATE * SECONDS;
  const lat = [];
  let sent = 0, acked = 0, failed = 0;
  const ackedOwners = [];
  const t0 = Date.now();
  const c0 = cpu();
  const n0 = process.cpuUsage();
  // what the server holds meanwhile: open connections and queued leaderboard writes (a separate
  // connection, so the sample does not wait behind the submits)
  const side = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const seen = { connections_max: 0, queue_max: 0 };
  const sampler = setInterval(() => {
    const req = http.get({ host: url.hostname, port: url.port, path: '/metrics', agent: side }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        const g = (name) => Number((text.match(new RegExp(`^${name} (\\S+)$`, 'm')) || [])[1] || 0);
        seen.connections_max = Math.max(seen.connections_max, g('moonbase_connections'));
        seen.queue_max = Math.max(seen.queue_max, g('moonbase_leaderboard_queue'));
      });
    });
    req.on('error', () => {});
  }, 250);
  await new Promise((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor(((Date.now() - t0) / 1000) * RATE));
      while (sent < due) {
        const i = RECORDS + 1 + sent++;
        request('POST', '/v1/admin/leaderboards/bench/records', { owner_id: owner(i), score: i % 100000, subscore: 1 })
          .then((r) => {
            if (r.status === 200) { acked++; lat.push(r.ms); ackedOwners.push(i); } else failed++;
            if (acked + failed === total) resolve();
          }, () => { failed++; if (acked + failed === total) resolve(); });
      }
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  clearInterval(sampler);
  side.destroy();
  const secs = (Date.now() - t0) / 1000;
  out.submits = { target_per_s: RATE, sent, acked, failed, seconds: round(secs), acked_per_s: Math.round(acked / secs),
    p50_ms: round(pct(lat, 50)), p99_ms: round(pct(lat, 99)), server_cpu_us_per_submit: Math.round(((cpu() - c0) / total) * 1e6),
    // the load generator's own CPU share of the wall time: near 1 means it, not the server, was the limit
    server_connections_max: seen.connections_max, server_queue_max: seen.queue_max,
    client_cpu_share: round((((u) => u.user + u.system)(process.cpuUsage(n0)) / 1e6) / secs) };
  // durability: every acknowledged submit is a row (one new owner each)
  const rows = Number(execFileSync('psql', ['-X', '-q', '-A', '-t', '-d', args.db, '-c',
    `SELECT count(*) FROM leaderboard_records WHERE leaderboard_id = 'bench' AND seq > ${RECORDS}`]).toString().trim());
  out.submits.rows_in_postgres = rows;
  const metrics = (await request('GET', '/metrics')).text;
  const m = (name) => Number((metrics.match(new RegExp(`^${name} (\\S+)$`, 'm')) || [])[1]);
  out.submits.batches = m('moonbase_leaderboard_batches_total');
  out.submits.batch_ms = round((m('moonbase_leaderboard_batch_seconds_total') * 1000) / m('moonbase_leaderboard_batches_total'));
  out.submits.ops_per_batch = round(m('moonbase_leaderboard_batch_ops_total') / m('moonbase_leaderboard_batches_total'));
  out.loadavg_after = loadavg();
  console.log(JSON.stringify(out));
  const missed = [];
  if (out.top100.p99_ms >= 5) missed.push('top 100 p99 >= 5 ms');
  if (out.around25.p99_ms >= 5) missed.push('around p99 >= 5 ms');
  if (out.submits.acked_per_s < RATE * 0.98 || failed) missed.push(`submits: ${out.submits.acked_per_s}/s acked, ${failed} failed`);
  if (rows !== acked) missed.push(`${acked} acknowledged but ${rows} rows`);
  for (const x of missed) console.error(`bench leaderboard: MISSED ${x}`);
  agent.destroy();
  process.exit(missed.length ? 1 : 0);
}
main().catch((e) => { console.error(e); process.exit(1); });
