'use strict';
// Lua call contexts (docs/LUA_API.md "Where each method may be called", issue 13 item 4):
// every method of `match` and every moonbase.* function with an effect declares the callbacks
// it may run in; a call from any other raises "<method> is not allowed in <callback>".
//  - The table below is the one of the docs. Mode ctxprobe (tests/integration/scripts/modes)
//    calls every method under pcall from the callback named by params.ctx and logs one line per
//    method; every cell is checked: refused cells with the exact error text, allowed cells
//    answer without error. The match callbacks run under `moonbase simulate`; reload,
//    moonbase.notify (social module), the load context and server.lua's rpc/on_chat on a live
//    server.
//  - Regression of the get_state bug: match:broadcast / match:send inside get_state built the
//    message frame in the buffer the state was being rendered to, so match.state came out
//    corrupted (`":{"match_id"...}}{"tick":1,"n":1}`); the admin state view ran get_state's side
//    effects (and a get_state error there ended the match).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('./harness');
const { simulate } = require('../lua/simulate');

const METHODS = [
  'match:players', 'match:log', 'match:broadcast', 'match:send', 'match:set_label', 'match:after',
  'timer:cancel', 'match:vote_start', 'match:vote_close', 'match:start', 'match:kick', 'match:finish',
  'moonbase.notify',
];
const EVENTS = ['join_attempt', 'join', 'leave', 'start', 'input', 'tick', 'timer', 'vote_result', 'vote_vetoed'];
const MATCH_CONTEXTS = ['init', ...EVENTS, 'get_state', 'terminate', 'reload'];
// method -> contexts where it is allowed (docs/LUA_API.md; everything else is refused)
const ALLOWED = {
  'match:players': MATCH_CONTEXTS,
  'match:log': MATCH_CONTEXTS,
  'match:broadcast': [...EVENTS, 'terminate'],
  'match:send': [...EVENTS, 'terminate'],
  'match:set_label': ['init', ...EVENTS, 'terminate'],
  'match:after': ['init', ...EVENTS],
  'timer:cancel': ['init', ...EVENTS, 'terminate'],
  'match:vote_start': EVENTS,
  'match:vote_close': EVENTS,
  'match:start': ['init', ...EVENTS],
  'match:kick': EVENTS,
  'match:finish': EVENTS,
  'moonbase.notify': ['init', ...EVENTS, 'terminate', 'matchmaker_matched', 'rpc', 'on_chat'],
  'moonbase.rpc': ['load'],
  'moonbase.on_chat': ['load'],
};
const allowed = (method, ctx) => ALLOWED[method].includes(ctx);
const refusal = (method, ctx) => `${method} is not allowed in ${ctx}`;
// an error raised by a method called with `:` from a script line carries that line
const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const refusedRe = (method, ctx) => new RegExp(`^(?:\\S+:\\d+: )?${escape(refusal(method, ctx))}$`);

/** probe lines of a log text: Map "ctx|method" -> result ("ok" or the error). */
function probes(text) {
  const out = new Map();
  for (const m of text.matchAll(/msg="probe\|([a-z_]+)\|([a-z:._]+)\|((?:[^"\\]|\\.)*)"/g)) {
    out.set(`${m[1]}|${m[2]}`, JSON.parse(`"${m[3]}"`));
  }
  return out;
}

function checkCell(got, ctx, method) {
  const r = got.get(`${ctx}|${method}`);
  assert.notEqual(r, undefined, `${method} was not probed in ${ctx}`);
  if (allowed(method, ctx)) assert.equal(r, 'ok', `${method} in ${ctx} is allowed`);
  else assert.match(r, refusedRe(method, ctx), `${method} in ${ctx} is refused`);
}

const scriptsDir = (testModes, serverLua) => h.scriptsDir(testModes, serverLua === undefined ? {} : { 'server.lua': serverLua });
const SCRIPTS = path.join(__dirname, 'scripts');

