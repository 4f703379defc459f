'use strict';
// A match script that errors, loops forever or exhausts memory in each callback: only its
// match ends (issue 9 "Faults"; docs/LUA_API.md §5). Every callback in turn — init (POST
// /v1/matches -> 500), join_attempt, join, leave, start, input, tick, get_state, terminate,
// vote_result — fails in each of the three ways; the players get match.finished
// {result: {error}}, the match is stored with reason "error", a neighbour arena match keeps
// ticking and the server keeps answering. Then SIGTERM with a running match: the players get
// match.finished {reason: "shutdown"} and close 1001, exit 0, and a second server on the same
// database reads the match back as finished with reason "shutdown".
// Test mode: tests/integration/scripts/modes/faulty.lua (params.where / params.what).
// Budgets are lowered for speed: --lua-time-ms 200, --lua-memory-mb 16.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const TIME_MS = 200;

const scriptsDir = () => h.scriptsDir(['faulty']);

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const ARGS = ['--lua-time-ms', String(TIME_MS), '--lua-memory-mb', '16', '--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000'];

const EXPECT = {
  error: (where) => new RegExp(`modes/faulty\\.lua:\\d+: fault in ${where}$`),
  // the loop runs inside fail(): the message names its line
  loop: () => new RegExp(`^time budget exceeded: \\S*modes/faulty\\.lua:\\d+: script timed out \\(limit ${TIME_MS} ms\\)$`),
  memory: () => /^memory budget exceeded: not enough memory/,
};

const { waitFor } = h;

describe('script faults: only the failing match ends', () => {
  let server;
  let dir;
  let n1;
  let n2;
  let neighbour;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = scriptsDir();
    server = await h.startServer({ scripts: dir, args: ARGS });
    n1 = await player();
    n2 = await player();
    const res = await server.http('POST', '/v1/matches', { mode: 'arena', params: { round_ms: 600000 } }, bearer(n1));
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

  async function serverAndNeighbourAlive() {
    assert.equal((await server.http('GET', '/healthz')).status, 200);
    n1.ws.buffer.length = 0;
    const a = await n1.ws.next('match.state', 2000);
    const b = await n1.ws.next('match.state', 2000);
    assert.equal(b.payload.tick, a.payload.tick + 1, 'the neighbour ticks on');
    assert.equal((await n2.ws.request('match.input', { action: 'move', x: 3, y: 4 })).type, 'match.input_ack');
    n1.ws.buffer.length = 0;
  }

  async function storedAsError(id, who, error) {
    const stored = await waitFor('the stored match', async () => {
      const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(who));
      return r.status === 200 && r.json.ticks !== undefined ? r.json : null;
    });
    assert.equal(stored.status, 'finished');
    assert.equal(stored.reason, 'error');
    assert.equal(stored.result.error, error);
  }

  for (const what of ['error', 'loop', 'memory']) {
    it(`init, ${what}: POST /v1/matches -> 500 naming the failure; nothing is listed; the server keeps serving`, async () => {
      const a = await player();
      const before = (await server.http('GET', '/v1/matches?mode=faulty', undefined, bearer(a))).json.matches.length;
      const res = await server.http('POST', '/v1/matches', { mode: 'faulty', params: { where: 'init', what } }, bearer(a));
      assert.equal(res.status, 500, res.text);
      assert.equal(res.json.error.code, 'internal');
      assert.match(res.json.error.message, /^mode 'faulty' init failed: /);
      if (what === 'error') assert.match(res.json.error.message, /fault in init$/);
      await server.waitForLog(/event=match_init_failed mode=faulty /, 2000);
      assert.equal((await server.http('GET', '/v1/matches?mode=faulty', undefined, bearer(a))).json.matches.length, before);
      // the mode still works with other params
      const ok = await server.http('POST', '/v1/matches', { mode: 'faulty', params: { where: 'none' } }, bearer(a));
      assert.equal(ok.status, 201, ok.text);
      await serverAndNeighbourAlive();
    });

    for (const where of ['join_attempt', 'join', 'leave', 'start', 'input', 'tick', 'get_state', 'terminate', 'vote_result']) {
      // terminate runs once the match is already finishing: its failure is logged, and the
      // match ends with the result the script gave to match:finish (reason "finished").
      const term = where === 'terminate';
      it(`${where}, ${what}: only that match ends (${term ? 'with its own result; the failure is logged' : 'match.finished {result: {error}}, stored with reason "error"'})`, async () => {
        const [a, b] = [await player(), await player()];
        const res = await server.http('POST', '/v1/matches', { mode: 'faulty', params: { where, what } }, bearer(a));
        assert.equal(res.status, 201, res.text);
        const id = res.json.match_id;
        await a.ws.ok('match.join', { match_id: id });
        let watchers = [a, b];
        if (where === 'join_attempt' || where === 'join') {
          // the second join fails: the joiner gets an error, the seated player match.finished
          const j = await b.ws.request('match.join', { match_id: id });
          assert.equal(j.type, 'error', JSON.stringify(j));
          assert.equal(j.payload.code, 'internal');
          assert.match(j.payload.message, /the match script failed/);
          watchers = where === 'join' ? [a, b] : [a];
        } else if (where === 'start') {
          await b.ws.request('match.join', { match_id: id }); // start runs after the reply
        } else {
          await b.ws.ok('match.join', { match_id: id });
          await a.ws.next('match.started', 3000);
          if (where === 'leave') {
            const l = await b.ws.request('match.leave', {});
            assert.equal(l.type, 'match.left', JSON.stringify(l));
            watchers = [a];
          } else if (where === 'input') await a.ws.ok('match.input', { action: 'fault' });
          else if (where === 'tick' || where === 'get_state') await a.ws.ok('match.input', { action: 'arm' });
          else if (where === 'terminate') await a.ws.ok('match.input', { action: 'finish' });
          else if (where === 'vote_result') {
            await a.ws.ok('match.input', { action: 'vote' });
            await a.ws.next('match.vote_start', 3000);
            await a.ws.next('match.vote_result', 3000);
          }
        }
        const fins = [];
        for (const p of watchers) fins.push((await p.ws.next('match.finished', 5000)).payload);
        for (const f of fins) {
          assert.equal(f.match_id, id);
          if (term) assert.deepEqual(f.result, { by: a.player_id }, JSON.stringify(f));
          else {
            assert.deepEqual(Object.keys(f.result), ['error'], JSON.stringify(f));
            assert.match(f.result.error, EXPECT[what](where), `${where}/${what}: ${f.result.error}`);
          }
          assert.deepEqual(f, fins[0]);
        }
        // exactly one match.finished per player, and nothing from the match after it: once a join
        // says not_found the match is gone, and each socket's reply comes after anything the match
        // had sent it
        for (const p of watchers) {
          await h.waitFor('the match is gone', async () => {
            const r = await p.ws.request('match.join', { match_id: id });
            return r.type === 'error' && r.payload.code === 'not_found';
          }, 10000);
        }
        for (const p of watchers) {
          const rec = p.ws.received;
          assert.equal(rec.filter((m) => m.type === 'match.finished').length, 1, `${where}/${what}: match.finished count`);
          const i = rec.findIndex((m) => m.type === 'match.finished');
          assert.ok(rec.slice(i + 1).every((m) => !/^match\.(state|started|message)$/.test(m.type)), 'silence after match.finished');
        }
        await server.waitForLog(new RegExp(`event=match_script_error match=${id} mode=faulty `), 2000);
        // the match is gone
        const again = await a.ws.request('match.join', { match_id: id });
        assert.equal(again.payload.code, 'not_found');
        assert.equal((await a.ws.request('match.input', { action: 'arm' })).payload.code, 'not_found');
        if (term) {
          const stored = await waitFor('the stored match', async () => {
            const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
            return r.status === 200 && r.json.ticks !== undefined ? r.json : null;
          });
          assert.equal(stored.reason, 'finished');
          assert.deepEqual(stored.result, { by: a.player_id });
        } else await storedAsError(id, a, fins[0].result.error);
        await serverAndNeighbourAlive();
      });
    }
  }

  it('after all of it: healthy, the neighbour still runs, the Lua memory is back down', async () => {
    await serverAndNeighbourAlive();
    const list = await server.http('GET', '/v1/matches?mode=arena', undefined, bearer(n1));
    assert.ok(list.json.matches.some((m) => m.match_id === neighbour && m.status === 'running'));
    const metrics = (await server.http('GET', '/metrics')).text;
    const mem = Number(/^moonbase_lua_memory_bytes (\S+)$/m.exec(metrics)[1]);
    assert.ok(mem < 8 * 1024 * 1024, `moonbase_lua_memory_bytes ${mem}`);
  });
});

