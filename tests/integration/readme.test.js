'use strict';
// The README's first-contact example, as written: the coinflip mode saved into a running server's
// scripts folder is live at once, and the README's shell commands (device auth for a token, then
// POST /v1/matches with it) create a match. Then the README's simulate command runs the mode.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const README = fs.readFileSync(path.join(h.REPO_ROOT, 'README.md'), 'utf8');
const blocks = (lang) => [...README.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const sh = (script, env) => new Promise((resolve) => {
  execFile('bash', ['-euo', 'pipefail', '-c', script], { env: { ...process.env, ...env }, timeout: 30000 }, (err, stdout, stderr) =>
    resolve({ code: err ? err.code : 0, stdout, stderr }));
});

describe('README example', () => {
  let server;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    server = await h.startServer({ scripts: dir });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('coinflip: saved while the server runs, then the README commands get a token and create a match', async () => {
    const lua = blocks('lua').find((b) => b.startsWith('-- scripts/modes/coinflip.lua'));
    assert.ok(lua, 'the README has the coinflip mode');
    fs.writeFileSync(path.join(dir, 'modes', 'coinflip.lua'), lua);
    await server.waitForLog(/event=script_loaded mode=coinflip version=1/, 5000);

    const cmds = blocks('sh').find((b) => b.includes('/v1/auth/device') && b.includes('/v1/matches'));
    assert.ok(cmds, 'the README shows how to get a token and create a match');
    assert.match(cmds, /^MB=http:\/\/127\.0\.0\.1:7350$/m);
    const r = await sh(cmds.replace(/^MB=.*$/m, `MB=${server.baseUrl}`));
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout.trim().split('\n').pop());
    assert.equal(created.mode, 'coinflip');
    assert.equal(created.script_version, 1);
    assert.match(created.match_id, /^[0-9a-f-]{36}$/);

    // ... and offline
    const sim = /`(build\/moonbase simulate coinflip [^`]+)`/.exec(README);
    assert.ok(sim, 'the README shows the simulate command');
    const bin = path.resolve(h.REPO_ROOT, process.env.MOONBASE_BIN || 'build/moonbase');
    const s = await sh(`${sim[1].replace('build/moonbase', bin)} --scripts ${dir}`, {});
    assert.equal(s.code, 0, s.stderr);
    const lines = s.stdout.trim().split('\n').map((l) => JSON.parse(l));
    // two states, then tick 3 finishes the match (no state after the finish)
    assert.deepEqual(lines.slice(0, -1).map((l) => l.flips), [1, 2]);
    assert.equal(typeof lines.at(-1).finished.heads, 'boolean');
  });
});
