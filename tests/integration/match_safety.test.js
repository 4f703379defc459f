'use strict';
// One match can never hurt another (docs/PROTOCOL.md "match.finished", docs/LUA_API.md):
// a script error, a runaway loop (in input, in tick, inside pcall) and a memory bomb each end
// only their own match with match.finished {result: {error}}, while a neighbour arena match
// keeps its tick rate; sandbox escapes fail inside a match script.
// Budgets are lowered for speed: --lua-time-ms 200, --lua-memory-mb 16.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');

const TIME_MS = 200;
const TEST_MODES = ['boom', 'spin', 'hog', 'sandbox'];

const scriptsDir = () => h.scriptsDir(TEST_MODES);

/** 1-based line of the first line of modes/<mode>.lua containing needle. */
function lineOf(mode, needle) {
  const lines = fs.readFileSync(path.join(__dirname, 'scripts', 'modes', `${mode}.lua`), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `${needle} in ${mode}.lua`);
  return i + 1;
}

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function metric(text, name) {
  const m = new RegExp(`^${esc(name)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

describe('match safety', () => {
  let server;
  let dir;
  let n1;
  let n2;
  let neighbour;
  const open = [];
  before(async () => {
    dir = scriptsDir();
    server = await h.startServer({
      scripts: dir,
      args: ['--lua-time-ms', String(TIME_MS), '--lua-memory-mb', '16', '--auth-rate', '100000'],
    });
    // the neighbour: an arena match (20 Hz) with two players, running all along
    n1 = await h.authed(server);
    n2 = await h.authed(server);
    open.push(n1, n2);
    const res = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(n1));
    assert.equal(res.status, 201, res.text);
    neighbour = res.json.match_id;
    await n1.ws.ok('match.join', { match_id: neighbour });
    await n2.ws.ok('match.join', { match_id: neighbour });
    await n1.ws.next('match.started', 3000);
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A player in a fresh match of mode (players.min 1: started at once). */
  async function solo(mode) {
    const p = await h.authed(server);
    open.push(p);
    const res = await server.http('POST', '/v1/matches', { mode }, bearer(p));
    assert.equal(res.status, 201, res.text);
    const joined = await p.ws.ok('match.join', { match_id: res.json.match_id });
    await p.ws.next('match.started', 3000);
    return { p, id: res.json.match_id, joined };
  }

  /** Count the neighbour's match.state messages (at n1) while fn runs and for windowMs in all. */
  async function neighbourTicks(windowMs, fn) {
    n1.ws.buffer.length = 0;
    const from = n1.ws.received.length;
    const first = await n1.ws.next('match.state', 2000);
    const t0 = Date.now();
    const result = await fn();
    const rest = windowMs - (Date.now() - t0);
    // a measurement window on purpose: the ticks counted over a fixed time are the result
    if (rest > 0) await h.sleep(rest);
    const states = n1.ws.received.slice(from).filter((m) => m.type === 'match.state' && m.payload.tick >= first.payload.tick);
    const ticks = states.filter((m) => m.payload.tick - first.payload.tick < (windowMs / 1000) * 20);
    n1.ws.buffer.length = 0;
    return { count: ticks.length, span: states.length ? states[states.length - 1].payload.tick - first.payload.tick : 0, result };
  }

  async function neighbourAlive() {
    n1.ws.buffer.length = 0;
    const a = await n1.ws.next('match.state', 2000);
    const b = await n1.ws.next('match.state', 2000);
    assert.equal(b.payload.tick, a.payload.tick + 1);
    assert.equal((await n2.ws.request('match.input', { action: 'move', x: 1, y: 1 })).type, 'match.input_ack');
  }

  it('a script error in tick ends only that match: match.finished {result: {error}} naming file:line', async () => {
    const { p, id } = await solo('boom');
    await p.ws.ok('match.input', { action: 'arm' });
    const fin = await p.ws.next('match.finished', 3000);
    assert.equal(fin.payload.match_id, id);
    assert.deepEqual(Object.keys(fin.payload.result), ['error']);
    const line = lineOf('boom', 'error("boom in tick")');
    assert.match(fin.payload.result.error, new RegExp(`modes/boom\\.lua:${line}: boom in tick$`));
    assert.ok(!fin.payload.result.error.includes('\n'), 'first line only: the traceback stays in the log');
    await neighbourAlive();
    // logged with match id, mode, version and the traceback
    const log = await server.waitForLog(new RegExp(`event=match_script_error match=${id} mode=boom version=1 tick=\\d+ error=.*boom in tick`), 2000);
    assert.match(log, /stack traceback/);
    // stored like any finished match, reason "error"
    const stored = await h.waitFor('the stored match', async () => {
      const r = (await server.http('GET', `/v1/matches/${id}`, undefined, bearer(p))).json;
      return r && r.ticks !== undefined ? r : null;
    }, 10000);
    assert.equal(stored.status, 'finished');
    assert.equal(stored.reason, 'error');
    assert.equal(stored.result.error, fin.payload.result.error);
  });

  it('a script error in input ends only that match', async () => {
    const { p, id } = await solo('boom');
    await p.ws.ok('match.input', { action: 'boom' });
    const fin = await p.ws.next('match.finished', 3000);
    assert.equal(fin.payload.match_id, id);
    assert.match(fin.payload.result.error, new RegExp(`modes/boom\\.lua:${lineOf('boom', 'error("boom in input")')}: boom in input$`));
    await neighbourAlive();
  });

  // the message names the line that looped (with pcall: the first abort, which pcall caught)
  const budget = (line) => new RegExp(`^time budget exceeded: \\S*modes/spin\\.lua:${line}: script timed out \\(limit ${TIME_MS} ms\\)$`);
  for (const [name, action, where, loopLine] of [
    ['while true do end in input', 'spin', 'input', lineOf('spin', 'if input.action == "spin" then') + 1],
    ['while true do end inside pcall in input', 'pcall_spin', 'input', lineOf('spin', 'pcall(function() while true do end end)')],
    ['while true do end in tick', 'arm', 'tick', lineOf('spin', 'while true do i = i + 1 end')],
  ]) {
    const re = budget(loopLine);
    it(`${name}: only that match ends (time budget) and the neighbour keeps its tick rate`, async (t) => {
      const { p, id } = await solo('spin');
      const before = (await server.http('GET', '/metrics')).text;
      const { count, span, result: fin } = await neighbourTicks(2000, async () => {
        await p.ws.ok('match.input', { action });
        return p.ws.next('match.finished', 3000);
      });
      assert.equal(fin.payload.match_id, id);
      assert.match(fin.payload.result.error, re, `${where}: ${fin.payload.result.error}`);
      // the log line has the traceback, which names the looping line
      const log = await server.waitForLog(new RegExp(`event=match_script_error match=${id} mode=spin `), 2000);
      assert.match(log, new RegExp(`modes/spin\\.lua:${loopLine}:`), log);
      // 20 Hz for 2 s: 40 ticks; the loop stalled the process for at most the budget and the
      // neighbour caught up with back-to-back ticks
      t.diagnostic(`neighbour: ${count} states in 2 s (span ${span} ticks)`);
      assert.ok(count >= 36, `neighbour sent ${count} states in 2 s (span ${span} ticks)`);
      const afterText = (await server.http('GET', '/metrics')).text;
      const late = (t) => metric(t, 'moonbase_tick_lateness_seconds_bucket{le="+Inf"}') - metric(t, 'moonbase_tick_lateness_seconds_bucket{le="0.5"}');
      assert.equal(late(afterText) - late(before), 0, 'no tick ran more than 0.5 s late');
      assert.ok(metric(afterText, 'moonbase_matches_failed_total') > metric(before, 'moonbase_matches_failed_total'));
      await neighbourAlive();
    });
  }

  it('a memory bomb (a table growing every tick) ends only its match (memory budget)', async () => {
    const { p, id } = await solo('hog');
    await p.ws.ok('match.input', { action: 'hog' });
    const fin = await p.ws.next('match.finished', 10000);
    assert.equal(fin.payload.match_id, id);
    assert.match(fin.payload.result.error, /^memory budget exceeded: not enough memory/);
    await neighbourAlive();
    // the VM is gone: Lua memory is back well under the cap
    let mem;
    await h.waitFor('moonbase_lua_memory_bytes under 8 MiB', async () => {
      mem = metric((await server.http('GET', '/metrics')).text, 'moonbase_lua_memory_bytes');
      return mem < 8 * 1024 * 1024;
    }, 10000).catch((e) => assert.fail(`${e.message}: moonbase_lua_memory_bytes ${mem}`));
  });

  it('sandbox escapes fail inside a match script; allowed calls work', async () => {
    const { joined } = await solo('sandbox');
    const { escapes, controls } = joined.state;
    const expected = {
      io_open: /attempt to index global 'io'/,
      io_via_G: /attempt to index field 'io'/,
      io_rawget: /no io/,
      os_execute: /attempt to call field 'execute'/,
      os_exit: /attempt to call field 'exit'/,
      os_getenv: /attempt to call field 'getenv'/,
      os_remove: /attempt to call field 'remove'/,
      os_tmpname: /attempt to call field 'tmpname'/,
      require_ffi: /module 'ffi' not found/,
      ffi_global: /attempt to index global 'ffi'/,
      require_native: /module 'socket\.core' not found/,
      require_io: /module 'io' not found/,
      require_path_escape: /invalid module name/,
      require_absolute: /invalid module name/,
      package_loadlib: /attempt to index global 'package'/,
      package_cpath: /attempt to index global 'package'/,
      load_bytecode: /binary \(bytecode\) chunks are not allowed/,
      loadstring_bytecode: /binary \(bytecode\) chunks are not allowed/,
      load_reader_bytecode: /binary \(bytecode\) chunks are not allowed/,
      string_dump: /attempt to call field 'dump'/,
      string_dump_method: /attempt to call field 'dump'/,
      debug_lib: /attempt to index global 'debug'/,
      debug_registry: /attempt to index global 'debug'/,
      jit_on: /attempt to index global 'jit'/,
      dofile: /attempt to call global 'dofile'/,
      loadfile: /attempt to call global 'loadfile'/,
      getfenv: /attempt to call global 'getfenv'/,
      setfenv: /attempt to call global 'setfenv'/,
      newproxy: /attempt to call global 'newproxy'/,
      module_fn: /attempt to call global 'module'/,
      string_metatable: /the string metatable is hidden/,
      string_metatable_replace: /table expected, got string/,
      collectgarbage_stop: /invalid option 'stop'/,
      moonbase_tamper: /module table is read-only/,
      moonbase_rpc: /only available in scripts\/server\.lua/,
    };
    assert.deepEqual(Object.keys(escapes).sort(), Object.keys(expected).sort());
    for (const [name, re] of Object.entries(expected)) {
      assert.equal(escapes[name].ok, false, `${name} must fail: ${JSON.stringify(escapes[name])}`);
      assert.match(escapes[name].value, re, name);
    }
    for (const [name, r] of Object.entries(controls)) assert.equal(r.ok, true, `${name}: ${JSON.stringify(r)}`);
    assert.equal(Object.keys(controls).length, 8);
    assert.ok(!fs.existsSync('/tmp/moonbase-sandbox-escaped'));
  });

  it('after all of it the server is healthy and the neighbour still runs', async () => {
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    await neighbourAlive();
    const list = await server.http('GET', '/v1/matches?mode=arena', undefined, bearer(n1));
    assert.ok(list.json.matches.some((m) => m.match_id === neighbour && m.status === 'running'));
  });
});