describe('SIGTERM with a running match', () => {
  let dir;
  const servers = [];
  before(() => {
    dir = scriptsDir();
  });
  after(async () => {
    for (const s of servers) if (s.running) await s.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('players get match.finished {reason: "shutdown"} and close 1001, exit 0, terminate ran, the match is stored as finished/shutdown', async () => {
    const server = await h.startServer({ scripts: dir, args: ARGS });
    servers.push(server);
    const a = await h.authed(server);
    const b = await h.authed(server);
    const res = await server.http('POST', '/v1/matches', { mode: 'faulty', params: { where: 'none' } }, bearer(a));
    assert.equal(res.status, 201, res.text);
    const id = res.json.match_id;
    await a.ws.ok('match.join', { match_id: id });
    await b.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started', 3000);
    await a.ws.next('match.state', 2000);

    const t0 = Date.now();
    const code = await server.stop('SIGTERM', 15000);
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 10000, `stopped in ${Date.now() - t0} ms`);
    for (const p of [a, b]) {
      const closed = await p.ws.waitClosed(3000);
      assert.equal(closed.code, 1001);
      const fin = p.ws.received.filter((m) => m.type === 'match.finished');
      assert.equal(fin.length, 1, 'one match.finished');
      assert.deepEqual(fin[0].payload, { match_id: id, result: { reason: 'shutdown' } });
    }
    assert.match(server.logs(), new RegExp(`event=match_log match=${id} mode=faulty .*terminate\\s+shutdown`), 'terminate(match, state, "shutdown") ran');

    // a second server on the same database and data dir (same development key: the token works)
    const second = await h.startServer({ scripts: dir, args: ARGS, databaseUrl: server.databaseUrl, dataDir: server.dataDir });
    servers.push(second);
    const r = await second.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'finished');
    assert.equal(r.json.reason, 'shutdown');
    assert.deepEqual(r.json.result, { reason: 'shutdown' });
    assert.deepEqual(r.json.players.map((p) => [p.player_id, p.reason]), [[a.player_id, 'shutdown'], [b.player_id, 'shutdown']]);
    assert.equal(await second.stop(), 0);
  });
});
