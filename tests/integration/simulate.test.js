'use strict';
// `moonbase simulate` (docs/LUA_API.md "Try a mode offline"): the command-line contract:
// one JSON line per tick, a final {"finished": result} line, exit status and error messages.
// The example modes' rules are tested through it in tests/lua/.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { simulate, run, REPO_ROOT } = require('../lua/simulate');

function scriptsWith(modes) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
  fs.cpSync(path.join(REPO_ROOT, 'scripts'), dir, { recursive: true });
  for (const m of modes) fs.copyFileSync(path.join(__dirname, 'scripts', 'modes', `${m}.lua`), path.join(dir, 'modes', `${m}.lua`));
  return dir;
}

describe('moonbase simulate', () => {
  it('arena --players 2 --ticks 5 prints 5 JSON lines with increasing tick', async () => {
    const r = await simulate('arena', { players: 2, ticks: 5 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.equal(r.lines.length, 5);
    assert.deepEqual(r.lines.map((l) => l.tick), [1, 2, 3, 4, 5]);
    for (const l of r.lines) {
      assert.deepEqual(Object.keys(l.players).sort(), ['p1', 'p2']);
      assert.equal(l.players.p1.name, 'player1');
      assert.equal(l.started, true, 'all seats were reserved, so the match starts once both joined');
    }
    // the clock is simulated: 50 ms per tick at 20 Hz
    assert.equal(r.lines[0].time_left_ms - r.lines[1].time_left_ms, 50);
  });

  it('tictactoe with an inputs file to a win prints a final {"finished": {winner ...}} line', async () => {
    const moves = [[1, 1], [2, 4], [1, 2], [2, 5], [1, 3]];
    const r = await simulate('tictactoe', {
      players: 2,
      ticks: 20,
      inputs: moves.map(([player, cell], i) => ({ tick: i + 1, player, input: { action: 'place', cell } })),
    });
    assert.equal(r.code, 0, r.stderr);
    const last = r.lines[r.lines.length - 1];
    assert.deepEqual(Object.keys(last), ['finished']);
    assert.equal(last.finished.winner, 'p1');
    assert.equal(last.finished.mark, 'X');
    assert.deepEqual(last.finished.board, ['X', 'X', 'X', 'O', 'O', '', '', '', '']);
    // the winning tick prints no state line: the run stops when the match is over
    assert.deepEqual(r.states.map((s) => s.tick), [1, 2, 3, 4]);
  });

  it('"player_id" instead of "player" in the inputs file; --params goes to init', async () => {
    const r = await simulate('arena', {
      players: 2,
      ticks: 3,
      params: { round_ms: 60000 },
      inputs: [{ tick: 2, player_id: 'p2', input: { action: 'move', x: 40, y: 47, seq: 9 } }],
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.states[0].time_left_ms, 60000 - 50);
    assert.equal(r.states[0].players.p2.x, 33);
    assert.equal(r.states[1].players.p2.x, 40);
    assert.equal(r.states[1].players.p2.seq, 9);
  });

  it('a bad mode name exits 1 with a message on stderr and nothing on stdout', async () => {
    const r = await simulate('no_such_mode', { players: 2, ticks: 3 });
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^simulate: unknown mode 'no_such_mode'$/m);
  });

  it('usage errors exit 2: no mode, unknown flag, bad inputs line, missing inputs file, params not an object', async () => {
    let r = await run(['simulate']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /simulate: which mode\?/);
    r = await run(['simulate', 'arena', '--bogus']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /simulate: unexpected argument "--bogus"/);
    r = await simulate('arena', { inputs: ['{"tick": 1, "player": 1, "input": {}}', 'not json'] });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /inputs\.jsonl:2: need \{"tick": N, "player": K, "input": \{\.\.\.\}\}/);
    r = await simulate('arena', { inputs: ['{"tick": "1", "player": 1, "input": {}}'] });
    assert.equal(r.code, 2);
    r = await run(['simulate', 'arena', '--inputs', '/nonexistent/inputs.jsonl']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot open \/nonexistent\/inputs\.jsonl/);
    r = await simulate('arena', { params: '[1, 2]' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--params must be a JSON object/);
    r = await run(['simulate', 'arena', '--ticks', '-1']);
    assert.equal(r.code, 2);
    r = await run(['simulate', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: moonbase simulate <mode> --players N --ticks T/);
  });

  it('a script error: a {"finished": {"error": "file:line: ..."}} line and exit 1', async () => {
    const dir = scriptsWith(['boom']);
    try {
      const r = await simulate('boom', { players: 1, ticks: 10, scripts: dir, inputs: [{ tick: 3, player: 1, input: { action: 'arm' } }] });
      assert.equal(r.code, 1);
      assert.deepEqual(r.states.map((s) => s.tick), [1, 2]);
      assert.match(r.finished.error, /modes\/boom\.lua:\d+: boom in tick$/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a runaway loop is stopped by the default callback budget (50 ms), naming the looping line: exit 1', async () => {
    const dir = scriptsWith(['spin']);
    try {
      const t0 = Date.now();
      const r = await simulate('spin', { players: 1, ticks: 5, scripts: dir, inputs: [{ tick: 2, player: 1, input: { action: 'spin' } }] });
      assert.equal(r.code, 1);
      assert.match(r.finished.error, /^time budget exceeded: \S*modes\/spin\.lua:\d+: script timed out \(limit 50 ms\)$/);
      assert.ok(Date.now() - t0 < 10000);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('more players than seats: the extra ones are reported on stderr, the run goes on', async () => {
    const r = await simulate('tictactoe', { players: 3, ticks: 2 });
    assert.equal(r.code, 0);
    assert.match(r.stderr, /simulate: p3 could not join: match is full \(2 players\)/);
    assert.equal(r.states.length, 2);
    assert.deepEqual(r.states[0].order, ['p1', 'p2']);
  });

  it('needs no database and no network: runs with a --scripts folder from any directory', async () => {
    const r = await run(['simulate', 'tictactoe', '--players', '2', '--ticks', '2', '--scripts', path.join(REPO_ROOT, 'scripts')], { cwd: os.tmpdir() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.lines.length, 2);
  });
});
