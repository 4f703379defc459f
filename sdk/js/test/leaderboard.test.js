// Leaderboards through the SDK (docs/LEADERBOARDS.md), against the real server: the admin
// creates and submits, players submit where allowed and read the top with a cursor, around
// themselves, their friends' records and their rank; errors are MoonbaseError with the code.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { AdminClient, MoonbaseError } from '../src/moonbase-client.js';
import { startServer, signedIn } from './helpers.js';

describe('leaderboards', () => {
  let server, admin;
  before(async () => {
    server = await startServer();
    admin = new AdminClient(server.baseUrl, server.adminToken);
  });
  after(() => server.stop());

  it('create (idempotent), submit, top with cursor, around, records, rank, reset', async () => {
    const c = await admin.createLeaderboard({ id: 'sdk_laps', sort: 'asc', client_submit: true, reset: '@weekly' });
    assert.equal(c.created, true);
    assert.equal((await admin.createLeaderboard({ id: 'sdk_laps' })).created, false);
    const a = await signedIn(server);
    const b = await signedIn(server);
    const mine = await a.submitScore('sdk_laps', 81250, { metadata: { car: 'red' } });
    assert.deepEqual([mine.record.score, mine.record.rank, mine.record.metadata], [81250, 1, { car: 'red' }]);
    await b.submitScore('sdk_laps', 79000);
    const others = [randomUUID(), randomUUID()];
    await admin.submitScore('sdk_laps', others[0], 90000, { username: 'bot1' });
    await admin.submitScore('sdk_laps', others[1], 95000, { username: 'bot2' });
    const p1 = await a.leaderboardTop('sdk_laps', { limit: 3 });
    assert.deepEqual(p1.records.map((r) => r.score), [79000, 81250, 90000]);
    assert.ok(p1.next_reset && p1.leaderboard.next_reset === p1.next_reset);
    const p2 = await a.leaderboardTop('sdk_laps', { limit: 3, cursor: p1.next_cursor });
    assert.deepEqual(p2.records.map((r) => [r.username, r.rank]), [['bot2', 4]]);
    assert.equal(p2.next_cursor, null);
    const around = await a.leaderboardAround('sdk_laps', a.session.player_id, { n: 1 });
    assert.equal(around.owner_rank, 2);
    assert.deepEqual(around.records.map((r) => r.rank), [1, 2, 3]);
    const friends = await a.leaderboardRecords('sdk_laps', [a.session.player_id, b.session.player_id]);
    assert.deepEqual(friends.records.map((r) => r.owner_id), [b.session.player_id, a.session.player_id]);
    assert.equal((await a.leaderboardRank('sdk_laps', a.session.player_id)).record.rank, 2);
    assert.ok((await a.listLeaderboards()).leaderboards.some((l) => l.id === 'sdk_laps'));
    assert.equal((await admin.leaderboardAround('sdk_laps', others[1], { n: 0 })).owner_rank, 4);
    const reset = await admin.resetLeaderboard('sdk_laps');
    assert.deepEqual([reset.closed_period, reset.leaderboard.period], [1, 2]);
    const archived = await a.leaderboardTop('sdk_laps', { period: 1, limit: 2 });
    assert.deepEqual(archived.records.map((r) => r.score), [79000, 81250]);
    assert.equal((await admin.leaderboard('sdk_laps')).records.length, 0);
  });

  it('errors: 403 on a server-only board, 404 unknown, 400 bad score', async () => {
    await admin.createLeaderboard({ id: 'sdk_server_only' });
    const a = await signedIn(server);
    await assert.rejects(a.submitScore('sdk_server_only', 1), (e) => e instanceof MoonbaseError && e.code === 'forbidden' && e.status === 403);
    await assert.rejects(a.leaderboardTop('nope'), (e) => e.code === 'not_found');
    await assert.rejects(admin.submitScore('sdk_server_only', randomUUID(), 1.5), (e) => e.code === 'bad_request');
    await assert.rejects(a.leaderboardRank('sdk_server_only', a.session.player_id), (e) => e.status === 404);
  });
});
