'use strict';
// Presence, friends and notifications (docs/SOCIAL.md): the two-player friend flow end to end
// with live notification.new and presence.changed, the reconnect grace, presence.update and its
// limits, blocks, GET /v1/presence, every friends route and error, the notification inbox
// (list, unread, paging, read, delete), the admin API and moonbase.notify from scripts.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const GRACE_MS = 2000; // presence reconnect grace (modules/social/presence.c)
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });
const uname = () => `u_${crypto.randomBytes(5).toString('hex')}`;

function socialScripts() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mb-social-scripts-'));
  fs.mkdirSync(path.join(dir, 'modes'));
  fs.mkdirSync(path.join(dir, 'lib'));
  fs.writeFileSync(
    path.join(dir, 'server.lua'),
    `local moonbase = require("moonbase")
moonbase.rpc("notify", function(ctx, p)
  local ok, err = moonbase.notify(p.to or ctx.player_id, p.type or "gift", p.subject or "A gift", p.content)
  return { ok = ok or false, err = err }
end)
moonbase.rpc("notify_bad", function(ctx, p)
  if p.what == "type" then moonbase.notify(ctx.player_id, "bad type!", "s", {}) end
  if p.what == "subject" then moonbase.notify(ctx.player_id, "t", "", {}) end
  if p.what == "content" then moonbase.notify(ctx.player_id, "t", "s", "not a table") end
  if p.what == "player" then moonbase.notify("nope", "t", "s", {}) end
  if p.what == "list" then moonbase.notify(ctx.player_id, "t", "s", {1, 2}) end
  return {}
end)
`
  );
  // a mode whose join callback notifies the player: moonbase.notify exists in match VMs too
  fs.writeFileSync(
    path.join(dir, 'modes', 'greeter.lua'),
    `local moonbase = require("moonbase")
local M = { tick_rate = 5, players = { min = 1, max = 4 } }
function M.init(match, params) return {} end
function M.join(match, state, player)
  assert(moonbase.notify(player.id, "welcome", "Welcome to " .. match.mode, { match_id = match.id }))
end
function M.tick(match, state, tick) end
function M.get_state(match, state) return {} end
return M
`
  );
  return dir;
}

function assertRestError(res, status, code) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json.error.code, code, res.text);
  assert.equal(typeof res.json.error.message, 'string');
}

