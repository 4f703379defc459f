'use strict';
// A vote that closed (by the script, by its window, or by a veto) stays answerable for the life
// of its match: a later vote.cast or vote.veto gets `vote_closed` (conflict), not `not_found`
// (shared/VOTING.md §3.2 and §7, docs/VOTING.md §4), and match:vote_close of it returns
// nil, "vote_closed". Once the match is over its votes are unknown (`not_found`).
// Test mode: tests/integration/scripts/modes/votetest.lua (votes started and closed by inputs).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const OPTIONS = [{ id: 'jungle', label: 'Jungle' }, { id: 'volcano', label: 'Volcano' }, { id: 'caves', label: 'Caves' }];

describe('closed votes answer vote_closed for the life of the match', () => {
  let server;
  let dir;
  const open = [];
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-scripts-'));
    fs.cpSync(path.join(h.REPO_ROOT, 'scripts'), dir, { recursive: true });
    fs.copyFileSync(path.join(__dirname, 'scripts', 'modes', 'votetest.lua'), path.join(dir, 'modes', 'votetest.lua'));
    server = await h.startServer({ scripts: dir, args: ['--msg-rate', '1000', '--msg-burst', '1000'] });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function expectErr(p, type, payload, code, reason) {
    const r = await p.ws.request(type, payload);
    assert.equal(r.type, 'error', JSON.stringify(r));
    assert.equal(r.payload.code, code, JSON.stringify(r));
    assert.equal(r.payload.reason, reason, JSON.stringify(r));
    assert.equal(r.payload.request_type, type);
  }

  async function startVote(by, ps, spec) {
    await by.ws.ok('match.input', { action: 'vote', spec });
    let id;
    for (const p of ps) id = (await p.ws.next('match.vote_start', 3000)).payload.vote_id;
    return id;
  }

  it('cast and veto after close, after a window and after a veto: vote_closed until the match ends, then not_found', async () => {
    const [a, b, c] = [await h.authed(server), await h.authed(server), await h.authed(server)];
    open.push(a, b, c);
    const res = await server.http('POST', '/v1/matches', { mode: 'votetest' }, bearer(a));
    assert.equal(res.status, 201, res.text);
    const id = res.json.match_id;
    for (const p of [a, b, c]) await p.ws.ok('match.join', { match_id: id });
    await a.ws.next('match.started', 3000);
    const all = [a, b, c];

    // v1: closed by the script; v2: vetoed; v3: closed by its 50 ms window
    const v1 = await startVote(a, all, { options: OPTIONS, method: 'plurality', window_ms: 60000, veto_enabled: true });
    const v2 = await startVote(a, all, { options: OPTIONS, method: 'approval', window_ms: 60000, veto_enabled: true });
    await a.ws.ok('vote.cast', { vote_id: v1, option_id: 'caves' });
    await a.ws.ok('match.input', { action: 'close', vote_id: v1 });
    assert.equal((await b.ws.next('match.vote_result', 3000)).payload.winner, 'caves');
    await b.ws.ok('vote.veto', { vote_id: v2 });
    await c.ws.next('match.vote_vetoed', 3000);
    const v3 = await startVote(a, all, { options: OPTIONS, method: 'ranked', window_ms: 50, veto_enabled: true });
    assert.equal((await c.ws.next((m) => m.type === 'match.vote_result' && m.payload.vote_id === v3, 3000)).payload.total_votes, 0);

    const allClosed = async () => {
      for (const v of [v1, v2, v3]) {
        await expectErr(c, 'vote.cast', { vote_id: v, option_id: v === v1 ? 'jungle' : ['jungle'] }, 'conflict', 'vote_closed');
        // c still has its veto token: the vote being closed is the reason
        await expectErr(c, 'vote.veto', { vote_id: v }, 'conflict', 'vote_closed');
      }
    };
    await allClosed();
    // the script closing a closed vote: nil, "vote_closed"
    await b.ws.ok('match.input', { action: 'close', vote_id: v1 });
    const cr = await b.ws.next((m) => m.type === 'match.state' && m.payload.close_reply && !m.payload.close_reply.ok, 3000);
    assert.deepEqual(cr.payload.close_reply, { ok: false, err: 'vote_closed' });

    // still so 40 ticks (2 s at 20 Hz) later: the entry is kept, not dropped after a while
    const t0 = (await a.ws.next('match.state', 3000)).payload.tick;
    const late = await a.ws.next((m) => m.type === 'match.state' && m.payload.tick >= t0 + 40, 10000);
    await allClosed();
    // the vote_closed answers changed nothing: two results (v1, v3), v2 vetoed once
    const st = await a.ws.next((m) => m.type === 'match.state' && m.payload.tick > late.payload.tick + 1, 3000);
    assert.equal(st.payload.result_calls, 2);
    assert.equal(st.payload.vetoes[v2], b.player_id);
    // an open vote of the same match is unaffected
    const v4 = await startVote(a, all, { options: OPTIONS, method: 'plurality', window_ms: 60000 });
    await c.ws.ok('vote.cast', { vote_id: v4, option_id: 'volcano' });

    // the match ends: its votes are unknown from now on
    const adm = { authorization: `Bearer ${server.adminToken}` };
    assert.equal((await server.http('POST', `/v1/admin/matches/${id}/end`, {}, adm)).status, 200);
    await a.ws.next('match.finished', 3000);
    for (const v of [v1, v2, v3, v4]) {
      await expectErr(c, 'vote.cast', { vote_id: v, option_id: 'jungle' }, 'not_found', 'not_found');
      await expectErr(c, 'vote.veto', { vote_id: v }, 'not_found', 'not_found');
    }
    assert.equal((await server.http('GET', '/healthz')).status, 200);
  });
});
