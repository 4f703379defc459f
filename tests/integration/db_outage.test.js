'use strict';
// PostgreSQL goes away while the server runs (docs/REST.md "Health", docs/PROTOCOL.md
// "unavailable"): /healthz says 503, requests that need the database answer `unavailable`,
// everything else keeps working, and the server recovers on its own when PostgreSQL is back.
// Uses a private cluster (privatePostgres): stopping the shared one would break other files.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { execFile } = require('node:child_process');
const h = require('./harness');

const RECOVERY_MS = 20000; // reconnect backoff is capped at 5 s
const DOWN_MS = 10000;

async function waitStatus(server, path, status, ms) {
  const deadline = Date.now() + ms;
  let res;
  for (;;) {
    res = await server.http('GET', path, undefined, {}, { timeoutMs: 3000 }).catch((e) => ({ status: e.message }));
    if (res.status === status) return res;
    if (Date.now() > deadline) assert.fail(`GET ${path}: expected ${status} within ${ms} ms, last ${res.status} ${res.text || ''}`);
    await h.sleep(100);
  }
}

function psqlIn(url, query) {
  return new Promise((resolve, reject) => {
    execFile('psql', ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', query], { timeout: 30000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout.trim())
    );
  });
}

describe('database outage', () => {
  let pg;
  let server;
  let dbUrl;
  let player; // authenticated while the database was up
  before(async () => {
    pg = await h.privatePostgres();
    dbUrl = await pg.createDatabase();
    server = await h.startServer({ databaseUrl: dbUrl, args: ['--auth-rate', '100000'] });
    player = await h.authed(server);
  });
  after(async () => {
    if (player) await player.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (pg) await pg.destroy();
  });

  it('stopped PostgreSQL: the server answers unavailable and keeps serving what needs no database; restarted: it recovers without a restart', async () => {
    // a tictactoe match that will finish while the database is down
    const p2 = await h.authed(server);
    const created = await server.http('POST', '/v1/matches', { mode: 'tictactoe' }, { authorization: `Bearer ${player.token}` });
    assert.equal(created.status, 201, created.text);
    const matchId = created.json.match_id;
    await player.ws.ok('match.join', { match_id: matchId });
    await p2.ws.ok('match.join', { match_id: matchId });
    await player.ws.next('match.started');

    await pg.stop();

    // /healthz: 503 with a reason
    const health = await waitStatus(server, '/healthz', 503, DOWN_MS);
    assert.deepEqual(health.json, { status: 'unavailable', database: 'unreachable', reason: 'PostgreSQL is not answering' });

    // auth needs the database: 503 {"error":{"code":"unavailable"}}
    const auth = await server.http('POST', '/v1/auth/device', { device_id: `dev-${crypto.randomBytes(6).toString('hex')}` });
    assert.equal(auth.status, 503, auth.text);
    assert.deepEqual(auth.json, { error: { code: 'unavailable', message: 'database unavailable; retry shortly' } });
    const refresh = await server.http('POST', '/v1/auth/refresh', { refresh_token: player.refresh_token });
    assert.equal(refresh.status, 503, refresh.text);
    assert.equal(refresh.json.error.code, 'unavailable');
    const account = await server.http('GET', '/v1/account', undefined, { authorization: `Bearer ${player.token}` });
    assert.equal(account.status, 503, account.text);
    assert.equal(account.json.error.code, 'unavailable');

    // the authenticated socket keeps working
    assert.equal((await player.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    // a new socket can still connect: tokens are verified without the database
    const again = await server.ws();
    assert.deepEqual(await again.ok('session.connect', { token: player.token }), { player_id: player.player_id });
    await again.close();
    // matches run in memory: play the tictactoe game to the end
    const moves = [[player, 1], [p2, 4], [player, 2], [p2, 5], [player, 3]];
    for (const [i, [who, cell]] of moves.entries()) {
      await who.ws.ok('match.input', { action: 'place', cell });
      // the winning move ends the match in that tick: match.finished, no last match.state
      if (i < moves.length - 1) await who.ws.next((m) => m.type === 'match.state' && m.payload.board[cell - 1] !== '', 3000);
    }
    const fin = await player.ws.next('match.finished', 3000);
    assert.equal(fin.payload.result.winner, player.player_id);
    // the finished match is not stored yet, but GET answers from the queue of unsaved results
    const queued = await server.http('GET', `/v1/matches/${matchId}`, undefined, { authorization: `Bearer ${player.token}` });
    assert.equal(queued.status, 200, queued.text);
    assert.equal(queued.json.status, 'finished');
    assert.equal(queued.json.result.winner, player.player_id);
    const metrics = await server.http('GET', '/metrics');
    assert.match(metrics.text, /^moonbase_db_pool_connected 0$/m);
    assert.match(metrics.text, /^moonbase_db_durable_queue [1-9]\d*$/m, 'the result waits in the durable write queue');
    assert.match(metrics.text, /^moonbase_db_unavailable_total [1-9]/m);
    assert.match(metrics.text, /^moonbase_errors_total\{code="unavailable"\} [1-9]/m);

    await pg.start();

    // within a bounded wait: healthy again, auth works, the queued result is stored
    await waitStatus(server, '/healthz', 200, RECOVERY_MS);
    const back = await server.http('POST', '/v1/auth/device', { device_id: `dev-${crypto.randomBytes(6).toString('hex')}` });
    assert.equal(back.status, 201, back.text);
    const deadline = Date.now() + RECOVERY_MS;
    let row = '';
    while (Date.now() < deadline) {
      row = await psqlIn(dbUrl, `SELECT status || ' ' || (result->>'winner') FROM matches WHERE id = '${matchId}'`);
      if (row) break;
      await h.sleep(200);
    }
    assert.equal(row, `finished ${player.player_id}`, 'the result reached PostgreSQL after the outage');
    assert.equal((await player.ws.request('session.heartbeat', {})).type, 'session.heartbeat');
    await p2.ws.close();
  });
});