describe('Lua call contexts: the methods x callbacks table under simulate', () => {
  // every callback simulate can reach (reload needs a server: below)
  const SIM_CONTEXTS = MATCH_CONTEXTS.filter((c) => c !== 'reload');
  const inputs = [
    { tick: 1, player: 1, input: { probe: true } },
    { tick: 1, player: 1, veto: {} }, // vetoes the vote ctxprobe opens in start for vote_vetoed (else rejected, ignored)
  ];
  for (const ctx of SIM_CONTEXTS) {
    it(`every method called from ${ctx}`, async () => {
      const r = await simulate('ctxprobe', { players: 2, ticks: 3, scripts: SCRIPTS, params: { ctx }, inputs });
      const got = probes(r.stderr);
      // moonbase.notify belongs to the social module, which simulate does not load: live server below
      for (const method of METHODS.filter((m) => m !== 'moonbase.notify')) checkCell(got, ctx, method);
      const refused = METHODS.filter((m) => m !== 'moonbase.notify' && !allowed(m, ctx));
      if (ctx === 'get_state') assert.deepEqual(refused.sort(), METHODS.filter((m) => !['match:players', 'match:log', 'moonbase.notify'].includes(m)).sort(), 'get_state may only read');
    });
  }

  it('get_state bug: broadcast/send inside get_state are refused and every printed line is intact JSON', async () => {
    const r = await simulate('gsbroadcast', { players: 1, ticks: 3, scripts: SCRIPTS });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.lines.length, 3);
    for (const [i, l] of r.lines.entries()) {
      assert.equal(l.unparsed, undefined, `line ${i + 1} is JSON`);
      assert.deepEqual(Object.keys(l).sort(), ['broadcast', 'n', 'send', 'tick', 'viewer']);
      assert.equal(l.tick, i + 1);
      assert.equal(l.n, i + 1);
      assert.match(l.broadcast, refusedRe('match:broadcast', 'get_state'));
      assert.match(l.send, refusedRe('match:send', 'get_state'));
    }
    assert.doesNotMatch(r.stdout, /match_id/, 'no message frame leaked into a state line');
  });

  it('an unprotected refused call in get_state fails the match with the error naming method and callback', async () => {
    const r = await simulate('gsbroadcast', { players: 1, ticks: 3, scripts: SCRIPTS, params: { raise: true } });
    assert.equal(r.code, 1);
    assert.match(r.finished.error, /gsbroadcast\.lua:\d+: match:finish is not allowed in get_state$/);
  });
});

