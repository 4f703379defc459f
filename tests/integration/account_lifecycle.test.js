'use strict';
// Account deletion, bans and session revocation (docs/REST.md "Account lifecycle", PROTOCOL.md
// §10): DELETE /v1/account and the admin routes revoke the account's session tokens at once (REST
// and session.connect), close its sockets, refuse its refresh tokens, leave no rows behind (queried
// in PostgreSQL) and keep the chat history rule; a banned account cannot sign in, also after a
// restart; bad input gets clear errors.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const JWT_SECRET = 'lifecycle-test-secret-0123456789abcdef-0123';
const ARGS = ['--jwt-secret', JWT_SECRET, '--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000'];
const NIL = '00000000-0000-0000-0000-000000000000';
const uniq = () => crypto.randomBytes(4).toString('hex');
const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

function assertError(res, status, code, messageRe) {
  assert.equal(res.status, status, `status (body ${res.text})`);
  assert.deepEqual(Object.keys(res.json), ['error'], res.text);
  assert.equal(res.json.error.code, code, res.text);
  if (messageRe) assert.match(res.json.error.message, messageRe, res.text);
}

/** session.connect with token on a new socket: the reply (session.connected or error). */
async function connectWith(server, token) {
  const ws = await server.ws();
  const reply = await ws.request('session.connect', { token });
  await ws.close();
  return reply;
}

async function device(server, device_id, username) {
  return server.http('POST', '/v1/auth/device', username ? { device_id, username } : { device_id });
}

