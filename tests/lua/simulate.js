'use strict';
// Runs `moonbase simulate` for the tests in tests/lua/ (and tests/integration/simulate.test.js).
//   const { simulate } = require('./simulate');
//   const r = await simulate('tictactoe', { players: 2, ticks: 10, inputs: [{ tick: 1, player: 1, input: {...} }] });
//   r.code, r.stdout, r.stderr, r.lines (stdout lines parsed as JSON), r.states, r.finished
// MOONBASE_BIN (default build/moonbase) is the binary; --scripts defaults to the repo's scripts/.
// No network and no database are involved. Every run has a timeout.
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.resolve(REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));

/** Runs the binary with raw arguments; resolves {code, stdout, stderr, lines}. */
function run(args, { timeoutMs = 30000, cwd = REPO_ROOT } = {}) {
  return new Promise((resolve, reject) => {
    if (!fs.existsSync(BIN)) return reject(new Error(`server binary not found: ${BIN} (make build, or set MOONBASE_BIN)`));
    const env = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('MOONBASE_')) env[k] = v;
    execFile(BIN, args, { cwd, env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err && err.killed) return reject(new Error(`moonbase ${args.join(' ')} timed out after ${timeoutMs} ms`));
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const lines = stdout.split('\n').filter((l) => l.length).map((l) => {
        try {
          return JSON.parse(l);
        } catch {
          return { unparsed: l };
        }
      });
      resolve({ code, stdout, stderr, lines });
    });
  });
}

/**
 * moonbase simulate <mode> --players N --ticks T [--inputs FILE] [--params JSON] [--scripts DIR].
 * inputs: an array of {tick, player|player_id, input} (written to a temp .jsonl file).
 * Resolves with run()'s result plus states (the tick lines) and finished (the result or undefined).
 */
async function simulate(mode, { players = 2, ticks = 10, inputs, params, scripts, extra = [], timeoutMs } = {}) {
  const args = ['simulate', mode, '--players', String(players), '--ticks', String(ticks)];
  let tmp;
  if (inputs) {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-sim-'));
    const file = path.join(tmp, 'inputs.jsonl');
    fs.writeFileSync(file, inputs.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') + '\n');
    args.push('--inputs', file);
  }
  if (params !== undefined) args.push('--params', typeof params === 'string' ? params : JSON.stringify(params));
  if (scripts) args.push('--scripts', scripts);
  args.push(...extra);
  try {
    const r = await run(args, { timeoutMs });
    r.states = r.lines.filter((l) => l && typeof l.tick === 'number');
    const fin = r.lines.find((l) => l && 'finished' in l);
    r.finished = fin ? fin.finished : undefined;
    return r;
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
}

module.exports = { simulate, run, BIN, REPO_ROOT };
