'use strict';
// Seeded math.random (docs/LUA_API.md "Randomness and replays", docs/REST.md POST /v1/matches):
// every match VM is seeded from libsodium unless a seed is given; match.seed shows it;
// `simulate --seed N` and POST /v1/matches {"seed": N} (development mode, or the admin route)
// replay the same draws. Test modes: rng (draws in init and every tick), coinflip (the README's).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const h = require('./harness');
const { simulate, run } = require('../lua/simulate');

const MAX_SEED = 9007199254740991; // 2^53 - 1

const { scriptsDir } = h;

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const admin = (server) => ({ authorization: `Bearer ${server.adminToken}` });

function assertHttpError(res, status, code, re) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error.code, code, res.text);
  if (re) assert.match(res.json.error.message, re);
}

/** The state a player sees on joining (get_state of the match, with its seed). */
async function joinedState(p, matchId) {
  const j = await p.ws.ok('match.join', { match_id: matchId });
  await p.ws.ok('match.leave', {});
  return j.state;
}

describe('seeded math.random (development mode)', () => {
  let server;
  let dir;
  let p;
  before(async () => {
    dir = scriptsDir(['rng', 'coinflip', 'boom']);
    server = await h.startServer({ scripts: dir });
    p = await h.authed(server);
  });
  after(async () => {
    if (p && p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('two live matches without a seed draw different numbers and have different seeds', async () => {
    const states = [];
    for (let i = 0; i < 3; i++) {
      const c = await server.http('POST', '/v1/matches', { mode: 'rng' }, bearer(p));
      assert.equal(c.status, 201, c.text);
      assert.equal(c.json.seed, undefined, 'no seed in the reply when none was asked for');
      const st = await joinedState(p, c.json.match_id);
      assert.ok(Number.isSafeInteger(st.seed) && st.seed >= 0 && st.seed <= MAX_SEED, `seed ${st.seed}`);
      // the admin view carries the seed too (for a replay)
      const a = await server.http('GET', `/v1/admin/matches/${c.json.match_id}`, undefined, admin(server));
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.seed, st.seed);
      assert.match(server.logs(), new RegExp(`event=match_created match=${c.json.match_id} mode=rng version=\\d+ seed=${st.seed}`));
      states.push(st);
    }
    // LuaJIT's unseeded generator starts every VM at the same place ([794207, 698853] for
    // math.random(1000000)): three matches with equal first draws would mean it still does
    assert.notDeepEqual(states[0].first, states[1].first);
    assert.notDeepEqual(states[1].first, states[2].first);
    assert.notEqual(states[0].seed, states[1].seed);
    // the listing does not show the seed (it predicts every draw)
    const list = await server.http('GET', '/v1/matches?mode=rng', undefined, bearer(p));
    assert.equal(list.status, 200);
    assert.ok(list.json.matches.length >= 3);
    for (const m of list.json.matches) assert.equal(m.seed, undefined);
  });

  it('POST /v1/matches {"seed": N} replays: same draws in two live matches and in simulate --seed N', async () => {
    const seeds = [0, 42, MAX_SEED];
    for (const seed of seeds) {
      const a = await server.http('POST', '/v1/matches', { mode: 'rng', seed }, bearer(p));
      assert.equal(a.status, 201, a.text);
      assert.equal(a.json.seed, seed);
      const b = await server.http('POST', '/v1/matches', { mode: 'rng', seed }, bearer(p));
      const sa = await joinedState(p, a.json.match_id);
      const sb = await joinedState(p, b.json.match_id);
      assert.equal(sa.seed, seed);
      assert.deepEqual(sa.first, sb.first, `seed ${seed}: two live matches`);
      const sim = await simulate('rng', { players: 1, ticks: 1, scripts: dir, extra: ['--seed', String(seed)] });
      assert.equal(sim.code, 0, sim.stderr);
      assert.deepEqual(sim.states[0].first, sa.first, `seed ${seed}: simulate draws what the live match drew`);
      assert.equal(sim.states[0].seed, seed);
    }
    const s42 = await joinedState(p, (await server.http('POST', '/v1/matches', { mode: 'rng', seed: 42 }, bearer(p))).json.match_id);
    const s43 = await joinedState(p, (await server.http('POST', '/v1/matches', { mode: 'rng', seed: 43 }, bearer(p))).json.match_id);
    assert.notDeepEqual(s42.first, s43.first);
  });

  it('invalid seeds are 400 with the range; nothing is created', async () => {
    const before = (await server.http('GET', '/v1/matches?mode=rng', undefined, bearer(p))).json.matches.length;
    for (const seed of [-1, MAX_SEED + 1, 1.5, '42', null, true, [1], { n: 1 }]) {
      const r = await server.http('POST', '/v1/matches', { mode: 'rng', seed }, bearer(p));
      assertHttpError(r, 400, 'bad_request', /^field 'seed' must be an integer 0\.\.9007199254740991$/);
    }
    const after = (await server.http('GET', '/v1/matches?mode=rng', undefined, bearer(p))).json.matches.length;
    assert.equal(after, before);
  });

  it('server.lua is seeded too: the roll RPC draws anew after a reload (a new VM)', async () => {
    const rolls = async () => {
      const out = [];
      for (let i = 0; i < 8; i++) {
        const r = await server.http('POST', '/v1/rpc/roll', { sides: 1000 }, bearer(p));
        assert.equal(r.status, 200, r.text);
        out.push(r.json.value);
      }
      return out;
    };
    const first = await rolls();
    const reload = await server.http('POST', '/v1/admin/scripts/reload', undefined, admin(server));
    assert.equal(reload.status, 200, reload.text);
    const version = reload.json.server.version;
    assert.ok(version >= 2, JSON.stringify(reload.json.server));
    // an unseeded VM would start the same sequence again (probability 1000^-8 by chance)
    assert.notDeepEqual(await rolls(), first);
  });

  it('the README coinflip: unseeded live matches land on both sides; seeded ones replay simulate --seed', async () => {
    // simulate tells which side each seed lands on (tick 3 draws once)
    const side = {};
    for (let seed = 1; seed <= 12; seed++) {
      const r = await simulate('coinflip', { players: 2, ticks: 3, scripts: dir, extra: ['--seed', String(seed)] });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(typeof r.finished.heads, 'boolean');
      side[seed] = r.finished.heads;
    }
    const wanted = [Object.keys(side).find((s) => side[s]), Object.keys(side).find((s) => !side[s])];
    assert.ok(wanted[0] && wanted[1], `seeds 1..12 land on both sides: ${JSON.stringify(side)}`);
    const seeded = [];
    for (const s of wanted) {
      const c = await server.http('POST', '/v1/matches', { mode: 'coinflip', seed: Number(s) }, bearer(p));
      assert.equal(c.status, 201, c.text);
      seeded.push({ id: c.json.match_id, heads: side[s] });
    }
    // 16 unseeded matches (1 s ticks, 3 ticks each, all at once): all on one side has
    // probability 2^-15 if the draws are independent, 1 if every VM starts alike
    const ids = [];
    for (let i = 0; i < 16; i++) {
      const c = await server.http('POST', '/v1/matches', { mode: 'coinflip' }, bearer(p));
      assert.equal(c.status, 201, c.text);
      ids.push(c.json.match_id);
    }
    const result = async (id) => h.waitFor(`coinflip ${id} finished`, async () => {
      const r = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(p));
      return r.json.status === 'finished' && r.json.result;
    }, 20000, 200);
    const heads = [];
    for (const id of ids) heads.push((await result(id)).heads);
    assert.ok(heads.includes(true) && heads.includes(false), `16 live flips: ${heads}`);
    for (const s of seeded) assert.equal((await result(s.id)).heads, s.heads, 'the seeded live match lands where simulate did');
  });
});

describe('simulate --seed', () => {
  let dir;
  before(() => { dir = scriptsDir(['rng', 'boom']); });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('the same seed gives the same output in two runs; another seed another one', async () => {
    const a = await simulate('rng', { players: 2, ticks: 5, scripts: dir, extra: ['--seed', '1234'] });
    const b = await simulate('rng', { players: 2, ticks: 5, scripts: dir, extra: ['--seed', '1234'] });
    const c = await simulate('rng', { players: 2, ticks: 5, scripts: dir, extra: ['--seed', '1235'] });
    for (const r of [a, b, c]) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(r.states.length, 5);
    }
    // objects compared parsed: LuaJIT orders table keys differently in each process
    assert.deepEqual(a.lines, b.lines);
    assert.equal(a.states[0].seed, 1234);
    assert.notDeepEqual(a.states.map((s) => s.last), c.states.map((s) => s.last));
    // every tick draws a new number
    assert.equal(new Set(a.states.map((s) => s.last)).size, 5);
  });

  it('without --seed every run is different; a failing run prints its seed, and --seed replays it', async () => {
    const a = await simulate('rng', { players: 1, ticks: 2, scripts: dir });
    const b = await simulate('rng', { players: 1, ticks: 2, scripts: dir });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stderr, '', 'a run that succeeds prints nothing on stderr');
    assert.notEqual(a.states[0].seed, b.states[0].seed);
    assert.notDeepEqual(a.states[0].first, b.states[0].first);
    const replay = await simulate('rng', { players: 1, ticks: 2, scripts: dir, extra: ['--seed', String(a.states[0].seed)] });
    assert.deepEqual(replay.lines, a.lines);

    const boom = await simulate('boom', { players: 1, ticks: 5, scripts: dir, inputs: [{ tick: 2, player: 1, input: { action: 'arm' } }] });
    assert.equal(boom.code, 1);
    const m = /^simulate: seed (\d+) \(replay with --seed \1\)$/m.exec(boom.stderr);
    assert.ok(m, boom.stderr);
    const seeded = await simulate('boom', { players: 1, ticks: 5, scripts: dir, extra: ['--seed', m[1]], inputs: [{ tick: 2, player: 1, input: { action: 'arm' } }] });
    assert.equal(seeded.code, 1);
    assert.doesNotMatch(seeded.stderr, /replay with/, 'the seed was given: not repeated');
  });

  it('a bad --seed exits 2 with the range', async () => {
    for (const bad of ['-1', '9007199254740992', '1.5', 'x', '', '12x', '99999999999999999999999']) {
      const r = await run(['simulate', 'rng', '--ticks', '1', '--scripts', dir, '--seed', bad]);
      assert.equal(r.code, 2, `--seed ${JSON.stringify(bad)}`);
      assert.match(r.stderr, /^simulate: --seed must be an integer 0\.\.9007199254740991 \(got "/);
      assert.equal(r.stdout, '');
    }
  });
});

describe('seeds in production mode', () => {
  let server;
  let p;
  before(async () => {
    server = await h.startServer({
      args: ['--mode', 'production', '--jwt-secret', crypto.randomBytes(32).toString('hex')],
    });
    p = await h.authed(server);
  });
  after(async () => {
    if (p && p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('a player may not choose the seed (403); the admin may, on POST /v1/admin/matches', async () => {
    const r = await server.http('POST', '/v1/matches', { mode: 'arena', seed: 7 }, bearer(p));
    assertHttpError(r, 403, 'forbidden',
      /^field 'seed' is accepted only in development mode or with the admin token \(POST \/v1\/admin\/matches\)$/);
    // even a malformed one: the permission is checked first
    assertHttpError(await server.http('POST', '/v1/matches', { mode: 'arena', seed: -3 }, bearer(p)), 403, 'forbidden');
    assert.deepEqual((await server.http('GET', '/v1/matches', undefined, bearer(p))).json.matches, [], 'nothing created');
    // without a seed a player creates as before, and does not learn the seed
    const plain = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(p));
    assert.equal(plain.status, 201, plain.text);
    assert.deepEqual(Object.keys(plain.json).sort(), ['match_id', 'mode', 'script_version']);

    const a = await server.http('POST', '/v1/admin/matches', { mode: 'arena', seed: 7, params: { round_ms: 5000 } }, admin(server));
    assert.equal(a.status, 201, a.text);
    assert.equal(a.json.seed, 7);
    const view = await server.http('GET', `/v1/admin/matches/${a.json.match_id}`, undefined, admin(server));
    assert.equal(view.json.seed, 7);
    // the admin route without a seed answers with the random one
    const b = await server.http('POST', '/v1/admin/matches', { mode: 'arena' }, admin(server));
    assert.equal(b.status, 201, b.text);
    assert.ok(Number.isSafeInteger(b.json.seed));
    assertHttpError(await server.http('POST', '/v1/admin/matches', { mode: 'arena', seed: 'x' }, admin(server)), 400, 'bad_request',
      /^field 'seed' must be an integer/);
    assertHttpError(await server.http('POST', '/v1/admin/matches', { mode: 'arena', seed: 1 }, bearer(p)), 401, 'unauthorized',
      /^admin token required$/);
  });
});