describe('account lifecycle', () => {
  let server, adm, db;
  const q = async (sql) => (await h.sql(sql, { database: db })).trim();
  const count = async (sql) => Number(await q(sql));

  before(async () => {
    server = await h.startServer({ args: ARGS });
    adm = { authorization: `Bearer ${server.adminToken}` };
    db = new URL(server.databaseUrl).pathname.slice(1);
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('DELETE /v1/account: token refused (REST, session.connect), socket closed 4002, refresh refused, no rows left, chat rule, match left', async () => {
    const devA = `dev-alice-${uniq()}`;
    const alice = await h.authed(server, { device_id: devA, username: `alice_${uniq()}` });
    const bob = await h.authed(server, { username: `bob_${uniq()}` });
    const room = `room-${uniq()}`;
    // chat: a room message from each, a direct channel between them
    await alice.ws.ok('chat.join', { channel_id: room });
    await bob.ws.ok('chat.join', { channel_id: room });
    await alice.ws.ok('chat.send', { channel_id: room, content: 'alice in the room' });
    await bob.ws.ok('chat.send', { channel_id: room, content: 'bob in the room' });
    await alice.ws.ok('chat.join', { channel_id: `dm:${bob.player_id}` });
    await bob.ws.ok('chat.join', { channel_id: `dm:${alice.player_id}` });
    await alice.ws.ok('chat.send', { channel_id: `dm:${bob.player_id}`, content: 'alice to bob' });
    await bob.ws.ok('chat.send', { channel_id: `dm:${alice.player_id}`, content: 'bob to alice' });
    // friendship both ways + notifications both ways
    assert.equal((await server.http('POST', '/v1/friends', { player_id: bob.player_id }, bearer(alice))).status, 200);
    assert.equal((await server.http('POST', '/v1/friends', { player_id: alice.player_id }, bearer(bob))).status, 200);
    // a live match with both
    const created = await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(bob));
    assert.equal(created.status, 201, created.text);
    const matchId = created.json.match_id;
    assert.equal((await alice.ws.request('match.join', { match_id: matchId })).type, 'match.joined');
    assert.equal((await bob.ws.request('match.join', { match_id: matchId })).type, 'match.joined');
    const players = async () => (await server.http('GET', `/v1/admin/matches/${matchId}`, undefined, adm)).json.players.map((p) => p.player_id).sort();
    assert.deepEqual(await players(), [alice.player_id, bob.player_id].sort());

    const id = alice.player_id;
    const presence = async () => (await server.http('GET', `/v1/presence?ids=${id}`, undefined, bearer(bob))).json.presences[0].status;
    assert.equal(await presence(), 'online');
    assert.ok(await count(`SELECT count(*) FROM notifications WHERE player_id = '${id}' OR sender_id = '${id}'`) >= 2);

    const del = await server.http('DELETE', '/v1/account', undefined, bearer(alice));
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { player_id: id, deleted: true, closed_sockets: 1 });
    assert.deepEqual(await alice.ws.waitClosed(3000), { code: 4002, reason: 'account deleted' });

    // the same session token: REST 401, session.connect refused
    assertError(await server.http('GET', '/v1/account', undefined, bearer(alice)), 401, 'unauthorized', /^account deleted$/);
    assertError(await server.http('DELETE', '/v1/account', undefined, bearer(alice)), 401, 'unauthorized', /account deleted/);
    assertError(await server.http('POST', '/v1/matches', { mode: 'arena' }, bearer(alice)), 401, 'unauthorized', /account deleted/);
    const conn = await connectWith(server, alice.token);
    assert.equal(conn.type, 'error');
    assert.equal(conn.payload.code, 'unauthorized');
    assert.equal(conn.payload.message, 'account deleted');
    // the refresh token
    assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: alice.refresh_token }), 401, 'unauthorized');

    // the match saw the player leave at once (not after arena's 10 s reconnect grace): live, she
    // is no longer seated; if arena already finished (one player left), her history entry says why
    const left = await h.waitFor('alice left the match', async () => {
      const r = await server.http('GET', `/v1/matches/${matchId}`, undefined, bearer(bob));
      if (r.status !== 200) return null;
      const mine = r.json.players.find((p) => p.player_id === id);
      if (r.json.status === 'finished') return mine && mine.reason;
      return mine ? null : 'not seated';
    }, 3000, 50);
    assert.ok(left === 'not seated' || left === 'account_deleted', left);

    // no rows left that name the account
    for (const [table, where] of [
      ['accounts', `id = '${id}'`], ['account_devices', `account_id = '${id}'`], ['refresh_tokens', `account_id = '${id}'`],
      ['friendships', `player_id = '${id}' OR other_id = '${id}'`],
      ['notifications', `player_id = '${id}' OR sender_id = '${id}'`],
      ['chat_messages', `sender_id = '${id}' OR channel_id LIKE '%${id}%'`],
    ]) assert.equal(await count(`SELECT count(*) FROM ${table} WHERE ${where}`), 0, table);
    // chat rule: the direct channel is gone whole (bob's side too); the room keeps alice's
    // message under the nil sender and bob's as it was
    assert.equal(await count(`SELECT count(*) FROM chat_messages WHERE channel_id LIKE 'dm:%' AND content IN ('alice to bob', 'bob to alice')`), 0);
    const roomRows = await q(`SELECT sender_id || '|' || content FROM chat_messages WHERE channel_id = '${room}' ORDER BY seq`);
    assert.deepEqual(roomRows.split('\n'), [`${NIL}|alice in the room`, `${bob.player_id}|bob in the room`]);
    const hist = await server.http('GET', `/v1/chat/${room}/messages`, undefined, bearer(bob));
    assert.equal(hist.status, 200, hist.text);
    assert.deepEqual(hist.json.messages.map((m) => m.sender_id), [bob.player_id, NIL]);
    // her presence entry goes after the usual reconnect grace (2 s)
    await h.waitFor('alice offline', async () => (await presence()) === 'offline', 5000);
    // bob's friend list no longer has alice
    const friends = await server.http('GET', '/v1/friends', undefined, bearer(bob));
    assert.deepEqual(friends.json.friends, []);
    // only the tombstone: the id and until when its tokens are refused
    assert.equal(await count(`SELECT count(*) FROM account_tombstones WHERE account_id = '${id}' AND revoke_until > now()`), 1);

    // the device signs in to a new, different account
    const again = await device(server, devA);
    assert.equal(again.status, 201, again.text);
    assert.notEqual(again.json.player_id, id);
    await bob.ws.close();
  });

  it('a message of a deleted sender that reaches the database late is dropped (insert trigger)', async () => {
    const ghost = crypto.randomUUID();
    await q(`INSERT INTO chat_messages (id, channel_id, sender_id, content) VALUES (gen_random_uuid(), 'late-room', '${ghost}', 'late')`);
    assert.equal(await count(`SELECT count(*) FROM chat_messages WHERE sender_id = '${ghost}'`), 0);
  });

  it('admin ban: sockets closed 4003, tokens refused, sign-in refused 403 account_banned (device, email), also after a restart; unban', async () => {
    const dev = `dev-ban-${uniq()}`;
    const email = `ban_${uniq()}@example.com`;
    const password = 'correct horse battery';
    const created = await server.http('POST', '/v1/auth/email', { email, password, create: true });
    assert.equal(created.status, 201, created.text);
    const viaEmail = created.json;
    const d = await h.authed(server, { device_id: dev, username: `dave_${uniq()}` });
    const ws2 = await server.ws();
    await ws2.ok('session.connect', { token: viaEmail.token });

    const ban = await server.http('POST', `/v1/admin/accounts/${d.player_id}/ban`, { reason: 'cheating' }, adm);
    assert.equal(ban.status, 200, ban.text);
    assert.equal(ban.json.banned, true);
    assert.equal(ban.json.ban_reason, 'cheating');
    assert.equal(ban.json.closed_sockets, 1);
    assert.equal(ban.json.revoked_refresh_tokens, 1);
    assert.deepEqual(await d.ws.waitClosed(3000), { code: 4003, reason: 'account banned' });
    assert.ok(ws2.isOpen, 'another account is untouched');

    assertError(await server.http('GET', '/v1/account', undefined, bearer(d)), 401, 'unauthorized', /^account banned$/);
    const conn = await connectWith(server, d.token);
    assert.equal(conn.payload.message, 'account banned');
    assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: d.refresh_token }), 401, 'unauthorized');
    assertError(await device(server, dev), 403, 'account_banned', /^account banned: cheating$/);

    // email: ban the email account too; the right password learns of the ban, a wrong one does not
    assert.equal((await server.http('POST', `/v1/admin/accounts/${viaEmail.player_id}/ban`, {}, adm)).status, 200);
    assert.equal((await ws2.waitClosed(3000)).code, 4003);
    assertError(await server.http('POST', '/v1/auth/email', { email, password }), 403, 'account_banned', /^account banned$/);
    assertError(await server.http('POST', '/v1/auth/email', { email, password: 'wrong password!' }), 401, 'unauthorized');

    // a restart does not un-revoke
    assert.equal(await server.stop(), 0);
    server = await h.startServer({ args: ARGS, databaseUrl: server.databaseUrl });
    adm = { authorization: `Bearer ${server.adminToken}` };
    await server.waitForLog(/event=revocations_loaded entries=[1-9]/, 5000);
    assertError(await server.http('GET', '/v1/account', undefined, bearer(d)), 401, 'unauthorized', /account banned/);
    assert.equal((await connectWith(server, d.token)).payload.message, 'account banned');
    assertError(await device(server, dev), 403, 'account_banned');
    assertError(await server.http('POST', '/v1/auth/email', { email, password }), 403, 'account_banned');

    // unban: sign-in works; the tokens from before the ban stay refused
    const unban = await server.http('POST', `/v1/admin/accounts/${d.player_id}/unban`, {}, adm);
    assert.equal(unban.status, 200, unban.text);
    assert.equal(unban.json.banned, false);
    assert.equal(unban.json.banned_at, null);
    const back = await device(server, dev);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.player_id, d.player_id);
    assertError(await server.http('GET', '/v1/account', undefined, bearer(d)), 401, 'unauthorized', /^session revoked$/);
    assert.equal((await server.http('GET', '/v1/account', undefined, bearer(back.json))).status, 200);
    assert.equal((await connectWith(server, back.json.token)).type, 'session.connected');
    const refreshed = await server.http('POST', '/v1/auth/refresh', { refresh_token: back.json.refresh_token });
    assert.equal(refreshed.status, 200, refreshed.text);

    // and after another restart: the old token still refused, the new one accepted
    assert.equal(await server.stop(), 0);
    server = await h.startServer({ args: ARGS, databaseUrl: server.databaseUrl });
    adm = { authorization: `Bearer ${server.adminToken}` };
    assertError(await server.http('GET', '/v1/account', undefined, bearer(d)), 401, 'unauthorized', /session revoked/);
    assert.equal((await server.http('GET', '/v1/account', undefined, bearer(refreshed.json))).status, 200);
  });

  it('admin delete: sockets closed, matchmaker ticket dropped, rows gone, 404 after; refused after a restart', async () => {
    const e = await h.authed(server, { username: `eve_${uniq()}` });
    const t = await e.ws.ok('matchmaker.add', { mode: 'arena', properties: { skill: 1000, region: 'eu' } });
    assert.ok(t.ticket_id);
    const tickets = async () => (await server.http('GET', '/v1/admin/matchmaker', undefined, adm)).json.modes.arena?.tickets ?? 0;
    assert.equal(await tickets(), 1);
    const del = await server.http('DELETE', `/v1/admin/accounts/${e.player_id.toUpperCase()}`, undefined, adm);
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json, { player_id: e.player_id, deleted: true, closed_sockets: 1 });
    assert.deepEqual(await e.ws.waitClosed(3000), { code: 4002, reason: 'account deleted' });
    await h.waitFor('ticket dropped', async () => (await tickets()) === 0, 3000);
    assert.equal(await count(`SELECT count(*) FROM accounts WHERE id = '${e.player_id}'`), 0);
    assert.equal(await count(`SELECT count(*) FROM refresh_tokens WHERE account_id = '${e.player_id}'`), 0);
    assertError(await server.http('GET', `/v1/admin/accounts/${e.player_id}`, undefined, adm), 404, 'not_found', /no account/);
    assertError(await server.http('DELETE', `/v1/admin/accounts/${e.player_id}`, undefined, adm), 404, 'not_found');
    assertError(await server.http('GET', '/v1/account', undefined, bearer(e)), 401, 'unauthorized', /account deleted/);

    assert.equal(await server.stop(), 0);
    server = await h.startServer({ args: ARGS, databaseUrl: server.databaseUrl });
    adm = { authorization: `Bearer ${server.adminToken}` };
    assertError(await server.http('GET', '/v1/account', undefined, bearer(e)), 401, 'unauthorized', /account deleted/);
    assert.equal((await connectWith(server, e.token)).payload.message, 'account deleted');
  });

  it('admin search (offline accounts too), view, edit, revoke ("sign out everywhere")', async () => {
    const name = `zed_${uniq()}`;
    const z = await h.authed(server, { username: name });
    await z.ws.close(); // offline from here on
    const other = await h.authed(server, { username: `zeta_${uniq()}` });

    const found = await server.http('GET', `/v1/admin/accounts?q=${name}`, undefined, adm);
    assert.equal(found.status, 200, found.text);
    assert.equal(found.json.accounts.length, 1);
    const row = found.json.accounts[0];
    assert.equal(row.player_id, z.player_id);
    assert.equal(row.username, name);
    assert.equal(row.online, false);
    assert.equal(row.banned, false);
    assert.equal(found.json.next_cursor, null);
    assert.equal((await server.http('GET', `/v1/admin/accounts?q=${z.player_id}`, undefined, adm)).json.accounts[0].username, name);
    // LIKE wildcards are literal
    assert.equal((await server.http('GET', '/v1/admin/accounts?q=%25', undefined, adm)).json.accounts.length, 0);
    // paging
    const p1 = await server.http('GET', '/v1/admin/accounts?q=ze&limit=1', undefined, adm);
    assert.equal(p1.json.accounts.length, 1);
    assert.equal(typeof p1.json.next_cursor, 'string');
    const p2 = await server.http('GET', `/v1/admin/accounts?q=ze&limit=1&after=${p1.json.next_cursor}`, undefined, adm);
    assert.notEqual(p2.json.accounts[0].player_id, p1.json.accounts[0].player_id);

    const view = await server.http('GET', `/v1/admin/accounts/${z.player_id}`, undefined, adm);
    assert.equal(view.status, 200, view.text);
    assert.equal(view.json.username, name);
    assert.equal(view.json.devices, 1);
    assert.equal(view.json.active_refresh_tokens, 1);
    assert.equal(view.json.refresh_sessions.length, 1);
    assert.deepEqual(view.json.sockets, []);
    assert.equal(view.json.online, false);

    const patched = await server.http('PATCH', `/v1/admin/accounts/${z.player_id}`, { display_name: 'Zed the Great', metadata: { vip: true } }, adm);
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.display_name, 'Zed the Great');
    assert.deepEqual(patched.json.metadata, { vip: true });
    assert.equal((await server.http('GET', '/v1/account', undefined, bearer(z))).json.display_name, 'Zed the Great');
    assert.equal((await server.http('GET', '/v1/admin/accounts?q=the%20gr', undefined, adm)).json.accounts[0].player_id, z.player_id);
    const cleared = await server.http('PATCH', `/v1/admin/accounts/${z.player_id}`, { display_name: null }, adm);
    assert.equal(cleared.json.display_name, null);
    assert.deepEqual(cleared.json.metadata, { vip: true });

    // revoke: sockets closed 4004, old tokens and refresh tokens refused, sign-in still works
    const live = await server.http('GET', `/v1/admin/accounts/${other.player_id}`, undefined, adm);
    assert.equal(live.json.online, true);
    assert.equal(live.json.sockets.length, 1);
    assert.equal(live.json.sockets[0].ip, '127.0.0.1');
    const rev = await server.http('POST', `/v1/admin/accounts/${other.player_id}/revoke`, {}, adm);
    assert.equal(rev.status, 200, rev.text);
    assert.equal(rev.json.closed_sockets, 1);
    assert.equal(rev.json.banned, false);
    assert.deepEqual(await other.ws.waitClosed(3000), { code: 4004, reason: 'session revoked' });
    assertError(await server.http('GET', '/v1/account', undefined, bearer(other)), 401, 'unauthorized', /session revoked/);
    assertError(await server.http('POST', '/v1/auth/refresh', { refresh_token: other.refresh_token }), 401, 'unauthorized');
    const banned = await server.http('GET', '/v1/admin/accounts?banned=true&limit=100', undefined, adm);
    assert.ok(banned.json.accounts.every((a) => a.banned));
  });

  it('bad input: missing admin token, malformed and unknown ids, bad fields', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const [m, p] of [['GET', '/v1/admin/accounts'], ['GET', `/v1/admin/accounts/${unknown}`], ['PATCH', `/v1/admin/accounts/${unknown}`],
      ['DELETE', `/v1/admin/accounts/${unknown}`], ['POST', `/v1/admin/accounts/${unknown}/ban`], ['POST', `/v1/admin/accounts/${unknown}/unban`],
      ['POST', `/v1/admin/accounts/${unknown}/revoke`]]) {
      assertError(await server.http(m, p, m === 'GET' || m === 'DELETE' ? undefined : {}), 401, 'unauthorized', /admin token required/);
      assertError(await server.http(m, p, m === 'GET' || m === 'DELETE' ? undefined : {}, { authorization: 'Bearer nope' }), 401, 'unauthorized');
      const bad = p.replace(unknown, 'not-a-uuid');
      if (bad !== p) assertError(await server.http(m, bad, m === 'PATCH' ? { display_name: 'x' } : m === 'POST' ? {} : undefined, adm), 400, 'bad_request', /malformed account id/);
      if (bad !== p) assertError(await server.http(m, p, m === 'PATCH' ? { display_name: 'x' } : m === 'POST' ? {} : undefined, adm), 404, 'not_found', new RegExp(`no account '${unknown}'`));
    }
    assertError(await server.http('DELETE', '/v1/account'), 401, 'unauthorized', /missing Authorization/);
    const a = await h.authed(server);
    const id = a.player_id;
    assertError(await server.http('POST', `/v1/admin/accounts/${id}/ban`, { reason: 5 }, adm), 400, 'bad_request', /field 'reason' must be a string/);
    assertError(await server.http('POST', `/v1/admin/accounts/${id}/ban`, { reason: 'x'.repeat(257) }, adm), 400, 'bad_request', /at most 256/);
    assertError(await server.http('POST', `/v1/admin/accounts/${id}/ban`, { why: 'x' }, adm), 400, 'bad_request', /unknown field 'why'/);
    assertError(await server.http('PATCH', `/v1/admin/accounts/${id}`, { username: 'x' }, adm), 400, 'bad_request', /unknown field 'username'/);
    assertError(await server.http('PATCH', `/v1/admin/accounts/${id}`, {}, adm), 400, 'bad_request', /required/);
    assertError(await server.http('PATCH', `/v1/admin/accounts/${id}`, { display_name: 'x'.repeat(65) }, adm), 400, 'bad_request', /at most 64/);
    assertError(await server.http('PATCH', `/v1/admin/accounts/${id}`, { display_name: 7 }, adm), 400, 'bad_request', /field 'display_name' must be a string/);
    assertError(await server.http('PATCH', `/v1/admin/accounts/${id}`, { metadata: [] }, adm), 400, 'bad_request', /must be an object/);
    assertError(await server.http('GET', '/v1/admin/accounts?limit=0', undefined, adm), 400, 'bad_request', /limit must be 1..100/);
    assertError(await server.http('GET', '/v1/admin/accounts?limit=abc', undefined, adm), 400, 'bad_request', /limit/);
    assertError(await server.http('GET', '/v1/admin/accounts?banned=maybe', undefined, adm), 400, 'bad_request', /banned must be/);
    // nothing was lost: the account is intact and its socket open
    assert.ok(a.ws.isOpen);
    const view = await server.http('GET', `/v1/admin/accounts/${id}`, undefined, adm);
    assert.equal(view.json.banned, false);
    assert.equal(view.json.display_name, null);
    await a.ws.close();
  });
});
