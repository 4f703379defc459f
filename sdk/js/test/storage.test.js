// Storage objects through the SDK (docs/STORAGE.md), against the real server: write / read /
// list / delete with versions, conflicts as MoonbaseError, and the AdminClient's storage calls.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AdminClient, MoonbaseError } from '../src/moonbase-client.js';
import { startServer, player } from './helpers.js';

describe('storage objects', () => {
  let server, admin;
  before(async () => {
    server = await startServer();
    admin = new AdminClient(server.baseUrl, server.adminToken);
  });
  after(() => server.stop());

  it('writeObjects, readObjects, listObjects (cursor), deleteObjects; a conflict rejects with MoonbaseError', async () => {
    const a = await player(server);
    const b = await player(server);
    const { objects: acks } = await a.client.writeObjects([
      { collection: 'deck', key: 'main', value: { cards: [1, 2, 3] }, permission_read: 'public' },
      { collection: 'deck', key: 'spare', value: { cards: [] } },
    ]);
    assert.deepEqual(acks.map((x) => x.key), ['main', 'spare']);
    assert.match(acks[0].version, /^[0-9a-f]{32}$/);
    const mine = await a.client.readObjects([{ collection: 'deck', key: 'main' }]);
    assert.deepEqual(mine.objects[0].value, { cards: [1, 2, 3] });
    // b sees a's public deck only
    const theirs = await b.client.listObjects('deck', { ownerId: a.id });
    assert.deepEqual(theirs.objects.map((o) => o.key), ['main']);
    const page1 = await a.client.listObjects('deck', { limit: 1 });
    assert.equal(page1.objects.length, 1);
    const page2 = await a.client.listObjects('deck', { limit: 1, cursor: page1.cursor });
    assert.deepEqual([page1.objects[0].key, page2.objects[0].key], ['main', 'spare']);
    assert.equal(page2.cursor, null);
    await assert.rejects(
      a.client.writeObjects([{ collection: 'deck', key: 'main', value: { cards: [] }, version: '*' }]),
      (e) => e instanceof MoonbaseError && e.code === 'conflict' && e.status === 409 && /objects\[0\] \(deck\/main\)/.test(e.message),
    );
    assert.deepEqual(await a.client.deleteObjects([{ collection: 'deck', key: 'spare', version: acks[1].version }]), { deleted: 1 });
  });

  it('AdminClient: collections, listStorage, get/put/delete a server object', async () => {
    const put = await admin.putStorageObject('season', 'current', { value: { n: 3 }, permission_read: 'public', permission_write: 'none' });
    assert.equal(put.objects[0].owner_id, null);
    const cols = await admin.storageCollections();
    assert.ok(cols.collections.some((c) => c.collection === 'season' && c.count === 1));
    assert.deepEqual((await admin.getStorageObject('season', 'current')).objects[0].value, { n: 3 });
    assert.equal((await admin.listStorage('season', { ownerId: 'server' })).objects.length, 1);
    const p = await player(server);
    assert.deepEqual((await p.client.readObjects([{ collection: 'season', key: 'current', owner_id: null }])).objects[0].value, { n: 3 });
    assert.deepEqual(await admin.deleteStorageObject('season', 'current', { version: put.objects[0].version }), { deleted: 1 });
  });
});
