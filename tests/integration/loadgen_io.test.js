'use strict';
// The load generator's two WebSocket receive paths (tests/bench/loadgen, docs/PERFORMANCE.md "The
// load generator receives through io_uring"): a small match run (2 matches x 2 players) against a
// real server with --io epoll (one recv() per readiness event) and with --io uring (multishot
// receives on one io_uring, provided buffers); each must receive and decode states: messages
// received, states delivered, the once-a-second full parse agreeing with the hot-path scan, and
// the receive path it says it used. A third run gives the ring one provided buffer, so receives
// end for want of buffers all the time (ENOBUFS) and are re-armed: nothing may be lost. The load
// generator is the one built next to MOONBASE_BIN (build/ or build-asan/, so the ASan run checks
// uring.c and ws.c too). Bad --io and --uring-buffers are refused.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const BIN = path.resolve(h.REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
const LOADGEN = path.join(path.dirname(BIN), 'tests', 'bench', 'loadgen', 'loadgen');

// Runs the load generator to its end (it stops by itself: --max-seconds) and gives its output.
function loadgen(args) {
  return new Promise((resolve, reject) => {
    const p = spawn(LOADGEN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

describe('load generator receive paths', () => {
  let server;
  before(async () => {
    assert.ok(fs.existsSync(LOADGEN), `load generator not built: ${LOADGEN}`);
    // the limits tools/bench.sh gives the server, so the run measures nothing but delivery
    server = await h.startServer({
      logLevel: 'info', // the harness waits for event=listening (info)
      args: ['--msg-rate', '1000', '--msg-burst', '2000', '--input-rate', '100', '--auth-rate', '1000000'],
    });
  });
  after(async () => {
    if (server) await server.stop();
  });

  const runs = [
    { io: 'epoll', args: [] },
    { io: 'uring', args: [] },
    { io: 'uring', args: ['--uring-buffers', '1'], starved: true },
  ];
  for (const { io, args, starved } of runs) {
    it(`--io ${io}${args.length ? ' ' + args.join(' ') : ''}: match states received, decoded and checked`, async () => {
      const r = await loadgen(['match', '--port', String(server.port), '--server-pid', String(server.pid),
        '--matches', '2', '--players', '2', '--duration', '2', '--warmup', '1',
        '--prefix', `lgio-${io}${starved ? '-1buf' : ''}`, '--max-seconds', '60', '--io', io, ...args]);
      assert.equal(r.code, 0, r.err);
      const line = r.out.trim().split('\n').pop();
      const run = JSON.parse(line);
      assert.equal(run.ok, true, r.err);
      assert.equal(run.io, io);
      assert.match(r.err, io === 'uring' ? /receive path: io_uring \(multishot recv/ : /receive path: epoll \+ recv\(\) \(--io epoll\)/);
      assert.equal(run.players, 4);
      // 2 matches x 2 players at 20 Hz for 2 s: about 160 states; delivery must be near whole
      assert.ok(run.states_delivered >= 100, `states delivered: ${run.states_delivered}\n${r.err}`);
      assert.ok(run.loadgen_messages_received >= run.states_delivered, line);
      assert.ok(run.scan_checks > 0, 'the full parse ran');
      assert.equal(run.scan_mismatches, 0);
      assert.equal(run.errors, 0);
      assert.ok(run.latency_samples > 0, 'inputs were echoed back in states');
      if (io === 'uring') {
        assert.ok(run.uring_completions >= run.loadgen_messages_received / 2, line);
        assert.ok(run.uring_arms >= 4, line);
        if (starved) {
          // 4 sockets served each tick, one buffer: every tick some receive runs out and is re-armed
          assert.ok(run.uring_out_of_buffers > 0, line);
          // each receive that ran out was armed again, but for at most one per client at the end
          // (out of buffers while the clients were closing: counted, not re-armed)
          assert.ok(run.uring_arms - 4 >= run.uring_out_of_buffers - 4, line);
          assert.ok(run.uring_arms - 4 <= run.uring_out_of_buffers, line);
        }
      } else {
        assert.equal(run.uring_completions, undefined);
      }
    });
  }

  it('--io with another value is refused with the accepted ones', async () => {
    const r = await loadgen(['match', '--port', String(server.port), '--io', 'poll']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--io must be uring or epoll, not 'poll'/);
    assert.equal(r.out, '');
    const b = await loadgen(['match', '--port', String(server.port), '--uring-buffers', '3']);
    assert.equal(b.code, 1);
    assert.match(b.err, /--uring-buffers must be a power of two, 1\.\.32768/);
  });
});
