'use strict';
// Matchmaking over the wire (docs/PROTOCOL.md §6, docs/LUA_API.md §6; issue 4 "Tests"):
// 20 clients with mixed skills and regions all end up in matches that respect the skill window
// and the `same` rule, join them and get match.started; matchmaker.remove; a closed socket
// drops its ticket; a ticket times out; every matchmaker.add error; GET /v1/matchmaker/stats;
// the M.matchmaker_matched hook (refusing a group, arranging teams).
// Test modes (tests/integration/scripts/modes): mm4 (2..4 players, window 100, same region,
// fill after 1.5 s), mmto (tickets live 800 ms), mmhook (hook refuses banned, teams by side).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const TEST_MODES = ['mm4', 'mmto', 'mmhook'];

const scriptsDir = () => h.scriptsDir(TEST_MODES);

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

function assertError(msg, code, requestType, messageRe) {
  assert.equal(msg.type, 'error', JSON.stringify(msg));
  assert.equal(msg.payload.code, code, JSON.stringify(msg));
  assert.equal(msg.payload.request_type, requestType);
  if (messageRe) assert.match(msg.payload.message, messageRe);
}

const { waitFor } = h;

describe('matchmaker', () => {
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  const stats = async (who) => {
    const r = await server.http('GET', '/v1/matchmaker/stats', undefined, bearer(who));
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  before(async () => {
    dir = scriptsDir();
    server = await h.startServer({ scripts: dir, args: ['--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000'] });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('20 clients, mixed skills and regions: groups within the window and one region; all join and start', async () => {
    // clusters more than 100 apart: each must become exactly one match (sizes 2, 3, 4: full
    // groups at once, the smaller ones after fill_after_ms)
    const clusters = [
      ['eu', [1000, 1030, 1060, 1090]],
      ['eu', [1500, 1550]],
      ['eu', [2000, 2040, 2080]],
      ['us', [1000, 1010, 1020, 1030]],
      ['us', [1400, 1450, 1480]],
      ['us', [1900, 1990]],
      ['us', [2500, 2550]],
    ];
    const wanted = [];
    for (const [region, skills] of clusters) for (const skill of skills) wanted.push({ region, skill });
    assert.equal(wanted.length, 20);
    // a fixed shuffle, so tickets of one cluster do not arrive together
    const order = wanted.map((w, i) => ({ w, k: (i * 7) % 20 })).sort((a, b) => a.k - b.k).map((x) => x.w);
    const ps = [];
    for (const w of order) ps.push({ ...(await player()), want: w });
    const before = (await stats(ps[0])).modes.mm4;
    assert.equal(before, undefined, 'no mm4 pool before the first ticket');
    for (const p of ps) {
      const t = await p.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: p.want.skill, region: p.want.region } });
      assert.equal(t.mode, 'mm4');
      p.ticket = t.ticket_id;
    }
    for (const p of ps) p.matched = (await p.ws.next('matchmaker.matched', 8000)).payload;

    const groups = new Map();
    for (const p of ps) {
      assert.equal(p.matched.ticket_id, p.ticket);
      if (!groups.has(p.matched.match_id)) groups.set(p.matched.match_id, []);
      groups.get(p.matched.match_id).push(p);
    }
    assert.equal(groups.size, clusters.length, 'one match per cluster');
    for (const [id, members] of groups) {
      const ids = members.map((m) => m.player_id).sort();
      for (const m of members) assert.deepEqual(m.matched.players.map((x) => x.player_id).sort(), ids, 'every member got the same players');
      const listed = members[0].matched.players;
      const regions = new Set(listed.map((x) => x.properties.region));
      const skills = listed.map((x) => x.properties.skill);
      assert.equal(regions.size, 1, `match ${id}: one region, got ${[...regions]}`);
      assert.ok(Math.max(...skills) - Math.min(...skills) <= 100, `match ${id}: spread of ${skills}`);
      assert.ok(listed.length >= 2 && listed.length <= 4);
      for (const x of listed) {
        const m = members.find((q) => q.player_id === x.player_id);
        assert.deepEqual(x, { player_id: m.player_id, username: m.username, properties: { skill: m.want.skill, region: m.want.region }, team: null });
      }
      // the partition is exactly the clusters
      const cl = clusters.find(([r, s]) => r === members[0].want.region && s.includes(members[0].want.skill));
      assert.deepEqual(skills.slice().sort((a, b) => a - b), cl[1]);
    }

    // everyone claims the reserved seat; each match starts once all its players joined
    for (const members of groups.values()) {
      for (const [i, m] of members.entries()) {
        const j = await m.ws.request('match.join', { match_id: m.matched.match_id });
        assert.equal(j.type, 'match.joined', JSON.stringify(j));
        assert.equal(j.payload.mode, 'mm4');
        assert.equal(j.payload.state.mm, true, 'the match was made with matchmaker params');
        assert.equal(j.payload.state.joined, i + 1);
      }
      for (const m of members) {
        const st = await m.ws.next('match.started', 3000);
        assert.equal(st.payload.match_id, m.matched.match_id);
        assert.deepEqual(st.payload.players.map((x) => x.player_id).sort(), members.map((x) => x.player_id).sort());
      }
    }
    const s = (await stats(ps[0])).modes.mm4;
    assert.equal(s.tickets, 0);
    assert.equal(s.matches_formed, clusters.length);
    assert.ok(s.mean_skill_spread > 0 && s.mean_skill_spread <= 100, `mean_skill_spread ${s.mean_skill_spread}`);
    assert.ok(s.mean_wait_ms >= 0);
    for (const p of ps) await p.ws.ok('match.leave', {});
  });

  it('matchmaker.remove -> matchmaker.removed {ticket_id, reason: "removed"}; someone else\'s or an unknown ticket -> not_found', async () => {
    const a = await player();
    const b = await player();
    const t = await a.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 5000, region: 'rm' } });
    assert.equal((await stats(a)).modes.mm4.tickets, 1);
    assertError(await b.ws.request('matchmaker.remove', { ticket_id: t.ticket_id }), 'not_found', 'matchmaker.remove', new RegExp(`no ticket '${t.ticket_id}' of yours`));
    assertError(await a.ws.request('matchmaker.remove', { ticket_id: '00000000-0000-4000-8000-000000000000' }), 'not_found', 'matchmaker.remove');
    assertError(await a.ws.request('matchmaker.remove', {}), 'bad_request', 'matchmaker.remove', /ticket_id/);
    const r = await a.ws.request('matchmaker.remove', { ticket_id: t.ticket_id });
    assert.deepEqual(r, { cid: r.cid, type: 'matchmaker.removed', payload: { ticket_id: t.ticket_id, reason: 'removed' } });
    assert.equal((await stats(a)).modes.mm4.tickets, 0);
    assertError(await a.ws.request('matchmaker.remove', { ticket_id: t.ticket_id }), 'not_found', 'matchmaker.remove');
    // the removed ticket never matches: a compatible ticket stays alone past fill_after_ms
    await b.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 5000, region: 'rm' } });
    await b.ws.expectNone('matchmaker.matched', 2000);
    await a.ws.expectNone('matchmaker.matched', 10);
    const bt = (await stats(b)).modes.mm4;
    assert.equal(bt.tickets, 1);
    assert.ok(bt.oldest_wait_ms >= 1900, `oldest_wait_ms ${bt.oldest_wait_ms}`);
    // and a second ticket for the same mode is a conflict, a new one after removal is fine
    assertError(await b.ws.request('matchmaker.add', { mode: 'mm4', properties: { skill: 1, region: 'x' } }), 'conflict', 'matchmaker.add',
      /already have a ticket for mode 'mm4'; remove it first/);
    const again = await a.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 5010, region: 'rm' } });
    const [ma, mb] = [await a.ws.next('matchmaker.matched', 3000), await b.ws.next('matchmaker.matched', 3000)];
    assert.equal(ma.payload.ticket_id, again.ticket_id);
    assert.equal(ma.payload.match_id, mb.payload.match_id);
  });

  it('a closed socket drops its ticket (silently); a compatible ticket then never matches it', async () => {
    const a = await player();
    const b = await player();
    await a.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 7000, region: 'gone' } });
    assert.equal((await stats(b)).modes.mm4.tickets, 1);
    const total = (await stats(b)).tickets;
    await a.ws.close();
    await waitFor('the ticket of the closed socket is gone', async () => (await stats(b)).modes.mm4.tickets === 0, 3000);
    assert.equal((await stats(b)).tickets, total - 1);
    const bt = await b.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 7000, region: 'gone' } });
    await b.ws.expectNone('matchmaker.matched', 2000);
    // a player with two sockets keeps the ticket while one remains
    const c = await player();
    const ws2 = await server.ws();
    await ws2.ok('session.connect', { token: c.token });
    open.push({ ws: ws2 });
    const ct = await c.ws.ok('matchmaker.add', { mode: 'mmto', properties: { skill: 1 } });
    await h.closeSession(server, ws2, c.player_id); // the server has run its close handlers
    assert.equal((await stats(b)).modes.mmto.tickets, 1, 'still one socket: the ticket stays');
    const rm = await c.ws.ok('matchmaker.remove', { ticket_id: ct.ticket_id });
    assert.equal(rm.reason, 'removed');
    assert.equal((await stats(b)).modes.mm4.tickets, 1, "b's ticket waits alone");
    await b.ws.ok('matchmaker.remove', { ticket_id: bt.ticket_id });
  });

  it('a ticket times out: matchmaker.removed {ticket_id, mode, reason: "timeout"} as an event', async () => {
    const a = await player();
    const t0 = Date.now();
    const t = await a.ws.ok('matchmaker.add', { mode: 'mmto', properties: { skill: 100 } });
    const ev = await a.ws.next('matchmaker.removed', 3000);
    const waited = Date.now() - t0;
    assert.equal(ev.cid, undefined, 'an event, not a reply');
    assert.deepEqual(ev.payload, { ticket_id: t.ticket_id, mode: 'mmto', reason: 'timeout' });
    assert.ok(waited >= 750, `timed out after ${waited} ms`);
    assert.equal((await stats(a)).modes.mmto.tickets, 0);
    assertError(await a.ws.request('matchmaker.remove', { ticket_id: t.ticket_id }), 'not_found', 'matchmaker.remove');
    // a new ticket for the mode is allowed again
    const t2 = await a.ws.ok('matchmaker.add', { mode: 'mmto', properties: { skill: 100 } });
    assert.notEqual(t2.ticket_id, t.ticket_id);
    await a.ws.ok('matchmaker.remove', { ticket_id: t2.ticket_id });
  });

  it('matchmaker.add errors: unknown mode and a mode without matchmaking not_found; bad properties bad_request; a second ticket conflict', async () => {
    const a = await player();
    const add = (payload) => a.ws.request('matchmaker.add', payload);
    assertError(await add({ mode: 'no_such_mode', properties: { skill: 1, region: 'eu' } }), 'not_found', 'matchmaker.add', /unknown mode 'no_such_mode'/);
    assertError(await add({ mode: 'tictactoe' }), 'not_found', 'matchmaker.add', /mode 'tictactoe' has no matchmaker configuration/);
    assertError(await add({ properties: { skill: 1 } }), 'bad_request', 'matchmaker.add', /mode/);
    assertError(await add({ mode: 'mm4', properties: { region: 'eu' } }), 'bad_request', 'matchmaker.add', /properties\.skill \(number\) is required by mode 'mm4'/);
    assertError(await add({ mode: 'mm4', properties: { skill: '1200', region: 'eu' } }), 'bad_request', 'matchmaker.add', /properties\.skill \(number\) is required by mode 'mm4'/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1200 } }), 'bad_request', 'matchmaker.add', /properties\.region \(string\) is required by mode 'mm4'/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1200, region: 7 } }), 'bad_request', 'matchmaker.add', /properties\.region \(string\) is required/);
    const many = { skill: 1, region: 'eu' };
    for (let i = 0; i < 15; i++) many[`p${i}`] = i; // 17 members
    assertError(await add({ mode: 'mm4', properties: many }), 'bad_request', 'matchmaker.add', /properties/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1, region: 'eu', ['k'.repeat(33)]: 1 } }), 'bad_request', 'matchmaker.add',
      /property names must be 1\.\.32 characters/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1, region: 'eu', '': 1 } }), 'bad_request', 'matchmaker.add', /property names must be 1\.\.32/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1, region: 'e'.repeat(65) } }), 'bad_request', 'matchmaker.add',
      /property 'region' must be a finite number or a string of at most 64 characters/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1, region: 'eu', tags: { a: 1 } } }), 'bad_request', 'matchmaker.add', /property 'tags'/);
    assertError(await add({ mode: 'mm4', properties: { skill: 1, region: 'eu', flag: true } }), 'bad_request', 'matchmaker.add', /property 'flag'/);
    assert.equal((await stats(a)).modes.mm4.tickets, 0, 'no failed add left a ticket');
    // the limits themselves are fine: 16 properties, a 32-character name, a 64-character value
    const sixteen = { skill: 1, region: 'é'.repeat(64), ['k'.repeat(32)]: 'v'.repeat(64) };
    for (let i = 0; i < 13; i++) sixteen[`p${i}`] = i;
    assert.equal(Object.keys(sixteen).length, 16);
    const t = await a.ws.ok('matchmaker.add', { mode: 'mm4', properties: sixteen });
    assertError(await add({ mode: 'mm4', properties: { skill: 2, region: 'eu' } }), 'conflict', 'matchmaker.add', /already have a ticket for mode 'mm4'; remove it first/);
    await a.ws.ok('matchmaker.remove', { ticket_id: t.ticket_id });
  });

  it('M.matchmaker_matched: a group with a banned player is refused; the hook\'s teams are used', async () => {
    const banned = await player();
    const bt = await banned.ws.ok('matchmaker.add', { mode: 'mmhook', properties: { skill: 1000, region: 'hk', side: 1, banned: 1 } });
    const ps = [];
    const sides = [1, 1, 2, 2];
    const skills = [1000, 1010, 1020, 1030]; // balancing by skill would split 1000+1030 / 1010+1020
    for (let i = 0; i < 4; i++) {
      const p = await player();
      p.side = sides[i];
      p.ticket = (await p.ws.ok('matchmaker.add', { mode: 'mmhook', properties: { skill: skills[i], region: 'hk', side: sides[i] } })).ticket_id;
      ps.push(p);
    }
    const matched = [];
    for (const p of ps) matched.push((await p.ws.next('matchmaker.matched', 5000)).payload);
    const id = matched[0].match_id;
    for (const [i, m] of matched.entries()) {
      assert.equal(m.match_id, id);
      assert.equal(m.ticket_id, ps[i].ticket);
      assert.deepEqual(m.players.map((x) => x.player_id).sort(), ps.map((p) => p.player_id).sort(), 'the banned player is not in the group');
      for (const x of m.players) assert.equal(x.team, ps.find((p) => p.player_id === x.player_id).side, 'team from the hook');
    }
    await banned.ws.expectNone('matchmaker.matched', 1000);
    assert.equal((await stats(banned)).modes.mmhook.tickets, 1, 'the banned ticket still waits');
    // the match was created with the hook's teams
    const j = await ps[0].ws.ok('match.join', { match_id: id });
    assert.deepEqual(j.state.teams.map((t) => t.slice().sort()), [
      [ps[0].player_id, ps[1].player_id].sort(),
      [ps[2].player_id, ps[3].player_id].sort(),
    ]);
    for (const p of ps.slice(1)) await p.ws.ok('match.join', { match_id: id });
    for (const p of ps) await p.ws.next('match.started', 3000);
    // four more compatible players while the banned ticket waits: again never with it
    const more = [];
    for (let i = 0; i < 4; i++) {
      const p = await player();
      await p.ws.ok('matchmaker.add', { mode: 'mmhook', properties: { skill: 1005 + i, region: 'hk', side: 1 + (i % 2) } });
      more.push(p);
    }
    const m2 = [];
    for (const p of more) m2.push((await p.ws.next('matchmaker.matched', 5000)).payload);
    for (const m of m2) assert.ok(!m.players.some((x) => x.player_id === banned.player_id));
    await banned.ws.expectNone('matchmaker.matched', 300);
    await banned.ws.ok('matchmaker.remove', { ticket_id: bt.ticket_id });
    const s = (await stats(banned)).modes.mmhook;
    assert.equal(s.matches_formed, 2);
    assert.equal(s.tickets, 0);
  });
});