describe('Lua call contexts on a live server', () => {
  const ADMIN_TOKEN = 'context-admin-token-0123456789';
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
  const SERVER_LUA = `
local moonbase = require("moonbase")
local UUID = "00000000-0000-4000-8000-000000000002"
local function try(f, ...) local ok, err = pcall(f, ...) return ok and "ok" or tostring(err) end
local at_load = {
  notify = try(moonbase.notify, UUID, "probe", "Probe", {}),
}
local in_chat = {}
local function probe_all()
  return {
    rpc = try(moonbase.rpc, "late", function() return {} end),
    on_chat = try(moonbase.on_chat, function(ctx, ch, c) return c end),
    notify = try(moonbase.notify, UUID, "probe", "Probe", {}),
  }
end
moonbase.rpc("probe", function(ctx, p) return probe_all() end)
moonbase.rpc("load_probe", function(ctx, p) return at_load end)
moonbase.rpc("chat_probe", function(ctx, p) return in_chat end)
moonbase.on_chat(function(ctx, channel_id, content)
  in_chat = probe_all()
  return content
end)
`;
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = scriptsDir(['ctxprobe', 'gsbroadcast'], SERVER_LUA);
    server = await h.startServer({ scripts: dir, adminToken: ADMIN_TOKEN });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const create = async (who, mode, params) => {
    const r = await server.http('POST', '/v1/matches', { mode, params }, bearer(who));
    assert.equal(r.status, 201, r.text);
    return r.json.match_id;
  };
  const probedIn = async (ctx) => {
    await server.waitForLog(new RegExp(`probe\\|${ctx}\\|moonbase\\.notify\\|`), 10000);
    return probes(server.logs());
  };

  it('get_state bug: players get intact match.state frames, no match.message; the error is in the state', async () => {
    const p = await player();
    const id = await create(p, 'gsbroadcast', {});
    const joined = await p.ws.ok('match.join', { match_id: id });
    assert.match(joined.state.broadcast, refusedRe('match:broadcast', 'get_state'));
    const st = await p.ws.next((m) => m.type === 'match.state' && m.payload.n >= 2, 5000);
    assert.equal(st.payload.viewer, p.player_id);
    assert.match(st.payload.send, refusedRe('match:send', 'get_state'));
    assert.deepEqual(p.ws.received.filter((m) => m.raw !== undefined), [], 'every frame is JSON');
    assert.deepEqual(p.ws.received.filter((m) => m.type === 'match.message'), [], 'get_state sent nothing');
    await p.ws.ok('match.leave', {});
  });

  it('the admin state view runs get_state without side effects: a refused call is logged, the match goes on', async () => {
    const p = await player();
    const id = await create(p, 'gsbroadcast', { raise: true }); // the nil-viewer view calls match:finish
    await p.ws.ok('match.join', { match_id: id });
    const from = server.logs().length;
    const res = await server.http('GET', `/v1/admin/matches/${id}`, undefined, admin);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.state, null, 'get_state failed: no state');
    assert.equal(res.json.status, 'running');
    const line = await server.waitForLog(/event=match_admin_state_failed/, 5000, { from });
    assert.match(line, /match:finish is not allowed in get_state/);
    // the match still runs: more ticks reach the player, and it is not finished
    const t0 = (await p.ws.next((m) => m.type === 'match.state', 5000)).payload.n;
    await p.ws.next((m) => m.type === 'match.state' && m.payload.n > t0 + 1, 5000);
    assert.deepEqual(p.ws.received.filter((m) => m.type === 'match.finished' || m.type === 'match.message'), []);
    const again = await server.http('GET', `/v1/admin/matches/${id}`, undefined, admin);
    assert.equal(again.status, 200, 'still live');
    // without the refused call the admin view answers the state, with the refusals in it
    const id2 = await create(p, 'gsbroadcast', {});
    const v = await server.http('GET', `/v1/admin/matches/${id2}`, undefined, admin);
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.state.viewer, 'none');
    assert.match(v.json.state.broadcast, refusedRe('match:broadcast', 'get_state'));
    await p.ws.ok('match.leave', {});
  });

  it('moonbase.notify: allowed in init, tick and terminate; refused in get_state and at the top level of a mode file', async () => {
    const p = await player();
    await create(p, 'ctxprobe', { ctx: 'init' });
    let got = await probedIn('init');
    assert.equal(got.get('init|moonbase.notify'), 'ok');
    assert.match(got.get('load|moonbase.notify') || '', refusedRe('moonbase.notify', 'load'));

    // tick and terminate run without players; get_state needs a viewer (the join reply renders one)
    await create(p, 'ctxprobe', { ctx: 'tick' });
    got = await probedIn('tick');
    checkCell(got, 'tick', 'moonbase.notify');
    await create(p, 'ctxprobe', { ctx: 'terminate' });
    got = await probedIn('terminate');
    for (const m of METHODS) checkCell(got, 'terminate', m);
    const gs = await create(p, 'ctxprobe', { ctx: 'get_state' });
    await p.ws.ok('match.join', { match_id: gs });
    got = await probedIn('get_state');
    for (const m of METHODS) checkCell(got, 'get_state', m);
    await p.ws.ok('match.leave', {});
  });

  it('matchmaker_matched: moonbase.notify is allowed in the matchmaker hook', async () => {
    const a = await player();
    const b = await player();
    for (const p of [a, b]) await p.ws.ok('matchmaker.add', { mode: 'ctxprobe', properties: {} });
    const matched = await a.ws.next('matchmaker.matched', 10000);
    assert.ok(matched.payload.match_id);
    const got = await probedIn('matchmaker_matched');
    checkCell(got, 'matchmaker_matched', 'moonbase.notify');
  });

  it('reload: a hot reload runs reload(match, state) where only reads are allowed', async () => {
    const p = await player();
    await create(p, 'ctxprobe', { ctx: 'reload' });
    const file = path.join(dir, 'modes', 'ctxprobe.lua');
    fs.writeFileSync(file, `${fs.readFileSync(file, 'utf8')}\n-- v2\n`);
    const got = await probedIn('reload');
    // no timer handle can exist in reload: the VM is new and a pending timer blocks hot reload
    for (const m of METHODS.filter((x) => x !== 'timer:cancel')) checkCell(got, 'reload', m);
  });

  it('server.lua: moonbase.rpc and on_chat only at load; moonbase.notify in handlers but not at load', async () => {
    const p = await player();
    const call = async (name) => {
      const r = await server.http('POST', `/v1/rpc/${name}`, {}, bearer(p));
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    assert.match((await call('load_probe')).notify, refusedRe('moonbase.notify', 'load'));
    const inRpc = await call('probe');
    assert.match(inRpc.rpc, refusedRe('moonbase.rpc', 'rpc'));
    assert.match(inRpc.on_chat, refusedRe('moonbase.on_chat', 'rpc'));
    assert.equal(inRpc.notify, 'ok');
    assert.equal((await server.http('POST', '/v1/rpc/late', {}, bearer(p))).status, 404, 'the refused registration did not happen');
    await p.ws.ok('chat.join', { channel_id: 'ctx' });
    p.ws.send({ type: 'chat.send', payload: { channel_id: 'ctx', content: 'hello' } });
    await p.ws.next('chat.message', 5000); // the filter ran before the message went out
    const inChat = await call('chat_probe');
    assert.match(inChat.rpc, refusedRe('moonbase.rpc', 'on_chat'));
    assert.match(inChat.on_chat, refusedRe('moonbase.on_chat', 'on_chat'));
    assert.equal(inChat.notify, 'ok');
  });
});
