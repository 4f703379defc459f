'use strict';
// Storage objects over REST (docs/STORAGE.md, docs/REST.md "Storage"): permissions from every
// side, conditional writes, batches all or nothing, cursors, limits and bad input, admin routes.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const bearer = (p) => ({ authorization: `Bearer ${p.token}` });

describe('storage (REST)', () => {
  let server;
  let alice;
  let bob;
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  const put = (p, objects) => server.http('PUT', '/v1/storage', { objects }, bearer(p));
  const read = (p, ids) => server.http('POST', '/v1/storage/read', { ids }, bearer(p));
  const del = (p, ids) => server.http('POST', '/v1/storage/delete', { ids }, bearer(p));
  const list = (p, coll, q = '') => server.http('GET', `/v1/storage/${coll}${q}`, undefined, bearer(p));
  const rows = async (where) =>
    (await h.sql(`SELECT count(*) FROM storage_objects WHERE ${where}`, { database: new URL(server.databaseUrl).pathname.slice(1) })).trim();

  before(async () => {
    server = await h.startServer({ args: ['--storage-max-value-bytes', '1024', '--storage-max-batch', '10', '--max-json-depth', '40'] });
    alice = await h.authed(server, { device_id: `st-alice-${Date.now()}` });
    bob = await h.authed(server, { device_id: `st-bob-${Date.now()}` });
  });
  after(async () => {
    for (const p of [alice, bob]) if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('write, then read back: version is md5 of the value, defaults owner/owner', async () => {
    const w = await put(alice, [{ collection: 'saves', key: 'slot1', value: { level: 3, hp: 10 } }]);
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.objects.length, 1);
    const ack = w.json.objects[0];
    assert.equal(ack.collection, 'saves');
    assert.equal(ack.key, 'slot1');
    assert.equal(ack.owner_id, alice.player_id);
    assert.match(ack.version, /^[0-9a-f]{32}$/);
    assert.match(ack.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const r = await read(alice, [{ collection: 'saves', key: 'slot1' }]);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.objects.map((o) => [o.value, o.version, o.permission_read, o.permission_write, o.owner_id]), [
      [{ level: 3, hp: 10 }, ack.version, 'owner', 'owner', alice.player_id],
    ]);
    // same value again: same version (a hash of the value)
    const again = await put(alice, [{ collection: 'saves', key: 'slot1', value: { hp: 10, level: 3 } }]);
    assert.equal(again.json.objects[0].version, ack.version);
  });

  it('conditional writes: "*" only when absent, a version only when it still matches', async () => {
    const first = await put(alice, [{ collection: 'cond', key: 'k', value: { n: 1 }, version: '*' }]);
    assert.equal(first.status, 200, first.text);
    const v1 = first.json.objects[0].version;
    const dup = await put(alice, [{ collection: 'cond', key: 'k', value: { n: 2 }, version: '*' }]);
    assert.equal(dup.status, 409);
    assert.equal(dup.json.error.code, 'conflict');
    assert.equal(dup.json.error.message, 'objects[0] (cond/k): the object already exists (version "*"); nothing was written');
    const ok = await put(alice, [{ collection: 'cond', key: 'k', value: { n: 2 }, version: v1 }]);
    assert.equal(ok.status, 200, ok.text);
    const stale = await put(alice, [{ collection: 'cond', key: 'k', value: { n: 3 }, version: v1 }]);
    assert.equal(stale.status, 409);
    assert.match(stale.json.error.message, /^objects\[0\] \(cond\/k\): version mismatch \(the object has another version\)/);
    const missing = await put(alice, [{ collection: 'cond', key: 'nope', value: { n: 1 }, version: v1 }]);
    assert.equal(missing.status, 409);
    assert.match(missing.json.error.message, /does not exist/);
    const r = await read(alice, [{ collection: 'cond', key: 'k' }]);
    assert.deepEqual(r.json.objects[0].value, { n: 2 });
  });

  it('a batch is all or nothing: one conflict writes none of the others', async () => {
    await put(alice, [{ collection: 'batch', key: 'b', value: { v: 'old' } }]);
    const res = await put(alice, [
      { collection: 'batch', key: 'a', value: { v: 1 } },
      { collection: 'batch', key: 'b', value: { v: 2 }, version: '*' },
      { collection: 'batch', key: 'c', value: { v: 3 } },
    ]);
    assert.equal(res.status, 409);
    assert.match(res.json.error.message, /^objects\[1\] \(batch\/b\)/);
    assert.equal(await rows(`collection = 'batch'`), '1');
    const r = await read(alice, [{ collection: 'batch', key: 'b' }, { collection: 'batch', key: 'a' }]);
    assert.deepEqual(r.json.objects.map((o) => o.value), [{ v: 'old' }]);
    // the same batch without the conflict: all three, in order
    const ok = await put(alice, [
      { collection: 'batch', key: 'a', value: { v: 1 } },
      { collection: 'batch', key: 'b', value: { v: 2 } },
      { collection: 'batch', key: 'c', value: { v: 3 } },
    ]);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json.objects.map((o) => o.key), ['a', 'b', 'c']);
  });

  it('permissions from every side: owner, other player, public, server-only', async () => {
    const objs = [
      { collection: 'perm', key: 'private', value: { p: 1 }, permission_read: 'owner' },
      { collection: 'perm', key: 'public', value: { p: 2 }, permission_read: 'public' },
      { collection: 'perm', key: 'hidden', value: { p: 3 }, permission_read: 'none' },
      { collection: 'perm', key: 'locked', value: { p: 4 }, permission_read: 'public', permission_write: 'none' },
    ];
    assert.equal((await put(alice, objs)).status, 200);
    const ids = objs.map((o) => ({ collection: 'perm', key: o.key, owner_id: alice.player_id }));
    // alice: her own readable ones (not "none")
    assert.deepEqual((await read(alice, ids)).json.objects.map((o) => o.key), ['private', 'public', 'locked']);
    // bob: only the public ones
    assert.deepEqual((await read(bob, ids)).json.objects.map((o) => o.key), ['public', 'locked']);
    // bob's list of alice's collection: the public ones only
    const bl = await list(bob, 'perm', `?owner_id=${alice.player_id}`);
    assert.equal(bl.status, 200, bl.text);
    assert.deepEqual(bl.json.objects.map((o) => o.key), ['locked', 'public']);
    // alice cannot change or delete what she made server-only (permission_write none)
    const w = await put(alice, [{ collection: 'perm', key: 'locked', value: { p: 5 } }]);
    assert.equal(w.status, 403);
    assert.equal(w.json.error.message, 'objects[0] (perm/locked): permission_write is none (only the server may change it); nothing was written');
    const d = await del(alice, [{ collection: 'perm', key: 'locked' }]);
    assert.equal(d.status, 403);
    // bob cannot write alice's objects: owner_id must be his own
    const bw = await put(bob, [{ collection: 'perm', key: 'public', owner_id: alice.player_id, value: { hack: 1 } }]);
    assert.equal(bw.status, 400);
    assert.equal(bw.json.error.message, 'objects[0]: owner_id: a player reaches only its own objects here');
    const bd = await del(bob, [{ collection: 'perm', key: 'public', owner_id: alice.player_id }]);
    assert.equal(bd.status, 400);
    // writing the same collection/key makes bob's own object, alice's is untouched
    assert.equal((await put(bob, [{ collection: 'perm', key: 'public', value: { bob: 1 } }])).status, 200);
    assert.deepEqual((await read(bob, [ids[1]])).json.objects[0].value, { p: 2 });
    // the server (admin) changes the locked one and reads the hidden one
    const aw = await server.http('PUT', `/v1/admin/storage/perm/locked?owner_id=${alice.player_id}`,
      { value: { p: 6 }, permission_read: 'public', permission_write: 'none' }, admin());
    assert.equal(aw.status, 200, aw.text);
    const ag = await server.http('GET', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}`, undefined, admin());
    assert.deepEqual(ag.json.objects.map((o) => o.value), [{ p: 3 }]);
    // players see it with the server's value
    assert.deepEqual((await read(bob, [ids[3]])).json.objects[0].value, { p: 6 });
  });

  it('server objects (no owner): written by admin, readable by players only when public', async () => {
    const w = await server.http('PUT', '/v1/admin/storage/config/season', { value: { season: 7 }, permission_read: 'public', permission_write: 'none' }, admin());
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.objects[0].owner_id, null);
    await server.http('PUT', '/v1/admin/storage/config/secret', { value: { key: 'x' }, permission_read: 'none' }, admin());
    const r = await read(alice, [{ collection: 'config', key: 'season', owner_id: null }, { collection: 'config', key: 'secret', owner_id: null }]);
    assert.deepEqual(r.json.objects.map((o) => [o.key, o.value, o.owner_id]), [['season', { season: 7 }, null]]);
    const l = await list(alice, 'config', '?owner_id=server');
    assert.deepEqual(l.json.objects.map((o) => o.key), ['season']);
    // a player cannot write a server object
    const pw = await put(alice, [{ collection: 'config', key: 'season', owner_id: null, value: { season: 8 } }]);
    assert.equal(pw.status, 400);
  });

  it('list with a cursor walks every object once, in key order', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `item${i}`);
    assert.equal((await put(bob, keys.map((k) => ({ collection: 'inv', key: k, value: { k } })))).status, 200);
    const seen = [];
    let cursor = null;
    let pages = 0;
    do {
      const res = await list(bob, 'inv', `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(res.status, 200, res.text);
      seen.push(...res.json.objects.map((o) => o.key));
      cursor = res.json.cursor;
      pages++;
    } while (cursor);
    assert.deepEqual(seen, keys);
    assert.equal(pages, 3);
    // alice lists bob's: none public
    assert.deepEqual((await list(alice, 'inv', `?owner_id=${bob.player_id}`)).json.objects, []);
    // bad cursor, bad limit
    assert.equal((await list(bob, 'inv', '?cursor=garbage')).json.error.message, 'cursor is not one this server returned');
    assert.equal((await list(bob, 'inv', '?limit=0')).status, 400);
    assert.equal((await list(bob, 'in%20v')).status, 400);
  });

  it('delete a batch, with optional versions, all or nothing', async () => {
    const w = await put(alice, [
      { collection: 'del', key: 'x', value: { a: 1 } },
      { collection: 'del', key: 'y', value: { a: 2 } },
    ]);
    const [vx] = w.json.objects.map((o) => o.version);
    const bad = await del(alice, [{ collection: 'del', key: 'x', version: vx }, { collection: 'del', key: 'y', version: vx }]);
    assert.equal(bad.status, 409);
    assert.match(bad.json.error.message, /^ids\[1\] \(del\/y\): version mismatch/);
    assert.equal(await rows(`collection = 'del'`), '2');
    const ok = await del(alice, [{ collection: 'del', key: 'x', version: vx }, { collection: 'del', key: 'y' }, { collection: 'del', key: 'never' }]);
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { deleted: 2 });
    assert.equal(await rows(`collection = 'del'`), '0');
  });

  it('limits and bad input: clear errors, nothing written', async () => {
    const cases = [
      [{ objects: [] }, 'objects must hold 1..10 items (--storage-max-batch), not 0'],
      [{ objects: Array.from({ length: 11 }, (_, i) => ({ collection: 'lim', key: `k${i}`, value: {} })) }, 'objects must hold 1..10 items (--storage-max-batch), not 11'],
      [{ objects: [{ collection: 'lim', key: 'big', value: { s: 'x'.repeat(1100) } }] }, /^objects\[0\]: value is 11\d\d bytes of JSON, over the limit of 1024 \(--storage-max-value-bytes\)$/],
      [{ objects: [{ collection: 'lim', key: 'k', value: [1, 2] }] }, 'objects[0]: value must be a JSON object'],
      [{ objects: [{ collection: 'lim', key: 'k', value: JSON.parse('{"a":'.repeat(30) + '1' + '}'.repeat(30)) }] }, 'objects[0]: value is nested deeper than 29 levels'],
      [{ objects: [{ collection: 'lim', key: 'k' }] }, "objects[0]: missing field 'value'"],
      [{ objects: [{ collection: 'lim/x', key: 'k', value: {} }] }, "objects[0]: collection may contain only letters, digits, '_', '.', ':' and '-'"],
      [{ objects: [{ collection: 'lim', key: '', value: {} }] }, 'objects[0]: key must be 1..128 characters'],
      [{ objects: [{ collection: 'lim', key: 'k', value: {}, permission_read: 'everyone' }] }, 'objects[0]: permission_read must be "none", "owner" or "public"'],
      [{ objects: [{ collection: 'lim', key: 'k', value: {}, colour: 1 }] }, "objects[0]: unknown field 'colour' (collection, key, owner_id, value, version, permission_read, permission_write)"],
      [{ objects: [{ collection: 'lim', key: 'k', value: {} }, { collection: 'lim', key: 'k', value: {} }] }, 'objects[1]: names the same object as objects[0]'],
      [{ objects: 'no' }, "field 'objects' must be an array"],
      [{}, "missing field 'objects'"],
      [{ objects: [], extra: 1 }, "unknown field 'extra' (objects)"],
    ];
    for (const [body, msg] of cases) {
      const res = await server.http('PUT', '/v1/storage', body, bearer(alice));
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
      assert.equal(res.json.error.code, 'bad_request');
      if (msg instanceof RegExp) assert.match(res.json.error.message, msg);
      else assert.equal(res.json.error.message, msg);
    }
    assert.equal(await rows(`collection = 'lim'`), '0');
    const r = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'x', key: 'y', version: 'v' }] }, bearer(alice));
    assert.equal(r.json.error.message, "ids[0]: unknown field 'version' (collection, key, owner_id)");
    const d = await server.http('POST', '/v1/storage/delete', { ids: [{ collection: 'x', key: 'y', version: '*' }] }, bearer(alice));
    assert.equal(d.json.error.message, 'ids[0]: version "*" is for writes only');
    // no token
    assert.equal((await server.http('PUT', '/v1/storage', { objects: [] })).status, 401);
  });

  it('admin: collections with counts, list across owners, get/put/delete with versions', async () => {
    const c = await server.http('GET', '/v1/admin/storage', undefined, admin());
    assert.equal(c.status, 200, c.text);
    const perm = c.json.collections.find((x) => x.collection === 'perm');
    assert.equal(perm.count, 5);
    const all = await server.http('GET', '/v1/admin/storage/perm?limit=100', undefined, admin());
    assert.deepEqual(new Set(all.json.objects.map((o) => o.owner_id)), new Set([alice.player_id, bob.player_id]));
    const g = await server.http('GET', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}`, undefined, admin());
    const v = g.json.objects[0].version;
    const stale = await server.http('PUT', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}`, { value: { p: 9 }, version: 'abc' }, admin());
    assert.equal(stale.status, 409);
    const ok = await server.http('PUT', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}`, { value: { p: 9 }, version: v }, admin());
    assert.equal(ok.status, 200, ok.text);
    const d = await server.http('DELETE', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}&version=${v}`, undefined, admin());
    assert.equal(d.status, 409);
    const d2 = await server.http('DELETE', `/v1/admin/storage/perm/hidden?owner_id=${alice.player_id}&version=${ok.json.objects[0].version}`, undefined, admin());
    assert.deepEqual(d2.json, { deleted: 1 });
    assert.equal((await server.http('GET', '/v1/admin/storage', undefined, bearer(alice))).status, 401);
  });

  it('a deleted account takes its objects with it', async () => {
    const carol = await h.authed(server, { device_id: `st-carol-${Date.now()}` });
    await put(carol, [{ collection: 'gone', key: 'k', value: { a: 1 } }]);
    assert.equal(await rows(`owner_id = '${carol.player_id}'`), '1');
    const res = await server.http('DELETE', '/v1/account', undefined, bearer(carol));
    assert.ok(res.status < 300, res.text);
    await h.waitFor('objects gone', async () => (await rows(`owner_id = '${carol.player_id}'`)) === '0');
    await carol.ws.close();
  });
});
