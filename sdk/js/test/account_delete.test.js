// Client.deleteAccount (DELETE /v1/account) against the real server: the session is forgotten,
// the Socket closes with 4002 and does not reconnect; a banned account's sign-in rejects with
// ErrorCode.ACCOUNT_BANNED.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, ErrorCode } from '../src/moonbase-client.js';
import { startServer, player, deviceId, until } from './helpers.js';

describe('Client.deleteAccount', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('deletes the account, forgets the session, and the socket stays closed (4002)', async () => {
    const { client, socket, id } = await player(server);
    const events = [];
    socket.onDisconnect((e) => events.push(e));
    const reply = await client.deleteAccount();
    assert.deepEqual(reply, { player_id: id, deleted: true, closed_sockets: 1 });
    assert.equal(client.session, null);
    await until(() => events.length === 1, { what: 'disconnect event' });
    assert.equal(events[0].code, 4002);
    assert.equal(events[0].reason, 'account deleted');
    assert.equal(events[0].willReconnect, false);
    assert.equal(socket.state, 'closed');
    await assert.rejects(client.getAccount(), { code: 'unauthorized' }, 'no session left');
  });

  it('a banned account: sign-in rejects with ErrorCode.ACCOUNT_BANNED (403)', async () => {
    const dev = deviceId();
    const c = new Client(server.baseUrl);
    const s = await c.authenticateDevice(dev);
    const ban = await fetch(`${server.baseUrl}/v1/admin/accounts/${s.player_id}/ban`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(ban.status, 200);
    await assert.rejects(new Client(server.baseUrl).authenticateDevice(dev), (e) => {
      assert.equal(e.code, ErrorCode.ACCOUNT_BANNED);
      assert.equal(e.status, 403);
      assert.equal(e.message, 'account banned');
      return true;
    });
  });
});
