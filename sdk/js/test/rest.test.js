// Client (REST) against the real server: auth, account, matches, RPC, matchmaker stats,
// automatic token refresh, error typing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, MoonbaseError, Session, ErrorCode } from '../src/moonbase-client.js';
import { startServer, signedIn, deviceId, WebSocket } from './helpers.js';

describe('Client (REST)', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('authenticateDevice creates the account once, then signs in again', async () => {
    const dev = deviceId();
    const a = new Client(server.baseUrl, { WebSocket });
    const changes = [];
    a.onSessionChange((s) => changes.push(s));
    const s1 = await a.authenticateDevice(dev, { username: `u_${dev.slice(-10)}` });
    assert.ok(s1 instanceof Session);
    assert.equal(s1.created, true);
    assert.equal(s1.username, `u_${dev.slice(-10)}`);
    assert.match(s1.player_id, /^[0-9a-f-]{36}$/);
    assert.ok(s1.refresh_token && s1.token);
    assert.ok(s1.expires_at > Date.now() + 60000, 'expires_at from expires_in');
    assert.equal(changes.length, 1);
    const b = new Client(server.baseUrl);
    const s2 = await b.authenticateDevice(dev);
    assert.equal(s2.created, false);
    assert.equal(s2.player_id, s1.player_id);
  });

  it('authenticateEmail creates with {create: true} and signs in; a wrong password is unauthorized', async () => {
    const email = `${deviceId('mail')}@example.com`;
    const c = new Client(server.baseUrl);
    const created = await c.authenticateEmail(email, 'correct horse battery', { create: true });
    assert.equal(created.created, true);
    const again = await new Client(server.baseUrl).authenticateEmail(email, 'correct horse battery');
    assert.equal(again.player_id, created.player_id);
    await assert.rejects(new Client(server.baseUrl).authenticateEmail(email, 'wrong password!!'), (e) => {
      assert.ok(e instanceof MoonbaseError);
      assert.equal(e.code, ErrorCode.UNAUTHORIZED);
      assert.equal(e.status, 401);
      return true;
    });
  });

  it('refresh rotates the refresh token; the old one stops working; logout revokes', async () => {
    const c = await signedIn(server);
    const first = c.session;
    const second = await c.refresh();
    assert.notEqual(second.refresh_token, first.refresh_token);
    assert.equal(second.player_id, first.player_id);
    await assert.rejects(c.refresh(first.refresh_token), { name: 'MoonbaseError', code: 'unauthorized', status: 401 });
    const out = await c.logout();
    assert.deepEqual(out, { revoked: true });
    assert.equal(c.session, null);
    await assert.rejects(new Client(server.baseUrl).refresh(second.refresh_token), { code: 'unauthorized' });
    await assert.rejects(c.getAccount(), { code: 'unauthorized', status: null }, 'no session: refused before any request');
  });

  it('getAccount and updateAccount', async () => {
    const c = await signedIn(server);
    const acc = await c.getAccount();
    assert.equal(acc.player_id, c.session.player_id);
    const name = `n_${deviceId().slice(-12)}`;
    const upd = await c.updateAccount({ username: name, display_name: 'Nova', metadata: { color: 'teal' } });
    assert.equal(upd.username, name);
    assert.equal(upd.display_name, 'Nova');
    assert.deepEqual(upd.metadata, { color: 'teal' });
    assert.equal(c.session.username, name, 'the session follows a username change');
    await assert.rejects(c.updateAccount({ shoe_size: 44 }), (e) => e.code === 'bad_request' && e.status === 400 && /shoe_size/.test(e.message));
  });

  it('refreshes an expired session token by itself before a call', async () => {
    const c = await signedIn(server);
    const old = c.session;
    c.session.expires_at = Date.now() - 1000;
    const acc = await c.getAccount();
    assert.equal(acc.player_id, old.player_id);
    assert.notEqual(c.session.refresh_token, old.refresh_token, 'refreshed');
  });

  it('retries once with a fresh token after a 401 (token rejected by the server)', async () => {
    const c = await signedIn(server);
    const rt = c.session.refresh_token;
    c.session.token = 'e30.e30.bad'; // the server refuses it; expires_at still looks fine
    const acc = await c.getAccount();
    assert.equal(acc.player_id, c.session.player_id);
    assert.notEqual(c.session.refresh_token, rt);
  });

  it('signs in again with the device when the refresh token is gone too', async () => {
    const c = await signedIn(server);
    const pid = c.session.player_id;
    await new Client(server.baseUrl).logout(c.session.refresh_token); // revoked elsewhere
    c.session.expires_at = 0;
    const acc = await c.getAccount();
    assert.equal(acc.player_id, pid);
  });

  it('createMatch, listMatches, getMatch', async () => {
    const c = await signedIn(server);
    const m = await c.createMatch('tictactoe', { note: 'sdk' });
    assert.equal(m.mode, 'tictactoe');
    assert.ok(m.script_version >= 1);
    const list = await c.listMatches({ mode: 'tictactoe' });
    assert.ok(list.matches.some((x) => x.match_id === m.match_id));
    assert.ok(list.matches.every((x) => x.mode === 'tictactoe'));
    const got = await c.getMatch(m.match_id);
    assert.equal(got.match_id, m.match_id);
    assert.equal(got.status, 'waiting');
    assert.equal(got.result, null);
    await assert.rejects(c.createMatch('no_such_mode'), { code: 'not_found', status: 404 });
    await assert.rejects(c.getMatch('00000000-0000-4000-8000-000000000000'), { code: 'not_found' });
  });

  it('rpc calls scripts/server.lua; a script refusal is bad_request', async () => {
    const c = await signedIn(server);
    const r = await c.rpc('echo', { hello: 'moon' });
    assert.deepEqual(r.echo, { hello: 'moon' });
    assert.equal(r.player_id, c.session.player_id);
    const roll = await c.rpc('roll', { sides: 6 });
    assert.ok(roll.value >= 1 && roll.value <= 6);
    await assert.rejects(c.rpc('roll', { sides: 1 }), (e) => e.code === 'bad_request' && /sides/.test(e.message));
    await assert.rejects(c.rpc('nope'), { code: 'not_found' });
  });

  it('matchmakerStats', async () => {
    const c = await signedIn(server);
    const st = await c.matchmakerStats();
    assert.equal(typeof st.tickets, 'number');
    assert.equal(typeof st.modes, 'object');
  });

  it('health answers without a session', async () => {
    const st = await new Client(server.baseUrl).health();
    assert.equal(st.status, 'ok');
  });

  it('request() for any route; unknown routes are not_found', async () => {
    const c = await signedIn(server);
    await assert.rejects(c.request('GET', '/v1/definitely/not/here'), { code: 'not_found', status: 404 });
    const acc = await c.request('GET', '/v1/account');
    assert.equal(acc.player_id, c.session.player_id);
  });

  it('network failures and timeouts are typed', async () => {
    const port = await (await import('./helpers.js')).h.freePort();
    const dead = new Client(`http://127.0.0.1:${port}`, { timeoutMs: 2000 });
    await assert.rejects(dead.authenticateDevice(deviceId()), { name: 'MoonbaseError', code: 'network' });
    const slow = new Client(server.baseUrl, { timeoutMs: 200 });
    server.proc.kill('SIGSTOP');
    try {
      await assert.rejects(slow.health(), { code: 'timeout' });
    } finally {
      server.proc.kill('SIGCONT');
    }
  });

  it('resumes a stored session', async () => {
    const c = await signedIn(server);
    const stored = JSON.parse(JSON.stringify(c.session));
    const resumed = new Client(server.baseUrl, { session: stored });
    assert.equal((await resumed.getAccount()).player_id, c.session.player_id);
    assert.ok(Session.tokenExpiry(c.session.token) > Date.now());
  });
});