describe('social', () => {
  let server;
  let scriptsDir;
  const players = [];
  async function player(opts = {}) {
    const p = await h.authed(server, { username: uname(), ...opts });
    players.push(p);
    return p;
  }
  const friendsOf = async (p, q = '') => {
    const r = await server.http('GET', `/v1/friends${q}`, undefined, bearer(p));
    assert.equal(r.status, 200, r.text);
    return r.json.friends;
  };
  async function befriend(a, b) {
    assert.equal((await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a))).status, 200);
    assert.equal((await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b))).status, 200);
    await b.ws.next((m) => m.type === 'notification.new' && m.payload.type === 'friend_request');
    await a.ws.next((m) => m.type === 'notification.new' && m.payload.type === 'friend_accepted');
    await a.ws.next((m) => m.type === 'presence.changed' && m.payload.player_id === b.player_id);
    await b.ws.next((m) => m.type === 'presence.changed' && m.payload.player_id === a.player_id);
  }

  before(async () => {
    scriptsDir = socialScripts();
    server = await h.startServer({ scripts: scriptsDir, args: ['--auth-rate', '100000'] });
  });
  after(async () => {
    for (const p of players) if (p.ws.isOpen) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    fs.rmSync(scriptsDir, { recursive: true, force: true });
  });

  it('two players become friends end to end: request, notification.new, accept, presence.changed both ways', async () => {
    const a = await player();
    const b = await player();
    const req = await server.http('POST', '/v1/friends', { username: b.username }, bearer(a));
    assert.equal(req.status, 200, req.text);
    assert.deepEqual(req.json, { player_id: b.player_id, username: b.username, state: 'invite_sent' });
    const n = await b.ws.next('notification.new');
    assert.deepEqual(Object.keys(n.payload).sort(), ['content', 'id', 'subject', 'type'], 'exactly the spec fields');
    assert.equal(n.payload.type, 'friend_request');
    assert.equal(n.payload.subject, 'New friend request');
    assert.deepEqual(n.payload.content, { from_player_id: a.player_id, from_username: a.username });
    assert.match(n.payload.id, /^[0-9a-f-]{36}$/);
    await a.ws.expectNone('notification.new', 200);
    // both sides see the invite; no presence for non-friends
    assert.deepEqual((await friendsOf(a)).map((f) => [f.player_id, f.username, f.state, f.presence]), [[b.player_id, b.username, 'invite_sent', null]]);
    assert.deepEqual((await friendsOf(b)).map((f) => [f.player_id, f.state]), [[a.player_id, 'invite_received']]);
    // not friends yet: no presence traffic
    await b.ws.ok('presence.update', { status: 'busy' });
    await a.ws.expectNone('presence.changed', 300);
    // asking again is idempotent and sends nothing new
    const again = await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a));
    assert.deepEqual(again.json, { player_id: b.player_id, username: b.username, state: 'invite_sent' });
    await b.ws.expectNone('notification.new', 200);
    // b accepts by asking back
    const acc = await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b));
    assert.equal(acc.status, 200, acc.text);
    assert.deepEqual(acc.json, { player_id: a.player_id, username: a.username, state: 'friend' });
    const an = await a.ws.next('notification.new');
    assert.equal(an.payload.type, 'friend_accepted');
    assert.deepEqual(an.payload.content, { from_player_id: b.player_id, from_username: b.username });
    const pa = await a.ws.next('presence.changed');
    assert.deepEqual(pa.payload, { player_id: b.player_id, status: 'busy' });
    const pb = await b.ws.next('presence.changed');
    assert.deepEqual(pb.payload, { player_id: a.player_id, status: 'online' });
    const fa = await friendsOf(a);
    assert.equal(fa.length, 1);
    assert.equal(fa[0].state, 'friend');
    assert.deepEqual(fa[0].presence, { status: 'busy' });
    assert.match(fa[0].updated_at, RFC3339);
    assert.deepEqual((await friendsOf(b, '?state=friend')).map((f) => f.player_id), [a.player_id]);
    assert.deepEqual(await friendsOf(b, '?state=invite_sent'), []);
    // b's friend_request is marked read by the accept
    const inbox = await server.http('GET', '/v1/notifications', undefined, bearer(b));
    assert.equal(inbox.json.notifications[0].type, 'friend_request');
    assert.equal(inbox.json.notifications[0].read, true);
    assert.equal(inbox.json.notifications[0].sender_id, a.player_id);

    // presence.update -> presence.updated, presence.changed (with metadata) to the friend
    const upd = await b.ws.ok('presence.update', { status: 'in_game', metadata: { match_id: 'm-1', mode: 'arena' } });
    assert.deepEqual(upd, { status: 'in_game', metadata: { match_id: 'm-1', mode: 'arena' } });
    const ch = await a.ws.next('presence.changed');
    assert.deepEqual(ch.payload, { player_id: b.player_id, status: 'in_game', metadata: { match_id: 'm-1', mode: 'arena' } });
    // the same presence again changes nothing for friends
    await b.ws.ok('presence.update', { status: 'in_game', metadata: { match_id: 'm-1', mode: 'arena' } });
    await a.ws.expectNone('presence.changed', 300);
    // without metadata: cleared
    assert.deepEqual(await b.ws.ok('presence.update', { status: 'online' }), { status: 'online' });
    assert.deepEqual((await a.ws.next('presence.changed')).payload, { player_id: b.player_id, status: 'online' });

    // b goes away: offline after the grace
    await b.ws.close();
    const t0 = Date.now();
    const off = await a.ws.next('presence.changed', GRACE_MS + 3000);
    assert.deepEqual(off.payload, { player_id: b.player_id, status: 'offline' });
    assert.ok(Date.now() - t0 >= GRACE_MS - 300, 'not before the grace');
    // and back: online
    const b2 = await server.ws();
    await b2.ok('session.connect', { token: b.token });
    assert.deepEqual((await a.ws.next('presence.changed')).payload, { player_id: b.player_id, status: 'online' });
    b.ws = b2;
  });

  it('a reconnect within the grace is invisible to friends; the last socket closing is what counts', async () => {
    const a = await player();
    const b = await player();
    await befriend(a, b);
    const b2 = await server.ws();
    await b2.ok('session.connect', { token: b.token });
    await b.ws.close(); // b2 still open: nothing
    await a.ws.expectNone('presence.changed', 500);
    await h.closeSession(server, b2, b.player_id); // the last socket is gone: the grace runs
    const b3 = await server.ws(); // back within the grace
    await b3.ok('session.connect', { token: b.token });
    await a.ws.expectNone('presence.changed', GRACE_MS + 500);
    // status set before the blip survives it
    await b3.ok('presence.update', { status: 'afk' });
    assert.equal((await a.ws.next('presence.changed')).payload.status, 'afk');
    b.ws = b3;
  });

  it('presence.update checks status (1..32), metadata (object, <= 16 keys, <= 1 KiB) and a rate limit', async () => {
    const a = await player();
    const bad = async (payload, re) => {
      const r = await a.ws.request('presence.update', payload);
      assert.equal(r.type, 'error', JSON.stringify(r));
      assert.equal(r.payload.code, 'bad_request', JSON.stringify(r));
      assert.equal(r.payload.request_type, 'presence.update');
      if (re) assert.match(r.payload.message, re);
    };
    await bad({}, /missing field 'status'/);
    await bad({ status: '' });
    await bad({ status: 's'.repeat(33) });
    await bad({ status: 7 });
    await bad({ status: 'ok', metadata: 'x' });
    await bad({ status: 'ok', metadata: [1] });
    await bad({ status: 'ok', metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) });
    await bad({ status: 'ok', metadata: { blob: 'x'.repeat(1100) } }, /1024 bytes/);
    assert.deepEqual(await a.ws.ok('presence.update', { status: 'é'.repeat(32) }), { status: 'é'.repeat(32) });
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => a.ws.request('presence.update', { status: `s${i}` })));
    const limited = burst.filter((r) => r.type === 'error' && r.payload.code === 'rate_limited');
    assert.ok(limited.length > 0, 'rate limited');
    assert.equal(burst.filter((r) => r.type === 'presence.updated').length + limited.length, 20);
  });

  it('blocks: the blocked player loses presence, cannot request, sees offline; unblock with DELETE', async () => {
    const a = await player();
    const b = await player();
    await befriend(a, b);
    const blk = await server.http('POST', `/v1/friends/${b.player_id}/block`, {}, bearer(a));
    assert.equal(blk.status, 200, blk.text);
    assert.deepEqual(blk.json, { player_id: b.player_id, username: b.username, state: 'blocked' });
    // b's last word about a: offline
    assert.deepEqual((await b.ws.next('presence.changed')).payload, { player_id: a.player_id, status: 'offline' });
    // no presence either way any more
    await a.ws.ok('presence.update', { status: 'secret' });
    await b.ws.ok('presence.update', { status: 'whatever' });
    await b.ws.expectNone('presence.changed', 300);
    await a.ws.expectNone('presence.changed', 100);
    // b cannot ask; a must unblock first
    assertRestError(await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b)), 403, 'forbidden');
    assertRestError(await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a)), 409, 'conflict');
    await a.ws.expectNone('notification.new', 100);
    // lists
    assert.deepEqual((await friendsOf(a)).map((f) => [f.player_id, f.state, f.presence]), [[b.player_id, 'blocked', null]]);
    assert.deepEqual(await friendsOf(a, '?state=friend'), []);
    assert.deepEqual(await friendsOf(b), []);
    // presence as seen by b: offline, no metadata
    const seen = await server.http('GET', `/v1/presence?ids=${a.player_id}`, undefined, bearer(b));
    assert.deepEqual(seen.json, { presences: [{ status: 'offline', player_id: a.player_id }] });
    // unblock
    const del = await server.http('DELETE', `/v1/friends/${b.player_id}`, undefined, bearer(a));
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { player_id: b.player_id, state: 'none', previous_state: 'blocked' });
    assert.deepEqual(await friendsOf(a), []);
    const seen2 = await server.http('GET', `/v1/presence?ids=${a.player_id}`, undefined, bearer(b));
    assert.deepEqual(seen2.json.presences[0], { status: 'secret', player_id: a.player_id });
    // b may ask again now
    assert.equal((await server.http('POST', '/v1/friends', { player_id: a.player_id }, bearer(b))).json.state, 'invite_sent');
  });

  it('cancel and decline: DELETE removes the request (and the pending friend_request notification)', async () => {
    const a = await player();
    const b = await player();
    await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a));
    await b.ws.next('notification.new');
    const cancel = await server.http('DELETE', `/v1/friends/${b.player_id}`, undefined, bearer(a));
    assert.deepEqual(cancel.json, { player_id: b.player_id, state: 'none', previous_state: 'invite_sent' });
    assert.deepEqual(await friendsOf(b), []);
    const inbox = await server.http('GET', '/v1/notifications', undefined, bearer(b));
    assert.deepEqual(inbox.json.notifications, [], 'the cancelled request is gone from the inbox');
    // decline
    await server.http('POST', '/v1/friends', { player_id: b.player_id }, bearer(a));
    const n = await b.ws.next('notification.new');
    const decline = await server.http('DELETE', `/v1/friends/${a.player_id}`, undefined, bearer(b));
    assert.deepEqual(decline.json, { player_id: a.player_id, state: 'none', previous_state: 'invite_received' });
    assert.deepEqual(await friendsOf(a), []);
    const inbox2 = await server.http('GET', '/v1/notifications', undefined, bearer(b));
    assert.deepEqual(inbox2.json.notifications.map((x) => [x.id, x.read]), [[n.payload.id, true]]);
    // remove a friend
    await befriend(a, b);
    const rm = await server.http('DELETE', `/v1/friends/${a.player_id}`, undefined, bearer(b));
    assert.equal(rm.json.previous_state, 'friend');
    assert.deepEqual(await friendsOf(a), []);
    await b.ws.ok('presence.update', { status: 'gone fishing' });
    await a.ws.expectNone('presence.changed', 300);
  });

  it('friends routes: every error', async () => {
    const a = await player();
    const post = (body) => server.http('POST', '/v1/friends', body, bearer(a));
    assertRestError(await post({}), 400, 'bad_request');
    assertRestError(await post({ player_id: a.player_id, username: 'x' }), 400, 'bad_request');
    assertRestError(await post({ player_id: 'not-a-uuid' }), 400, 'bad_request');
    assertRestError(await post({ player_id: 12 }), 400, 'bad_request');
    assertRestError(await post({ username: '' }), 400, 'bad_request');
    assertRestError(await post({ player_id: a.player_id }), 400, 'bad_request');
    assertRestError(await post({ username: a.username }), 400, 'bad_request');
    assertRestError(await post({ player_id: crypto.randomUUID() }), 404, 'not_found');
    assertRestError(await post({ username: 'no_such_user_anywhere' }), 404, 'not_found');
    assertRestError(await server.http('DELETE', `/v1/friends/${crypto.randomUUID()}`, undefined, bearer(a)), 404, 'not_found');
    assertRestError(await server.http('DELETE', `/v1/friends/${a.player_id}`, undefined, bearer(a)), 400, 'bad_request');
    assertRestError(await server.http('DELETE', '/v1/friends/xyz', undefined, bearer(a)), 400, 'bad_request');
    assertRestError(await server.http('POST', `/v1/friends/${crypto.randomUUID()}/block`, {}, bearer(a)), 404, 'not_found');
    assertRestError(await server.http('POST', `/v1/friends/${a.player_id}/block`, {}, bearer(a)), 400, 'bad_request');
    assertRestError(await server.http('GET', '/v1/friends?state=enemies', undefined, bearer(a)), 400, 'bad_request');
    assertRestError(await server.http('GET', '/v1/friends'), 401, 'unauthorized');
    assertRestError(await server.http('POST', '/v1/friends', { player_id: a.player_id }), 401, 'unauthorized');
    assertRestError(await server.http('GET', '/v1/presence?ids=' + a.player_id), 401, 'unauthorized');
  });

  it('GET /v1/presence?ids=: self and friends in full, others status only, unknown offline; REST-only callers too', async () => {
    const a = await player();
    const f = await player();
    const s = await player();
    await befriend(a, f);
    await f.ws.ok('presence.update', { status: 'racing', metadata: { track: 'monza' } });
    await s.ws.ok('presence.update', { status: 'lobby', metadata: { room: 'r1' } });
    await a.ws.ok('presence.update', { status: 'me', metadata: { x: 1 } });
    const ghost = crypto.randomUUID();
    const q = [a.player_id, f.player_id, s.player_id, ghost.toUpperCase()].join(',');
    const want = {
      presences: [
        { status: 'me', metadata: { x: 1 }, player_id: a.player_id },
        { status: 'racing', metadata: { track: 'monza' }, player_id: f.player_id },
        { status: 'lobby', player_id: s.player_id },
        { status: 'offline', player_id: ghost },
      ],
    };
    const r = await server.http('GET', `/v1/presence?ids=${q}`, undefined, bearer(a));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, want);
    // the same from a REST-only client of a (no socket: relationships read from the database)
    await a.ws.close();
    want.presences[0] = { status: 'offline', player_id: a.player_id };
    let r2;
    await h.waitFor('a offline after the grace', async () => {
      r2 = await server.http('GET', `/v1/presence?ids=${q}`, undefined, bearer(a));
      return r2.json && r2.json.presences && r2.json.presences[0].status === 'offline';
    }, GRACE_MS + 10000);
    assert.deepEqual(r2.json, want);
    for (const bad of ['', '?ids=', '?ids=abc', `?ids=${a.player_id},,x`,
      '?ids=' + Array.from({ length: 26 }, () => crypto.randomUUID()).join(',')]) {
      assertRestError(await server.http('GET', `/v1/presence${bad}`, undefined, bearer(f)), 400, 'bad_request');
    }
    const most = Array.from({ length: 25 }, () => crypto.randomUUID()).join(',');
    assert.equal((await server.http('GET', `/v1/presence?ids=${most}`, undefined, bearer(f))).json.presences.length, 25);
  });

  it('admin POST /v1/admin/notifications stores, answers 201 after the commit and delivers live', async () => {
    const p = await player();
    const admin = { authorization: `Bearer ${server.adminToken}` };
    const body = { player_id: p.player_id, type: 'maintenance', subject: 'Servers restart at 04:00', content: { at: '04:00', minutes: 15 } };
    const r = await server.http('POST', '/v1/admin/notifications', body, admin);
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.player_id, p.player_id);
    assert.equal(r.json.type, 'maintenance');
    assert.equal(r.json.read, false);
    assert.equal(r.json.sender_id, null);
    assert.match(r.json.created_at, RFC3339);
    const live = await p.ws.next('notification.new');
    assert.deepEqual(live.payload, { id: r.json.id, type: 'maintenance', subject: 'Servers restart at 04:00', content: { at: '04:00', minutes: 15 } });
    // content is optional ({}), several sockets all get it
    const p2 = await server.ws();
    await p2.ok('session.connect', { token: p.token });
    const r2 = await server.http('POST', '/v1/admin/notifications', { player_id: p.player_id, type: 't', subject: 's' }, admin);
    assert.equal(r2.status, 201, r2.text);
    assert.deepEqual((await p.ws.next('notification.new')).payload.content, {});
    assert.equal((await p2.next('notification.new')).payload.id, r2.json.id);
    await p2.close();
    // errors
    assertRestError(await server.http('POST', '/v1/admin/notifications', body, bearer(p)), 401, 'unauthorized');
    assertRestError(await server.http('POST', '/v1/admin/notifications', body), 401, 'unauthorized');
    const bad = async (patch, status = 400, code = 'bad_request') =>
      assertRestError(await server.http('POST', '/v1/admin/notifications', { ...body, ...patch }, admin), status, code);
    await bad({ player_id: 'nope' });
    await bad({ player_id: undefined });
    await bad({ type: '' });
    await bad({ type: 'has space' });
    await bad({ type: 't'.repeat(65) });
    await bad({ subject: '' });
    await bad({ subject: 's'.repeat(257) });
    await bad({ subject: 5 });
    await bad({ content: [1, 2] });
    await bad({ content: 'text' });
    await bad({ content: { big: 'x'.repeat(17000) } });
    await bad({ player_id: crypto.randomUUID() }, 404, 'not_found');
  });

  it('the inbox: GET /v1/notifications (unread, limit, cursor), POST /v1/notifications/read, DELETE', async () => {
    const p = await player();
    const other = await player();
    const admin = { authorization: `Bearer ${server.adminToken}` };
    const ids = [];
    for (let i = 0; i < 7; i++) {
      const r = await server.http('POST', '/v1/admin/notifications', { player_id: p.player_id, type: 'n', subject: `s${i}`, content: { i } }, admin);
      ids.push(r.json.id);
    }
    const get = async (q) => {
      const r = await server.http('GET', `/v1/notifications${q}`, undefined, bearer(p));
      assert.equal(r.status, 200, r.text);
      return r.json;
    };
    const all = await get('');
    assert.deepEqual(all.notifications.map((n) => n.subject), ['s6', 's5', 's4', 's3', 's2', 's1', 's0']);
    assert.equal(all.next_cursor, null);
    for (const n of all.notifications) {
      assert.deepEqual(Object.keys(n).sort(), ['content', 'created_at', 'id', 'read', 'sender_id', 'subject', 'type']);
      assert.equal(n.read, false);
      assert.match(n.created_at, RFC3339);
    }
    const p1 = await get('?limit=3');
    assert.deepEqual(p1.notifications.map((n) => n.subject), ['s6', 's5', 's4']);
    assert.equal(typeof p1.next_cursor, 'string');
    const p2 = await get(`?limit=3&cursor=${p1.next_cursor}`);
    assert.deepEqual(p2.notifications.map((n) => n.subject), ['s3', 's2', 's1']);
    const p3 = await get(`?limit=3&cursor=${p2.next_cursor}`);
    assert.deepEqual(p3.notifications.map((n) => n.subject), ['s0']);
    assert.equal(p3.next_cursor, null);
    // read some
    const rd = await server.http('POST', '/v1/notifications/read', { ids: [ids[0], ids[2], crypto.randomUUID()] }, bearer(p));
    assert.equal(rd.status, 200, rd.text);
    assert.deepEqual(rd.json, { updated: 2 });
    assert.deepEqual((await server.http('POST', '/v1/notifications/read', { ids: [ids[0]] }, bearer(p))).json, { updated: 0 });
    // someone else's ids are not theirs to mark
    assert.deepEqual((await server.http('POST', '/v1/notifications/read', { ids: [ids[1]] }, bearer(other))).json, { updated: 0 });
    const unread = await get('?unread=true');
    assert.deepEqual(unread.notifications.map((n) => n.subject), ['s6', 's5', 's4', 's3', 's1']);
    assert.equal((await get('?unread=false')).notifications.length, 7);
    // delete
    const del = await server.http('DELETE', `/v1/notifications/${ids[6]}`, undefined, bearer(p));
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { id: ids[6], deleted: true });
    assertRestError(await server.http('DELETE', `/v1/notifications/${ids[6]}`, undefined, bearer(p)), 404, 'not_found');
    assertRestError(await server.http('DELETE', `/v1/notifications/${ids[5]}`, undefined, bearer(other)), 404, 'not_found');
    assertRestError(await server.http('DELETE', '/v1/notifications/zzz', undefined, bearer(p)), 400, 'bad_request');
    // read all
    assert.deepEqual((await server.http('POST', '/v1/notifications/read', { all: true }, bearer(p))).json, { updated: 4 });
    assert.deepEqual((await get('?unread=1')).notifications, []);
    // errors
    for (const q of ['?limit=0', '?limit=x', '?unread=maybe', '?cursor=abc', '?cursor=-1']) {
      assertRestError(await server.http('GET', `/v1/notifications${q}`, undefined, bearer(p)), 400, 'bad_request');
    }
    assert.equal((await get('?limit=1000')).notifications.length, 6, 'limit above 100 is capped, not refused');
    for (const body of [{}, { ids: [] }, { ids: 'x' }, { ids: ['nope'] }, { ids: Array.from({ length: 101 }, () => crypto.randomUUID()) }]) {
      assertRestError(await server.http('POST', '/v1/notifications/read', body, bearer(p)), 400, 'bad_request');
    }
    assertRestError(await server.http('GET', '/v1/notifications'), 401, 'unauthorized');
  });

  it('moonbase.notify from server.lua and from a match script: committed, then notification.new', async () => {
    const p = await player();
    const q = await player();
    const r = await server.http('POST', '/v1/rpc/notify', { to: q.player_id, type: 'gift', subject: 'A gift for you', content: { item: 'sword', qty: 1 } }, bearer(p));
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { ok: true });
    const live = await q.ws.next('notification.new');
    assert.deepEqual(live.payload.content, { item: 'sword', qty: 1 });
    assert.equal(live.payload.type, 'gift');
    const inbox = await server.http('GET', '/v1/notifications', undefined, bearer(q));
    assert.equal(inbox.json.notifications[0].id, live.payload.id);
    assert.equal(inbox.json.notifications[0].sender_id, null);
    // content may be omitted
    await server.http('POST', '/v1/rpc/notify', { subject: 'plain' }, bearer(p));
    assert.deepEqual((await p.ws.next('notification.new')).payload.content, {});
    // an unknown player: accepted (the write is asynchronous), dropped and logged
    const ghost = await server.http('POST', '/v1/rpc/notify', { to: crypto.randomUUID() }, bearer(p));
    assert.deepEqual(ghost.json, { ok: true });
    await server.waitForLog(/event=notification_dropped .*no such player/, 3000);
    // misuse raises: the rpc fails with 500
    for (const what of ['type', 'subject', 'content', 'player', 'list']) {
      const bad = await server.http('POST', '/v1/rpc/notify_bad', { what }, bearer(p));
      assert.equal(bad.status, 500, `${what}: ${bad.text}`);
    }
    assert.match(server.logs(), /moonbase\.notify: type may contain only/);
    // a match script (greeter.join notifies the joining player)
    const m = await server.http('POST', '/v1/matches', { mode: 'greeter' }, bearer(p));
    assert.equal(m.status, 201, m.text);
    await p.ws.ok('match.join', { match_id: m.json.match_id });
    const welcome = await p.ws.next((x) => x.type === 'notification.new' && x.payload.type === 'welcome');
    assert.deepEqual(welcome.payload.content, { match_id: m.json.match_id });
    assert.equal(welcome.payload.subject, 'Welcome to greeter');
  });
});
