'use strict';
// Admin history routes (docs/REST.md "Admin: match history and script errors"):
//   GET /v1/admin/history/matches?player=&mode=&limit=&before=   finished matches from PostgreSQL
//   GET /v1/admin/history/matches/{id}                           one of them, with its votes
//   GET /v1/admin/scripts/errors?mode=&limit=                    the last runtime errors per mode
// Three matches finish (a vote then match:finish, an admin end, a script error at a known line),
// then the routes are searched by player id, username prefix and mode, paged, and fed bad
// parameters; the error ring keeps the last 50 per mode.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const ADMIN_TOKEN = `admin-history-${crypto.randomBytes(12).toString('hex')}`;
const adm = { authorization: `Bearer ${ADMIN_TOKEN}` };
const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

// A test mode whose error line is known: input {"action": "boom"} fails at line BOOM_LINE inside
// explode(), called from M.input (so the traceback has both frames); params.init_boom fails init.
const OOPS = `local M = { tick_rate = 20, players = { min = 1, max = 4 } }
local function explode(what)
  error("kaboom: " .. what)
end
function M.init(match, params)
  if params.init_boom then explode("init") end
  return { winner = false }
end
function M.input(match, state, player, input)
  if input.action == "boom" then explode("input") end
  if input.action == "vote" then
    match:vote_start({ options = { { id = "a", label = "A" }, { id = "b", label = "B" } },
      method = "plurality", window_ms = 5000 })
  end
  if input.action == "finish" then match:finish({ winner = player.id, reason = "test" }) end
end
function M.vote_result(match, state, result) state.winner = result.winner end
function M.tick(match, state) end
function M.get_state(match, state) return { winner = state.winner } end
return M
`;
const BOOM_LINE = 3;

