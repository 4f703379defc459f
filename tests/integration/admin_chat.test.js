'use strict';
// Admin chat routes (docs/REST.md "Admin"): GET /v1/admin/chat/channels lists the live channels
// from memory, GET /v1/admin/chat/{channel_id}/messages reads any channel's recent messages by its
// storage key (rooms, match:<id>, dm:<low>:<high>), both only with the admin token.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const uniq = () => crypto.randomBytes(4).toString('hex');
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });
const ADMIN_TOKEN = `admin-chat-${crypto.randomBytes(12).toString('hex')}`;
const adm = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('admin: chat', () => {
  let server;
  before(async () => {
    server = await h.startServer({ args: ['--admin-token', ADMIN_TOKEN, '--auth-rate', '100000'] });
  });
  after(async () => {
    if (server) assert.equal(await server.stop(), 0);
  });

  it('both routes need the admin token (401 without it, or with a player token)', async () => {
    const p = await h.authed(server);
    for (const path of ['/v1/admin/chat/channels', '/v1/admin/chat/lobby/messages']) {
      for (const headers of [{}, bearer(p), { authorization: 'Bearer not-the-admin-token-at-all' }]) {
        const res = await server.http('GET', path, undefined, headers);
        assert.equal(res.status, 401, `${path} ${res.text}`);
        assert.equal(res.json.error.code, 'unauthorized');
        assert.equal(res.json.error.message, 'admin token required');
      }
    }
    await p.ws.close();
  });

  it('GET /v1/admin/chat/channels and /v1/admin/chat/{channel_id}/messages after two players chat in a room and a match channel', async () => {
    const a = await h.authed(server);
    const b = await h.authed(server);
    const room = `lobby-${uniq()}`;
    await a.ws.ok('chat.join', { channel_id: room });
    await b.ws.ok('chat.join', { channel_id: room });
    // a second socket of b in the room: members counts players, sockets counts sockets
    const b2 = await server.ws();
    await b2.ok('session.connect', { token: b.token });
    await b2.ok('chat.join', { channel_id: room });
    const first = await a.ws.ok('chat.send', { channel_id: room, content: 'hello <b>room</b>' });
    const second = await b.ws.ok('chat.send', { channel_id: room, content: 'hi a' });

    const created = await server.http('POST', '/v1/matches', { mode: 'tictactoe' }, bearer(a));
    assert.equal(created.status, 201, created.text);
    const matchId = created.json.match_id;
    const mch = `match:${matchId}`;
    await a.ws.ok('match.join', { match_id: matchId });
    await b.ws.ok('match.join', { match_id: matchId });
    await a.ws.ok('chat.join', { channel_id: mch });
    await b.ws.ok('chat.join', { channel_id: mch });
    const inMatch = await b.ws.ok('chat.send', { channel_id: mch, content: 'gl hf' });

    // a direct channel: stored as dm:<lower id>:<higher id>
    await a.ws.ok('chat.join', { channel_id: `dm:${b.player_id}` });
    const dm = await a.ws.ok('chat.send', { channel_id: `dm:${b.player_id}`, content: 'psst' });
    const [lo, hi] = [a.player_id, b.player_id].sort();
    const dmKey = `dm:${lo}:${hi}`;

    // --- channels
    const list = await server.http('GET', '/v1/admin/chat/channels', undefined, adm);
    assert.equal(list.status, 200, list.text);
    const byId = Object.fromEntries(list.json.channels.map((c) => [c.channel_id, c]));
    assert.deepEqual(byId[room], { channel_id: room, kind: 'room', members: 2, sockets: 3 });
    assert.deepEqual(byId[mch], { channel_id: mch, kind: 'match', members: 2, sockets: 2, match_id: matchId });
    assert.deepEqual(byId[dmKey], { channel_id: dmKey, kind: 'dm', members: 1, sockets: 1, player_ids: [lo, hi] });
    assert.equal(list.json.total, list.json.channels.length);
    const members = list.json.channels.map((c) => c.members);
    assert.deepEqual(members, [...members].sort((x, y) => y - x), 'sorted by members, most first');

    // --- messages of the room: newest first, the player history shape plus sender_username
    const msgs = await server.http('GET', `/v1/admin/chat/${room}/messages`, undefined, adm);
    assert.equal(msgs.status, 200, msgs.text);
    assert.equal(msgs.json.channel_id, room);
    assert.equal(msgs.json.next_cursor, null);
    assert.deepEqual(
      msgs.json.messages.map((m) => [m.message_id, m.sender_id, m.sender_username, m.content]),
      [
        [second.message_id, b.player_id, b.username, 'hi a'],
        [first.message_id, a.player_id, a.username, 'hello <b>room</b>'],
      ]
    );
    for (const m of msgs.json.messages) {
      assert.equal(m.channel_id, room);
      assert.match(m.sent_at, RFC3339);
      assert.deepEqual(Object.keys(m).sort(), ['channel_id', 'content', 'message_id', 'sender_id', 'sender_username', 'sent_at']);
    }
    // limit and before page like the player route
    const one = await server.http('GET', `/v1/admin/chat/${room}/messages?limit=1`, undefined, adm);
    assert.deepEqual(one.json.messages.map((m) => m.content), ['hi a']);
    assert.equal(one.json.next_cursor, second.message_id);
    const older = await server.http('GET', `/v1/admin/chat/${room}/messages?limit=1&before=${one.json.next_cursor}`, undefined, adm);
    assert.deepEqual(older.json.messages.map((m) => m.content), ['hello <b>room</b>']);

    // --- the match channel (the admin is no player of it) and the direct channel by its key
    const mm = await server.http('GET', `/v1/admin/chat/${encodeURIComponent(mch)}/messages`, undefined, adm);
    assert.equal(mm.status, 200, mm.text);
    assert.equal(mm.json.channel_id, mch);
    assert.deepEqual(mm.json.messages.map((m) => [m.message_id, m.sender_username, m.content]), [[inMatch.message_id, b.username, 'gl hf']]);
    // either order and any case name the same direct channel
    for (const id of [dmKey, `dm:${hi}:${lo}`, `dm:${hi.toUpperCase()}:${lo}`]) {
      const d = await server.http('GET', `/v1/admin/chat/${encodeURIComponent(id)}/messages`, undefined, adm);
      assert.equal(d.status, 200, d.text);
      assert.equal(d.json.channel_id, dmKey);
      assert.deepEqual(d.json.messages.map((m) => [m.message_id, m.content]), [[dm.message_id, 'psst']]);
    }
    // a channel nobody wrote to is empty, not an error
    const empty = await server.http('GET', `/v1/admin/chat/quiet-${uniq()}/messages`, undefined, adm);
    assert.equal(empty.status, 200, empty.text);
    assert.deepEqual(empty.json.messages, []);

    // --- errors
    for (const [path, re] of [
      ['/v1/admin/chat/has%20space/messages', /channel_id may contain only/],
      [`/v1/admin/chat/${'c'.repeat(65)}/messages`, /1\.\.64 characters/],
      [`/v1/admin/chat/dm:${a.player_id}/messages`, /dm:<player_id>:<player_id>/],
      ['/v1/admin/chat/match:/messages', /match:<match_id>/],
      [`/v1/admin/chat/${room}/messages?limit=0`, /limit/],
      [`/v1/admin/chat/${room}/messages?limit=abc`, /limit/],
      [`/v1/admin/chat/${room}/messages?before=nope`, /before must be a message_id/],
    ]) {
      const res = await server.http('GET', path, undefined, adm);
      assert.equal(res.status, 400, `${path} ${res.text}`);
      assert.equal(res.json.error.code, 'bad_request');
      assert.match(res.json.error.message, re, path);
    }
    // limit above 100 is clamped
    assert.equal((await server.http('GET', `/v1/admin/chat/${room}/messages?limit=1000`, undefined, adm)).status, 200);

    // --- channels disappear with their last member
    await b2.close();
    await a.ws.close();
    await b.ws.close();
    let after;
    await h.waitFor('the channels leave the list with their last member', async () => {
      after = await server.http('GET', '/v1/admin/chat/channels', undefined, adm);
      const ids = after.json.channels.map((c) => c.channel_id);
      return [room, mch, dmKey].every((id) => !ids.includes(id));
    }, 10000).catch((e) => assert.fail(`${e.message}: ${after && after.text}`));
  });

  it('channels are listed by members (most first)', async () => {
    const big = `big-${uniq()}`;
    const small = `small-${uniq()}`;
    const ps = [];
    for (let i = 0; i < 3; i++) ps.push(await h.authed(server));
    for (const p of ps) await p.ws.ok('chat.join', { channel_id: big });
    await ps[0].ws.ok('chat.join', { channel_id: small });
    const list = await server.http('GET', '/v1/admin/chat/channels', undefined, adm);
    const ids = list.json.channels.map((c) => c.channel_id);
    assert.ok(ids.indexOf(big) >= 0 && ids.indexOf(big) < ids.indexOf(small), list.text);
    for (const p of ps) await p.ws.close();
  });
});
