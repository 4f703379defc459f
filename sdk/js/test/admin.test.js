// AdminClient (/v1/admin/*) against the real server: what the console uses.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient, MoonbaseError } from '../src/moonbase-client.js';
import { startServer, player, until } from './helpers.js';

describe('AdminClient', () => {
  let server, admin;
  before(async () => {
    server = await startServer();
    admin = new AdminClient(server.baseUrl, server.adminToken);
  });
  after(() => server.stop());

  it('a wrong token is unauthorized', async () => {
    await assert.rejects(new AdminClient(server.baseUrl, 'not-the-admin-token').overview(), (e) => e instanceof MoonbaseError && e.code === 'unauthorized' && e.status === 401);
  });

  it('overview, players, player, matches, match (state), endMatch, matchmaker', async () => {
    const a = await player(server);
    const b = await player(server);
    const ov = await admin.overview();
    assert.ok(ov.authenticated_sessions >= 2);
    assert.equal(ov.database.up, true);
    assert.equal(typeof ov.messages_in_per_s, 'number');

    const found = await admin.players({ q: a.name });
    assert.deepEqual(found.players.map((p) => p.player_id), [a.id]);
    assert.equal(found.players[0].online, true);
    const one = await admin.player(a.id);
    assert.equal(one.username, a.name);
    assert.equal(one.sessions.length, 1);
    await assert.rejects(admin.player('nope'), { code: 'not_found' });

    const m = await a.client.createMatch('sdktest');
    await a.socket.joinMatch(m.match_id);
    await b.socket.joinMatch(m.match_id);
    a.socket.sendInput({ action: 'move', x: 3, y: 4 });
    const list = await admin.matches();
    const row = list.matches.find((x) => x.match_id === m.match_id);
    assert.equal(row.mode, 'sdktest');
    assert.equal(row.tick_rate, 20);
    assert.equal(row.players.length, 2);
    const detail = await until(async () => {
      const d = await admin.match(m.match_id);
      return d.state.players[a.id].x === 3 && d;
    }, { what: 'state with the move' });
    assert.equal(detail.state.players[a.id].y, 4);

    const fin = a.socket.next('match.finished');
    assert.deepEqual(await admin.endMatch(m.match_id), { match_id: m.match_id, status: 'finished' });
    assert.deepEqual((await fin).result, { reason: 'ended_by_admin' });
    await assert.rejects(admin.match(m.match_id), { code: 'not_found' });

    await a.socket.addTicket('sdktest', { room: 'admin-test' });
    const mm = await admin.matchmaker();
    assert.equal(mm.modes.sdktest.tickets, 1);
  });

  it('chatChannels and chatMessages', async () => {
    const a = await player(server);
    const b = await player(server);
    const room = `admin-room-${Date.now().toString(36)}`;
    await a.socket.joinChat(room);
    await b.socket.joinChat(room);
    const m1 = await a.socket.sendChat(room, 'first');
    const m2 = await b.socket.sendChat(room, 'second');
    const { channels, total } = await admin.chatChannels();
    assert.equal(total, channels.length);
    assert.deepEqual(channels.find((c) => c.channel_id === room), { channel_id: room, kind: 'room', members: 2, sockets: 2 });

    const page = await admin.chatMessages(room);
    assert.equal(page.channel_id, room);
    assert.deepEqual(page.messages.map((m) => [m.message_id, m.sender_id, m.sender_username, m.content]), [
      [m2.message_id, b.id, b.name, 'second'],
      [m1.message_id, a.id, a.name, 'first'],
    ]);
    const one = await admin.chatMessages(room, { limit: 1 });
    assert.deepEqual(one.messages.map((m) => m.content), ['second']);
    const older = await admin.chatMessages(room, { limit: 1, before: one.next_cursor });
    assert.deepEqual(older.messages.map((m) => m.content), ['first']);
    await assert.rejects(admin.chatMessages('bad channel'), (e) => e instanceof MoonbaseError && e.code === 'bad_request' && e.status === 400);
    await assert.rejects(new AdminClient(server.baseUrl, 'not-the-admin-token').chatChannels(), { code: 'unauthorized' });
  });

  it('scripts and reloadScripts', async () => {
    const st = await admin.scripts();
    const arena = st.modes.find((x) => x.mode === 'arena');
    assert.ok(arena.version >= 1);
    assert.equal(arena.error, null);
    assert.deepEqual(st.server.rpcs.sort(), ['echo', 'roll']);
    const again = await admin.reloadScripts();
    assert.ok(again.modes.find((x) => x.mode === 'arena').version > arena.version);
  });
});
