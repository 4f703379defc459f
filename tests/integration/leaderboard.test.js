'use strict';
// Leaderboards over REST (docs/LEADERBOARDS.md, docs/REST.md "Leaderboards"): admin create
// (idempotent, validated), client submits only where the board allows them, the three
// operators, ties (subscore, then who got there first), reads (top with a cursor, around a
// player, given players, one rank), ranks rebuilt from PostgreSQL after a restart, scheduled
// and admin resets with the development clock, archives.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const h = require('./harness');

const uuid = () => crypto.randomUUID();

describe('leaderboards (REST)', () => {
  let server;
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });
  const create = (body) => server.http('POST', '/v1/admin/leaderboards', body, admin());
  const submitAs = (id, owner_id, score, extra = {}) =>
    server.http('POST', `/v1/admin/leaderboards/${id}/records`, { owner_id, score, ...extra }, admin());
  const top = (id, q = '') => server.http('GET', `/v1/admin/leaderboards/${id}${q}`, undefined, admin());
  let p; // a player with a token
  const bearer = () => ({ authorization: `Bearer ${p.token}` });
  const db = () => ({ database: new URL(server.databaseUrl).pathname.slice(1) });

  before(async () => {
    server = await h.startServer();
    p = await h.authed(server, { username: `lb_${Date.now() % 1e8}` });
  });
  after(async () => {
    if (p) await p.ws.close();
    if (server) assert.equal(await server.stop(), 0);
  });

  it('admin create: 201, then idempotent 200 with the board unchanged; bad input is 400', async () => {
    const r1 = await create({ id: 'weekly', sort: 'desc', operator: 'best', reset: '0 0 * * 1', metadata: { t: 1 } });
    assert.equal(r1.status, 201, r1.text);
    assert.equal(r1.json.created, true);
    const b = r1.json.leaderboard;
    assert.deepEqual(
      { id: b.id, sort: b.sort, operator: b.operator, reset: b.reset, period: b.period, total: b.total, metadata: b.metadata },
      { id: 'weekly', sort: 'desc', operator: 'best', reset: '0 0 * * 1', period: 1, total: 0, metadata: { t: 1 } });
    // next reset: the next Monday 00:00 UTC
    const nr = new Date(b.next_reset);
    assert.equal(nr.getUTCDay(), 1);
    assert.equal(nr.getUTCHours() + nr.getUTCMinutes(), 0);
    assert.ok(nr > Date.now() && nr - Date.now() <= 7 * 86400e3);
    const r2 = await create({ id: 'weekly', sort: 'asc', operator: 'set' });
    assert.equal(r2.status, 200, r2.text);
    assert.equal(r2.json.created, false);
    assert.equal(r2.json.leaderboard.sort, 'desc');
    // a row in PostgreSQL
    assert.match(await h.sql("SELECT sort || ',' || operator || ',' || reset FROM leaderboards WHERE id = 'weekly'",
      db()), /desc,best,0 0 \* \* 1/);
    for (const [body, re] of [
      [{ id: 'bad id!' }, /id must be 1\.\.64 characters/],
      [{ id: 'x', sort: 'up' }, /sort must be "desc" or "asc"/],
      [{ id: 'x', operator: 'max' }, /operator must be "best", "set" or "incr"/],
      [{ id: 'x', reset: '61 * * * *' }, /reset: minute field/],
      [{ id: 'x', reset: 'daily' }, /reset: minute field 'daily' is not a cron field/],
      [{ id: 'x', reset: '0 0 * *' }, /reset: a cron expression has 5 fields/],
      [{ id: 'x', colour: 'red' }, /unknown field 'colour'/],
      [{ id: 'x', metadata: [] }, /metadata/],
    ]) {
      const r = await create(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} -> ${r.text}`);
      assert.match(r.json.error.message, re);
    }
    assert.equal((await top('x')).status, 404); // nothing was created by the refusals
    // players cannot create
    assert.equal((await server.http('POST', '/v1/admin/leaderboards', { id: 'y' }, bearer())).status, 401);
  });

  it('client submits: 403 on a server-only board, accepted (after commit) where allowed', async () => {
    await create({ id: 'server_only' });
    const r = await server.http('POST', '/v1/leaderboards/server_only/records', { score: 5 }, bearer());
    assert.equal(r.status, 403, r.text);
    assert.match(r.json.error.message, /server only/);
    await create({ id: 'open', client_submit: true });
    const ok = await server.http('POST', '/v1/leaderboards/open/records', { score: 7, subscore: 2, metadata: { car: 'red' } }, bearer());
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(
      (({ owner_id, username, score, subscore, rank, metadata, num_submits }) => ({ owner_id, username, score, subscore, rank, metadata, num_submits }))(ok.json.record),
      { owner_id: p.player_id, username: p.username, score: 7, subscore: 2, rank: 1, metadata: { car: 'red' }, num_submits: 1 });
    // the acknowledged write is in PostgreSQL already
    assert.match(await h.sql(`SELECT score || '/' || subscore FROM leaderboard_records WHERE leaderboard_id = 'open' AND owner_id = '${p.player_id}'`,
      db()), /7\/2/);
    // bad bodies
    for (const [body, re] of [[{}, /score/], [{ score: 1.5 }, /score/], [{ score: 2 ** 60 }, /score/], [{ score: 1, owner_id: uuid() }, /unknown field 'owner_id'/]]) {
      const b = await server.http('POST', '/v1/leaderboards/open/records', body, bearer());
      assert.equal(b.status, 400, `${JSON.stringify(body)} -> ${b.text}`);
      assert.match(b.json.error.message, re);
    }
    assert.equal((await server.http('POST', '/v1/leaderboards/nope/records', { score: 1 }, bearer())).status, 404);
    assert.equal((await server.http('POST', '/v1/leaderboards/open/records', { score: 1 })).status, 401);
  });

  it('operators: best keeps the better (desc and asc), set replaces, incr adds (overflow refused)', async () => {
    const a = uuid();
    await create({ id: 'op_best', operator: 'best', sort: 'desc' });
    assert.equal((await submitAs('op_best', a, 50, { metadata: { run: 1 } })).json.record.score, 50);
    let r = await submitAs('op_best', a, 40, { metadata: { run: 2 } });
    assert.deepEqual([r.json.record.score, r.json.record.num_submits, r.json.record.metadata], [50, 2, { run: 1 }]);
    r = await submitAs('op_best', a, 60, { metadata: { run: 3 } });
    assert.deepEqual([r.json.record.score, r.json.record.num_submits, r.json.record.metadata], [60, 3, { run: 3 }]);
    r = await submitAs('op_best', a, 60, { subscore: 1 });
    assert.deepEqual([r.json.record.score, r.json.record.subscore], [60, 1]); // a better subscore counts

    await create({ id: 'op_best_asc', operator: 'best', sort: 'asc' }); // e.g. lap times
    await submitAs('op_best_asc', a, 90);
    assert.equal((await submitAs('op_best_asc', a, 95)).json.record.score, 90);
    assert.equal((await submitAs('op_best_asc', a, 80)).json.record.score, 80);

    await create({ id: 'op_set', operator: 'set' });
    await submitAs('op_set', a, 90);
    assert.equal((await submitAs('op_set', a, 10)).json.record.score, 10);

    await create({ id: 'op_incr', operator: 'incr' });
    await submitAs('op_incr', a, 5, { subscore: 1 });
    r = await submitAs('op_incr', a, -2, { subscore: 1 });
    assert.deepEqual([r.json.record.score, r.json.record.subscore, r.json.record.num_submits], [3, 2, 2]);
    r = await submitAs('op_incr', a, 2 ** 53);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error.message, /range/);
    const rank = await server.http('GET', `/v1/leaderboards/op_incr/records/${a}`, undefined, bearer());
    assert.equal(rank.json.record.score, 3); // the refused submit changed nothing
    assert.match(await h.sql(`SELECT score FROM leaderboard_records WHERE leaderboard_id = 'op_incr'`, db()), /^\s*3\s*$/m);
  });

  it('ties: subscore decides, then who got there first; reads agree on exact ranks', async () => {
    await create({ id: 'ties' });
    const [a, b, c, d, e] = [uuid(), uuid(), uuid(), uuid(), uuid()];
    await submitAs('ties', a, 100, { subscore: 1 });
    await submitAs('ties', b, 100, { subscore: 5 }); // better subscore: above a
    await submitAs('ties', c, 100, { subscore: 1 }); // same as a, later: below a
    await submitAs('ties', d, 200);
    await submitAs('ties', e, 100, { subscore: 1 }); // last of the three (100, 1)
    await submitAs('ties', a, 90);                   // best: a keeps (100, 1) and its place
    const t = await top('ties', '?limit=10');
    assert.equal(t.status, 200, t.text);
    assert.deepEqual(t.json.records.map((r) => [r.owner_id, r.rank]), [[d, 1], [b, 2], [a, 3], [c, 4], [e, 5]]);
    assert.equal(t.json.next_cursor, null);
    assert.ok('next_reset' in t.json);
    const one = await server.http('GET', `/v1/leaderboards/ties/records/${c}`, undefined, bearer());
    assert.equal(one.json.record.rank, 4);
    const friends = await server.http('GET', `/v1/leaderboards/ties/records?owner_ids=${e},${b},${uuid()}`, undefined, bearer());
    assert.deepEqual(friends.json.records.map((r) => [r.owner_id, r.rank]), [[b, 2], [e, 5]]);
    assert.equal((await server.http('GET', `/v1/leaderboards/ties/records/${uuid()}`, undefined, bearer())).status, 404);
  });

  it('top with a cursor pages through every record once; around gives player ± n with ranks', async () => {
    await create({ id: 'pages' });
    const owners = [];
    for (let i = 0; i < 57; i++) owners.push(uuid());
    await Promise.all(owners.map((o, i) => submitAs('pages', o, 1000 - i)));
    const seen = [];
    let cursor = '';
    for (let page = 0; page < 10; page++) {
      const r = await server.http('GET', `/v1/leaderboards/pages?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, bearer());
      assert.equal(r.status, 200, r.text);
      seen.push(...r.json.records.map((x) => [x.owner_id, x.rank, x.score]));
      cursor = r.json.next_cursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, owners.map((o, i) => [o, i + 1, 1000 - i]));
    // a cursor stays valid when its record moves: the next page starts after its old place
    const first = await server.http('GET', '/v1/leaderboards/pages?limit=3', undefined, bearer());
    await submitAs('pages', owners[2], 5000); // the cursor's record jumps to the top
    const next = await server.http('GET', `/v1/leaderboards/pages?limit=2&cursor=${encodeURIComponent(first.json.next_cursor)}`, undefined, bearer());
    assert.deepEqual(next.json.records.map((x) => x.owner_id), [owners[3], owners[4]]);
    const bad = await server.http('GET', '/v1/leaderboards/pages?cursor=zzz', undefined, bearer());
    assert.equal(bad.status, 400);
    assert.match(bad.json.error.message, /cursor/);
    // around: rank of owners[30] is 31 now (owners[2] moved to 1st, nothing else changed below it)
    const ar = await server.http('GET', `/v1/leaderboards/pages/around/${owners[30]}?n=2`, undefined, bearer());
    assert.equal(ar.status, 200, ar.text);
    assert.equal(ar.json.owner_rank, 31);
    assert.deepEqual(ar.json.records.map((x) => [x.owner_id, x.rank]), [[owners[28], 29], [owners[29], 30], [owners[30], 31], [owners[31], 32], [owners[32], 33]]);
    const edge = await server.http('GET', `/v1/leaderboards/pages/around/${owners[2]}?n=2`, undefined, bearer());
    assert.deepEqual(edge.json.records.map((x) => x.rank), [1, 2, 3]);
    const none = await server.http('GET', `/v1/leaderboards/pages/around/${uuid()}`, undefined, bearer());
    assert.deepEqual([none.json.owner_rank, none.json.records], [null, []]);
    assert.equal((await server.http('GET', '/v1/leaderboards/pages?limit=x', undefined, bearer())).status, 400);
  });

  it('reset now (admin) archives the period; the archive stays readable', async () => {
    await create({ id: 'season' });
    const [a, b] = [uuid(), uuid()];
    await submitAs('season', a, 10);
    await submitAs('season', b, 20);
    const r = await server.http('POST', '/v1/admin/leaderboards/season/reset', undefined, admin());
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.closed_period, r.json.leaderboard.period, r.json.leaderboard.total], [1, 2, 0]);
    const cur = await top('season');
    assert.deepEqual([cur.json.leaderboard.period, cur.json.records], [2, []]);
    await submitAs('season', a, 1);
    const arch = await server.http('GET', '/v1/leaderboards/season?period=1', undefined, bearer());
    assert.equal(arch.status, 200, arch.text);
    assert.deepEqual(arch.json.records.map((x) => [x.owner_id, x.score, x.rank]), [[b, 20, 1], [a, 10, 2]]);
    assert.equal(arch.json.archive.period, 1);
    const page2 = await server.http('GET', '/v1/leaderboards/season?period=1&offset=1&limit=1', undefined, bearer());
    assert.deepEqual(page2.json.records.map((x) => [x.owner_id, x.rank]), [[a, 2]]);
    assert.equal((await server.http('GET', '/v1/leaderboards/season?period=7', undefined, bearer())).status, 404);
    assert.equal((await server.http('POST', '/v1/admin/leaderboards/nope/reset', undefined, admin())).status, 404);
  });

  it('scheduled reset with the development clock: next_reset in every read, archive of the closed period', async () => {
    await create({ id: 'hourly', reset: '@hourly' });
    const a = uuid();
    await submitAs('hourly', a, 42);
    const before = await top('hourly');
    const next = Date.parse(before.json.next_reset);
    assert.equal(new Date(next).getUTCMinutes(), 0);
    assert.equal(before.json.leaderboard.period, 1);
    // move the boards' clock past the next reset
    const clk = await server.http('PUT', '/v1/admin/leaderboards/clock', { offset_ms: next - Date.now() + 1000 }, admin());
    assert.equal(clk.status, 200, clk.text);
    const after = await top('hourly');
    assert.equal(after.json.leaderboard.period, 2);
    assert.deepEqual(after.json.records, []);
    assert.equal(Date.parse(after.json.next_reset), next + 3600e3);
    const rank = await server.http('GET', `/v1/leaderboards/hourly/records/${a}`, undefined, bearer());
    assert.equal(rank.status, 404);
    // the closed period is written (the reset is queued durably; wait for the row)
    await h.waitFor('archived period row', async () =>
      /1/.test(await h.sql("SELECT period FROM leaderboard_periods WHERE leaderboard_id = 'hourly'", db())));
    const arch = await server.http('GET', '/v1/leaderboards/hourly?period=1', undefined, bearer());
    assert.deepEqual(arch.json.records.map((x) => [x.owner_id, x.score]), [[a, 42]]);
    assert.equal((await server.http('PUT', '/v1/admin/leaderboards/clock', { offset_ms: 0 }, admin())).status, 200);
    assert.equal((await server.http('PUT', '/v1/admin/leaderboards/clock', { offset_ms: 0 }, bearer())).status, 401);
  });

  it('a restart rebuilds every board from PostgreSQL with the same ranks', async () => {
    await create({ id: 'restart', sort: 'asc' });
    const owners = [uuid(), uuid(), uuid(), uuid()];
    for (const [i, o] of owners.entries()) await submitAs('restart', o, 10 + (i % 2), { subscore: 0, username: `u${i}` });
    const t1 = (await top('restart')).json.records;
    assert.equal(await server.stop(), 0);
    server = await h.startServer({ databaseUrl: server.databaseUrl, adminToken: server.adminToken });
    p = await h.authed(server, { username: `lb2_${Date.now() % 1e8}` });
    const t2 = (await top('restart')).json.records;
    assert.deepEqual(t2, t1);
    assert.deepEqual(t2.map((r) => r.owner_id), [owners[0], owners[2], owners[1], owners[3]]);
    assert.equal(t2[0].username, 'u0');
    // the tie order (who got there first) survives the restart, and new submits go after it
    const late = uuid();
    await submitAs('restart', late, 10);
    assert.equal((await top('restart')).json.records[2].owner_id, late);
    const list = await server.http('GET', '/v1/leaderboards', undefined, bearer());
    assert.ok(list.json.leaderboards.some((b) => b.id === 'restart' && b.total === 5));
  });
});
