'use strict';
// moonbase.leaderboard.* from scripts (docs/LEADERBOARDS.md "From Lua", docs/LUA_API.md §4):
// create (idempotent, also at a file's top level), submit and every read from server.lua RPCs
// and from a running match; script writes are in memory at once and reach PostgreSQL through
// the ordered queue; failures are `nil, err` and bad arguments raise; the call contexts of
// §3.3 (submit refused in get_state and at a file's top level).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const h = require('./harness');

const SERVER_LUA = `
local moonbase = require("moonbase")
local lb = moonbase.leaderboard
-- top level (load): create is allowed and idempotent
local board, created = lb.create{ id = "from_load", sort = "asc", reset = "@daily", metadata = { kind = "laps" } }
moonbase.log("info", "from_load created=" .. tostring(created) .. " id=" .. tostring(board and board.id))
local ok, err = pcall(lb.submit, "from_load", "${crypto.randomUUID()}", 1)
moonbase.log("info", "load submit: " .. tostring(ok) .. " " .. tostring(err))

moonbase.rpc("lb_create", function(ctx, p)
  local b, created = lb.create{ id = p.id, operator = p.operator, sort = p.sort, client_submit = p.client_submit }
  if not b then return nil, created end
  return { board = b, created = created }
end)
moonbase.rpc("lb_submit", function(ctx, p)
  local r, err = lb.submit(p.id, p.owner or ctx.player_id, p.score, { subscore = p.subscore, metadata = p.metadata, username = ctx.username })
  if not r then return { err = err } end
  return { record = r }
end)
moonbase.rpc("lb_read", function(ctx, p)
  local out = {}
  out.top = lb.top(p.id, 10)
  out.around = lb.around(p.id, ctx.player_id, 1)
  out.records = lb.records(p.id, { ctx.player_id })
  out.rank = lb.rank(p.id, ctx.player_id)
  local none, why = lb.rank(p.id, "${crypto.randomUUID()}")
  out.none = { none == nil, why }
  local nb, nwhy = lb.top("no_such_board")
  out.nob = { nb == nil, nwhy }
  out.get = lb.get(p.id)
  return out
end)
moonbase.rpc("lb_bad", function(ctx, p)
  local ok, err = pcall(lb.submit, p.id, "not-a-uuid", 1)
  local ok2, err2 = pcall(lb.submit, p.id, ctx.player_id, 1.5)
  local ok3, err3 = pcall(lb.create, { id = "x", reset = "every day" })
  local ok4, err4 = pcall(function() lb.create = nil end)
  return { err, err2, err3, err4 }
end)
`;

const MODE_LUA = `
local moonbase = require("moonbase")
local lb = moonbase.leaderboard
local M = { tick_rate = 20, players = { min = 1, max = 4 } }
function M.init(match, params)
  lb.create{ id = "arena_kills", operator = "incr" }
  return { last = nil, gs_err = nil }
end
function M.input(match, state, player, input)
  local r, err = lb.submit("arena_kills", player.id, input.kills or 1)
  state.last = r and r.score or err
  state.rank = r and r.rank
end
function M.tick(match, state) end
function M.get_state(match, state, viewer)
  local ok, err = pcall(lb.submit, "arena_kills", "${crypto.randomUUID()}", 1)
  local top = lb.top("arena_kills", 3) -- reads are allowed everywhere
  return { last = state.last, rank = state.rank, gs_err = (not ok) and err or "allowed", top_n = #top.records }
end
return M
`;