describe('admin: match history and script errors', () => {
  let server;
  let dir;
  const open = [];
  const ids = {};
  let alice, bob, carol;
  const player = async (username) => {
    const s = await h.authed(server, { username });
    open.push(s);
    return s;
  };
  const get = async (p) => server.http('GET', p, undefined, adm);
  const history = async (q = '') => {
    const res = await get(`/v1/admin/history/matches${q}`);
    assert.equal(res.status, 200, res.text);
    return res.json;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-history-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'modes', 'oops.lua'), OOPS);
    server = await h.startServer({ scripts: dir, args: ['--admin-token', ADMIN_TOKEN, '--auth-rate', '100000'] });
    const tag = crypto.randomBytes(3).toString('hex');
    alice = await player(`Alice_${tag}`);
    bob = await player(`bob_${tag}`);
    carol = await player(`carol_${tag}`);

    // 1. oops: alice and bob, a vote alice decides, then match:finish
    let res = await server.http('POST', '/v1/matches', { mode: 'oops' }, bearer(alice));
    assert.equal(res.status, 201, res.text);
    ids.voted = res.json.match_id;
    await alice.ws.ok('match.join', { match_id: ids.voted });
    await bob.ws.ok('match.join', { match_id: ids.voted });
    await alice.ws.ok('match.input', { action: 'vote' });
    const vs = await alice.ws.next('match.vote_start');
    await alice.ws.ok('vote.cast', { vote_id: vs.payload.vote_id, option_id: 'b' });
    await bob.ws.ok('vote.cast', { vote_id: vs.payload.vote_id, option_id: 'b' });
    await alice.ws.next('match.vote_result');
    await alice.ws.ok('match.input', { action: 'finish' });
    await alice.ws.next('match.finished');
    await alice.ws.ok('match.leave', {}).catch(() => {});

    // 2. arena: bob and carol, ended by the admin
    res = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(bob));
    ids.arena = res.json.match_id;
    await bob.ws.ok('match.join', { match_id: ids.arena });
    await carol.ws.ok('match.join', { match_id: ids.arena });
    res = await server.http('POST', `/v1/admin/matches/${ids.arena}/end`, undefined, adm);
    assert.equal(res.status, 200, res.text);
    await bob.ws.next('match.finished');

    // 3. oops: alice alone; the script fails at BOOM_LINE
    res = await server.http('POST', '/v1/matches', { mode: 'oops' }, bearer(alice));
    ids.failed = res.json.match_id;
    await alice.ws.ok('match.join', { match_id: ids.failed });
    await alice.ws.ok('match.input', { action: 'boom' });
    const fin = await alice.ws.next('match.finished');
    assert.match(fin.payload.result.error, /kaboom: input/);

    // finished matches are written to PostgreSQL asynchronously
    await h.waitFor('three matches stored', async () => (await history()).matches.length === 3, 10000);
  });

  after(async () => {
    for (const s of open) await s.ws.close().catch(() => {});
    if (server) await server.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('every route needs the admin token (401 without it, with a player token, with a wrong one)', async () => {
    for (const p of ['/v1/admin/history/matches', `/v1/admin/history/matches/${ids.voted}`, '/v1/admin/scripts/errors']) {
      for (const headers of [{}, bearer(alice), { authorization: 'Bearer not-the-admin-token-at-all' }]) {
        const res = await server.http('GET', p, undefined, headers);
        assert.equal(res.status, 401, `${p} ${JSON.stringify(headers)}`);
        assert.equal(res.json.error.message, 'admin token required');
      }
    }
  });

  it('lists finished matches newest first with mode, players, duration, result, reason and votes', async () => {
    const { matches, next_cursor } = await history();
    assert.deepEqual(matches.map((m) => m.match_id), [ids.failed, ids.arena, ids.voted]);
    assert.equal(next_cursor, null);
    for (let i = 1; i < matches.length; i++) assert.ok(matches[i - 1].finished_at >= matches[i].finished_at);
    const [failed, arena, voted] = matches;
    assert.equal(voted.mode, 'oops');
    assert.equal(voted.reason, 'finished');
    assert.deepEqual(voted.result, { winner: alice.player_id, reason: 'test' });
    assert.deepEqual(voted.players.map((p) => p.username).sort(), [alice.username, bob.username].sort());
    assert.ok(voted.duration_ms >= 0 && voted.duration_ms < 60000, `duration ${voted.duration_ms}`);
    assert.equal(voted.votes.length, 1);
    assert.equal(voted.votes[0].winner, 'b');
    assert.equal(voted.votes[0].outcome, 'closed');
    assert.equal(voted.votes[0].total_votes, 2);
    assert.equal(arena.mode, 'arena');
    assert.equal(arena.reason, 'ended');
    assert.deepEqual(arena.result, { reason: 'ended_by_admin' });
    assert.deepEqual(arena.votes, []);
    assert.equal(failed.reason, 'error');
    assert.match(failed.result.error, new RegExp(`oops\\.lua:${BOOM_LINE}: kaboom: input`));
  });

  it('searches by player id, by username prefix (any case) and by mode', async () => {
    const only = async (q) => (await history(q)).matches.map((m) => m.match_id);
    assert.deepEqual(await only(`?player=${alice.player_id}`), [ids.failed, ids.voted]);
    assert.deepEqual(await only(`?player=${alice.player_id.toUpperCase()}`), [ids.failed, ids.voted]);
    assert.deepEqual(await only(`?player=${encodeURIComponent(bob.username.slice(0, 6).toUpperCase())}`), [ids.arena, ids.voted]);
    assert.deepEqual(await only(`?player=${encodeURIComponent(carol.username)}`), [ids.arena]);
    assert.deepEqual(await only('?mode=arena'), [ids.arena]);
    assert.deepEqual(await only('?mode=oops'), [ids.failed, ids.voted]);
    assert.deepEqual(await only(`?mode=oops&player=${carol.player_id}`), []);
    assert.deepEqual(await only('?mode=tictactoe'), []);
    // LIKE wildcards are literal: "%" matches no username
    assert.deepEqual(await only('?player=%25'), []);
    assert.deepEqual(await only('?player=_'), []);
    assert.deepEqual(await only(`?player=${crypto.randomUUID()}`), []);
  });

  it('pages with limit and before=next_cursor until next_cursor is null', async () => {
    const seen = [];
    let cursor = null;
    for (let i = 0; i < 5; i++) {
      const page = await history(`?limit=1${cursor ? `&before=${cursor}` : ''}`);
      assert.ok(page.matches.length <= 1);
      seen.push(...page.matches.map((m) => m.match_id));
      cursor = page.next_cursor;
      if (!cursor) break;
      assert.equal(cursor, page.matches[0].match_id);
    }
    assert.deepEqual(seen, [ids.failed, ids.arena, ids.voted]);
    const two = await history('?limit=2&mode=oops');
    assert.deepEqual(two.matches.map((m) => m.match_id), [ids.failed, ids.voted]);
    assert.equal(two.next_cursor, null);
    const rest = await history(`?limit=2&before=${ids.failed}`);
    assert.deepEqual(rest.matches.map((m) => m.match_id), [ids.arena, ids.voted]);
  });

  it('GET /v1/admin/history/matches/{id}: params, players, votes with ballots; 404 / 400', async () => {
    const res = await get(`/v1/admin/history/matches/${ids.voted}`);
    assert.equal(res.status, 200, res.text);
    const m = res.json;
    assert.equal(m.match_id, ids.voted);
    assert.deepEqual(m.params, {});
    assert.equal(m.votes.length, 1);
    assert.equal(m.votes[0].result.winner, 'b');
    assert.equal(m.votes[0].spec.method, 'plurality');
    assert.ok(m.votes[0].closed_at >= m.votes[0].started_at);
    assert.ok(m.players.every((p) => p.joined_at && p.left_at));
    const missing = crypto.randomUUID();
    const nf = await get(`/v1/admin/history/matches/${missing}`);
    assert.equal(nf.status, 404);
    assert.equal(nf.json.error.message, `no finished match '${missing}'`);
    const bad = await get('/v1/admin/history/matches/not-a-uuid');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /match id must be a UUID/);
    // a live match is not history yet
    const live = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(carol));
    const lv = await get(`/v1/admin/history/matches/${live.json.match_id}`);
    assert.equal(lv.status, 404);
    assert.match(lv.json.error.message, /still live/);
    await server.http('POST', `/v1/admin/matches/${live.json.match_id}/end`, undefined, adm);
  });

  it('bad parameters get 400 with a message naming the parameter', async () => {
    const cases = [
      ['?limit=0', /^limit must be a whole number from 1 to 100/],
      ['?limit=101', /^limit must be a whole number from 1 to 100/],
      ['?limit=abc', /^limit must be a whole number from 1 to 100 \(got 'abc'\)/],
      ['?limit=2.5', /^limit must be a whole number/],
      ['?before=nope', /^before must be a match_id/],
      [`?before=${crypto.randomUUID()}`, /^before: no finished match/],
      ['?mode=has%20space', /^mode must be a mode name/],
      [`?mode=${'m'.repeat(65)}`, /^mode must be a mode name/],
      [`?player=${'p'.repeat(65)}`, /^player must be a player id or a username prefix/],
    ];
    for (const [q, re] of cases) {
      const res = await get(`/v1/admin/history/matches${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.json.error.code, 'bad_request');
      assert.match(res.json.error.message, re, q);
    }
    for (const [q, re] of [['?limit=51', /^limit must be a whole number from 1 to 50/], ['?mode=a/b', /^mode must be a mode name/]]) {
      const res = await get(`/v1/admin/scripts/errors${q}`);
      assert.equal(res.status, 400, q);
      assert.match(res.json.error.message, re);
    }
  });

  it('GET /v1/admin/scripts/errors: the runtime error with file:line, traceback and match id', async () => {
    const res = await get('/v1/admin/scripts/errors?mode=oops');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.capacity, 50);
    const [mode] = res.json.modes;
    assert.equal(mode.mode, 'oops');
    assert.equal(mode.total, 1);
    const e = mode.errors[0];
    assert.equal(e.match_id, ids.failed);
    assert.match(e.location, new RegExp(`modes/oops\\.lua:${BOOM_LINE}$`));
    assert.match(e.message, new RegExp(`oops\\.lua:${BOOM_LINE}: kaboom: input$`));
    assert.match(e.traceback, /^stack traceback:/);
    assert.match(e.traceback, /oops\.lua:10: in function/); // M.input, the caller
    assert.ok(e.at > Date.now() - 60000 && e.at <= Date.now());
    assert.equal(e.script_version, 1);
    const all = await get('/v1/admin/scripts/errors');
    assert.deepEqual(all.json.modes.map((m) => m.mode), ['oops']);
    const none = await get('/v1/admin/scripts/errors?mode=arena');
    assert.deepEqual(none.json.modes, [{ mode: 'arena', total: 0, errors: [] }]);
  });

  it('keeps the last 50 errors per mode, newest first (init failures count too)', async () => {
    for (let i = 0; i < 55; i++) {
      const res = await server.http('POST', '/v1/matches', { mode: 'oops', params: { init_boom: true, n: i } }, bearer(bob));
      assert.equal(res.status, 500);
    }
    const res = await get('/v1/admin/scripts/errors?mode=oops');
    const [mode] = res.json.modes;
    assert.equal(mode.total, 56);
    assert.equal(mode.errors.length, 50);
    assert.match(mode.errors[0].message, /kaboom: init$/);
    assert.equal(mode.errors[0].tick, 0);
    assert.ok(mode.errors.every((e) => e.match_id.length === 36 && e.match_id !== ids.failed), 'the oldest (the input error) was dropped');
    const few = await get('/v1/admin/scripts/errors?mode=oops&limit=3');
    assert.equal(few.json.modes[0].errors.length, 3);
    assert.deepEqual(few.json.modes[0].errors, mode.errors.slice(0, 3));
  });
});
