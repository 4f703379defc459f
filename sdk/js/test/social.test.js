// Chat, presence, friends and notifications through the SDK, against the real server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient, MoonbaseError } from '../src/moonbase-client.js';
import { startServer, player, collect, until } from './helpers.js';

describe('chat, presence, friends, notifications', () => {
  let server, admin;
  before(async () => {
    server = await startServer();
    admin = new AdminClient(server.baseUrl, server.adminToken);
  });
  after(() => server.stop());

  it('joinChat, sendChat (reply = the stored message), onChatMessage for every member, chatHistory, leaveChat', async () => {
    const a = await player(server);
    const b = await player(server);
    const room = `room.${Date.now()}`;
    const joinedA = await a.socket.joinChat(room);
    assert.deepEqual(joinedA, { channel_id: room, members: 1 });
    assert.ok(a.socket.channels.has(room));
    assert.equal((await b.socket.joinChat(room)).members, 2);
    const seenA = collect(a.socket, 'chat.message');
    const seenB = collect(b.socket, 'chat.message');

    const sent = await a.socket.sendChat(room, 'Hello!');
    assert.equal(sent.channel_id, room);
    assert.equal(sent.sender_id, a.id);
    assert.equal(sent.content, 'Hello!');
    assert.match(sent.sent_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(sent.message_id);
    await until(() => seenB.length === 1, { what: 'B receives the message' });
    assert.deepEqual(seenB[0], sent);
    assert.deepEqual(seenA, [sent], "the sender's listeners see its own message once");

    await b.socket.sendChat(room, 'Hi A');
    const page = await a.client.chatHistory(room, { limit: 1 });
    assert.equal(page.messages.length, 1);
    assert.equal(page.messages[0].content, 'Hi A', 'newest first');
    const older = await a.client.chatHistory(room, { limit: 10, before: page.next_cursor });
    assert.deepEqual(older.messages.map((m) => m.content), ['Hello!']);

    assert.deepEqual(await b.socket.leaveChat(room), { channel_id: room });
    assert.ok(!b.socket.channels.has(room));
    await assert.rejects(b.socket.sendChat(room, 'gone'), (e) => e.code === 'forbidden' && e.reason === 'not_joined' && e.requestType === 'chat.send');
  });

  it('chat errors are typed with code and reason', async () => {
    const { socket, client } = await player(server);
    await assert.rejects(socket.joinChat('bad channel!'), (e) => e instanceof MoonbaseError && e.code === 'bad_request' && e.reason === 'bad_channel');
    await socket.joinChat('lobby');
    await assert.rejects(socket.sendChat('lobby', 'x'.repeat(2001)), { code: 'bad_request', reason: 'too_long' });
    await assert.rejects(socket.sendChat('lobby', ''), { code: 'bad_request' });
    const m = await client.createMatch('sdktest');
    await assert.rejects(socket.joinChat(`match:${m.match_id}`), { code: 'forbidden', reason: 'not_in_match' });
    await assert.rejects(socket.joinChat('match:00000000-0000-4000-8000-000000000000'), { code: 'not_found', reason: 'no_match' });
    await assert.rejects(client.chatHistory('bad channel!'), { code: 'bad_request', status: 400 });
  });

  it('the match channel match:<id> is open to the match players', async () => {
    const a = await player(server);
    const b = await player(server);
    const m = await a.client.createMatch('sdktest');
    await a.socket.joinMatch(m.match_id);
    await b.socket.joinMatch(m.match_id);
    const ch = `match:${m.match_id}`;
    await a.socket.joinChat(ch);
    await b.socket.joinChat(ch);
    const got = b.socket.next('chat.message');
    await a.socket.sendChat(ch, 'gg');
    assert.equal((await got).content, 'gg');
  });

  it('friends: request (notification.new), accept (presence), list, remove, block', async () => {
    const a = await player(server);
    const b = await player(server);
    const noteB = new Promise((resolve) => b.socket.onNotification(resolve));
    const req = await a.client.addFriend({ username: b.name });
    assert.deepEqual(req, { player_id: b.id, username: b.name, state: 'invite_sent' });
    const note = await noteB;
    assert.equal(note.type, 'friend_request');
    assert.ok(note.id && note.subject);
    assert.equal(note.content.from_player_id, a.id);

    const received = await b.client.listFriends({ state: 'invite_received' });
    assert.deepEqual(received.friends.map((f) => f.player_id), [a.id]);
    const noteA = new Promise((resolve) => a.socket.onNotification(resolve));
    const acc = await b.client.addFriend(a.id);
    assert.equal(acc.state, 'friend');
    assert.equal((await noteA).type, 'friend_accepted');

    const friends = await a.client.listFriends();
    const fb = friends.friends.find((f) => f.player_id === b.id);
    assert.equal(fb.state, 'friend');
    assert.equal(fb.presence.status, 'online');

    // presence: B changes status, A (a friend) hears it
    const changed = a.socket.next('presence.changed', { filter: (p) => p.player_id === b.id && p.status === 'in_game' });
    const upd = await b.socket.updatePresence('in_game', { match_id: 'm1' });
    assert.equal(upd.status, 'in_game');
    const ev = await changed;
    assert.deepEqual(ev.metadata, { match_id: 'm1' });
    const pres = await a.client.getPresence([b.id, a.id]);
    const pb = pres.presences.find((p) => p.player_id === b.id);
    assert.equal(pb.status, 'in_game');
    assert.deepEqual(pb.metadata, { match_id: 'm1' });
    await assert.rejects(b.socket.updatePresence(''), { code: 'bad_request', requestType: 'presence.update' });

    const rm = await a.client.removeFriend(b.id);
    assert.equal(rm.state, 'none');
    assert.equal(rm.previous_state, 'friend');
    await assert.rejects(a.client.removeFriend(b.id), { code: 'not_found', status: 404 });
    const bl = await a.client.blockPlayer(b.id);
    assert.equal(bl.state, 'blocked');
    await assert.rejects(b.client.addFriend(a.id), { code: 'forbidden', status: 403 });
    await assert.rejects(a.client.addFriend(a.id), { code: 'bad_request' });
  });

  it('onPresenceChanged fires when a friend goes offline and online', async () => {
    const a = await player(server);
    const b = await player(server);
    await a.client.addFriend(b.id);
    await b.client.addFriend(a.id);
    const seen = [];
    a.socket.onPresenceChanged((p) => p.player_id === b.id && seen.push(p.status));
    b.socket.close();
    await until(() => seen.includes('offline'), { timeoutMs: 8000, what: 'offline' });
    const b2 = b.client.socket({ heartbeatMs: 0 });
    await b2.connect();
    await until(() => seen.lastIndexOf('online') > seen.indexOf('offline'), { timeoutMs: 8000, what: 'online again' });
    b2.close();
  });

  it('notifications: onNotification from the admin API, list, mark read, delete', async () => {
    const { socket, client, id } = await player(server);
    const live = new Promise((resolve) => socket.onNotification(resolve));
    const sent = await admin.notify(id, 'reward', 'A gift', { coins: 5 });
    assert.equal(sent.player_id, id);
    const got = await live;
    assert.equal(got.id, sent.id);
    assert.equal(got.type, 'reward');
    assert.deepEqual(got.content, { coins: 5 });

    const unread = await client.listNotifications({ unread: true });
    assert.ok(unread.notifications.some((n) => n.id === sent.id && n.read === false));
    assert.deepEqual(await client.markNotificationsRead([sent.id]), { updated: 1 });
    const after = await client.listNotifications({ unread: true, limit: 10 });
    assert.ok(!after.notifications.some((n) => n.id === sent.id));
    await admin.notify(id, 'reward', 'Another');
    assert.ok((await client.markNotificationsRead('all')).updated >= 1);
    assert.deepEqual(await client.deleteNotification(sent.id), { id: sent.id, deleted: true });
    await assert.rejects(client.deleteNotification(sent.id), { code: 'not_found' });
  });
});