describe('leaderboards from Lua', () => {
  let server;
  let dir;
  let p;
  const bearer = () => ({ authorization: `Bearer ${p.token}` });
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  const rpc = async (name, body) => {
    const r = await server.http('POST', `/v1/rpc/${name}`, body, bearer());
    assert.equal(r.status, 200, `${name}: ${r.text}`);
    return r.json;
  };
  const db = () => ({ database: new URL(server.databaseUrl).pathname.slice(1) });

  before(async () => {
    dir = h.scriptsDir([], { 'server.lua': SERVER_LUA, 'modes/lbmatch.lua': MODE_LUA });
    server = await h.startServer({ scripts: dir });
    p = await h.authed(server, { username: `lua_${Date.now() % 1e8}` });
  });
  after(async () => {
    if (p && p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('create at the top level of server.lua (idempotent), submit refused there', async () => {
    await server.waitForLog(/from_load created=true id=from_load/, 5000);
    assert.match(server.logs(), /load submit: false .*moonbase\.leaderboard\.submit is not allowed in load/);
    const r = await server.http('GET', '/v1/leaderboards/from_load', undefined, bearer());
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.leaderboard.sort, r.json.leaderboard.reset, r.json.leaderboard.metadata], ['asc', '@daily', { kind: 'laps' }]);
    assert.ok(r.json.next_reset);
    await h.waitFor('board row', async () => /from_load/.test(await h.sql('SELECT id FROM leaderboards', db())));
  });

  it('RPC: create, submit (in memory at once, durable through the queue) and every read', async () => {
    const c = await rpc('lb_create', { id: 'rpc_board', operator: 'best' });
    assert.equal(c.created, true);
    assert.equal(c.board.operator, 'best');
    assert.equal((await rpc('lb_create', { id: 'rpc_board', operator: 'set' })).created, false);
    const other = crypto.randomUUID();
    await rpc('lb_submit', { id: 'rpc_board', owner: other, score: 500 });
    const s = await rpc('lb_submit', { id: 'rpc_board', score: 300, subscore: 2, metadata: { lap: 3 } });
    assert.deepEqual([s.record.score, s.record.subscore, s.record.rank, s.record.metadata, s.record.username],
      [300, 2, 2, { lap: 3 }, p.username]);
    assert.equal((await rpc('lb_submit', { id: 'rpc_board', score: 100 })).record.score, 300); // best
    // a REST read sees it at once
    const rank = await server.http('GET', `/v1/leaderboards/rpc_board/records/${p.player_id}`, undefined, bearer());
    assert.equal(rank.json.record.rank, 2);
    // and PostgreSQL shortly after
    await h.waitFor('record row', async () =>
      /300\|2\|2/.test(await h.sql(`SELECT score || '|' || subscore || '|' || num_submits FROM leaderboard_records WHERE owner_id = '${p.player_id}'`, db())));
    const r = await rpc('lb_read', { id: 'rpc_board' });
    assert.deepEqual(r.top.records.map((x) => x.owner_id), [other, p.player_id]);
    assert.equal(r.top.leaderboard.id, 'rpc_board');
    assert.equal(r.top.next_reset, undefined); // JSON null is nil in Lua: no reset scheduled
    assert.deepEqual(r.around.records.map((x) => x.rank), [1, 2]);
    assert.equal(r.around.owner_rank, 2);
    assert.deepEqual(r.records.records.map((x) => x.rank), [2]);
    assert.equal(r.rank.rank, 2);
    assert.deepEqual(r.none, [true, 'no record']);
    assert.deepEqual(r.nob, [true, 'no such leaderboard']);
    assert.equal(r.get.total, 2);
    const miss = await rpc('lb_submit', { id: 'nope', score: 1 });
    assert.equal(miss.err, 'no such leaderboard');
  });

  it('bad arguments raise with the function name; the table is read-only', async () => {
    await rpc('lb_create', { id: 'bad_args' });
    const r = await rpc('lb_bad', { id: 'bad_args' });
    assert.match(r[0], /moonbase\.leaderboard\.submit: owner_id must be a player id/);
    assert.match(r[1], /moonbase\.leaderboard\.submit: score must be an integer/);
    assert.match(r[2], /moonbase\.leaderboard\.create: reset: minute field/);
    assert.match(r[3], /read-only/);
  });

  it('from a match: create in init, submit from input; refused in get_state, reads allowed there', async () => {
    const c = await server.http('POST', '/v1/matches', { mode: 'lbmatch' }, bearer());
    assert.equal(c.status, 201, c.text);
    await p.ws.ok('match.join', { match_id: c.json.match_id });
    await p.ws.ok('match.input', { kills: 3 });
    await p.ws.ok('match.input', { kills: 2 });
    const st = (await p.ws.next((m) => m.type === 'match.state' && m.payload.last === 5, 5000)).payload;
    assert.equal(st.rank, 1);
    assert.match(st.gs_err, /moonbase\.leaderboard\.submit is not allowed in get_state/);
    assert.equal(st.top_n, 1);
    const t = await server.http('GET', '/v1/admin/leaderboards/arena_kills', undefined, admin());
    assert.deepEqual(t.json.records.map((x) => [x.owner_id, x.score, x.num_submits]), [[p.player_id, 5, 2]]);
    await h.waitFor('match record row', async () =>
      /5/.test(await h.sql(`SELECT score FROM leaderboard_records WHERE leaderboard_id = 'arena_kills'`, db())));
  });
});
