'use strict';
// In-match voting over the wire (docs/VOTING.md, docs/PROTOCOL.md §7; issue 5 "Tests"):
// a vote from start to result with three clients (and the script's vote_result got the same
// result), live tallies (one at once, then at most 4 per second), a veto, every error reason,
// a vote that closes early when all voted, a vote the script closes, a bad spec (a Lua error
// in the calling callback: the match ends) and the votes listed by GET /v1/matches/{id}.
// Test mode: tests/integration/scripts/modes/votetest.lua (votes started and closed by inputs).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const h = require('./harness');

const scriptsDir = () => h.scriptsDir(['votetest']);

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });
const stateWhere = (ws, pred, ms = 3000) => ws.next((m) => m.type === 'match.state' && pred(m.payload), ms);
const OPTIONS = [
  { id: 'jungle', label: 'Jungle Path', icon: 'jungle.png' },
  { id: 'volcano', label: 'Volcano Path' },
  { id: 'caves', label: 'Crystal Caves' },
];

/** A JSON value without its null object members (what a Lua table made from it holds). */
function stripNulls(v) {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) o[k] = stripNulls(x);
    return o;
  }
  return v;
}

/** One masked client text frame (RFC 6455), to put two frames into one TCP write. */
function frame(obj) {
  const data = Buffer.from(JSON.stringify(obj));
  const mask = crypto.randomBytes(4);
  let head;
  if (data.length < 126) head = Buffer.from([0x81, 0x80 | data.length]);
  else {
    head = Buffer.alloc(4);
    head[0] = 0x81;
    head[1] = 0x80 | 126;
    head.writeUInt16BE(data.length, 2);
  }
  const body = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) body[i] = data[i] ^ mask[i % 4];
  return Buffer.concat([head, mask, body]);
}

const { waitFor } = h;

describe('voting', () => {
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  before(async () => {
    dir = scriptsDir();
    server = await h.startServer({ scripts: dir, args: ['--auth-rate', '100000', '--msg-rate', '1000', '--msg-burst', '1000', '--input-rate', '1000'] });
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A running votetest match with these players (joined in order). */
  async function matchOf(ps) {
    const res = await server.http('POST', '/v1/matches', { mode: 'votetest' }, bearer(ps[0]));
    assert.equal(res.status, 201, res.text);
    const id = res.json.match_id;
    for (const p of ps) await p.ws.ok('match.join', { match_id: id });
    // players.min = 2: the first two start it, a third joins the running match
    for (const p of ps.slice(0, 2)) await p.ws.next('match.started', 3000);
    return id;
  }

  /** Player `by` starts a vote through the script; resolves with every player's match.vote_start. */
  async function startVote(by, ps, spec) {
    await by.ws.ok('match.input', { action: 'vote', spec });
    const starts = [];
    for (const p of ps) starts.push((await p.ws.next('match.vote_start', 3000)).payload);
    for (const s of starts.slice(1)) assert.deepEqual(s, starts[0]);
    return starts[0];
  }

  async function castErr(p, type, payload, code, reason) {
    const r = await p.ws.request(type, payload);
    assert.equal(r.type, 'error', JSON.stringify(r));
    assert.equal(r.payload.code, code, JSON.stringify(r));
    assert.equal(r.payload.reason, reason, JSON.stringify(r));
    assert.equal(r.payload.request_type, type);
    return r;
  }

  it('a vote from start to result with three clients; the script\'s vote_result gets the same result; GET /v1/matches/{id} lists it', async () => {
    const [a, b, c] = [await player(), await player(), await player()];
    const id = await matchOf([a, b]);
    await c.ws.ok('match.join', { match_id: id }); // joined before the vote: eligible
    const spec = { options: OPTIONS, method: 'plurality', window_ms: 5000, visibility: 'hidden', tie_breaker: 'first_listed' };
    const start = await startVote(a, [a, b, c], spec);
    assert.deepEqual(Object.keys(start).sort(), ['method', 'options', 'tie_breaker', 'veto_enabled', 'visibility', 'vote_id', 'window_ms']);
    assert.match(start.vote_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual({ ...start, vote_id: 'x' }, {
      vote_id: 'x', options: OPTIONS, window_ms: 5000, method: 'plurality', visibility: 'hidden', tie_breaker: 'first_listed', veto_enabled: false,
    });
    const v = start.vote_id;
    await stateWhere(a.ws, (st) => st.last_vote === v);

    const acc = await a.ws.request('vote.cast', { vote_id: v, option_id: 'jungle' });
    assert.deepEqual(acc, { cid: acc.cid, type: 'vote.accepted', payload: { vote_id: v, total_votes: 1 } });
    assert.deepEqual(await b.ws.ok('vote.cast', { vote_id: v, option_id: 'caves' }), { vote_id: v, total_votes: 2 });
    // b changes its mind: the new ballot replaces the old one (still two ballots)
    assert.deepEqual(await b.ws.ok('vote.cast', { vote_id: v, option_id: 'volcano' }), { vote_id: v, total_votes: 2 });
    await c.ws.ok('vote.cast', { vote_id: v, option_id: 'jungle' });
    const results = [];
    for (const p of [a, b, c]) results.push((await p.ws.next('match.vote_result', 3000)).payload);
    const third = 1 / 3;
    const r = results[0];
    for (const x of results.slice(1)) assert.deepEqual(x, r);
    assert.deepEqual(Object.keys(r).sort(), ['counts', 'distribution', 'tie', 'tie_break', 'tied', 'total_votes', 'total_weight', 'turnout', 'vote_id', 'winner']);
    assert.deepEqual({ ...r, distribution: null }, {
      vote_id: v, winner: 'jungle', counts: { jungle: 2, volcano: 1, caves: 0 }, distribution: null,
      total_votes: 3, total_weight: 3, turnout: 1, tie: false, tied: [], tie_break: null,
    });
    assert.deepEqual(Object.keys(r.distribution), ['jungle', 'volcano', 'caves'], 'listing order');
    assert.ok(Math.abs(r.distribution.jungle - 2 * third) < 1e-12 && Math.abs(r.distribution.volcano - third) < 1e-12 && r.distribution.caves === 0);
    // hidden: no live tallies at all
    for (const p of [a, b, c]) assert.ok(!p.ws.received.some((m) => m.type === 'match.vote_tally'), 'hidden vote sent a tally');
    // the script's vote_result got the same table (null members are absent in Lua)
    const st = await stateWhere(a.ws, (s) => s.results && s.results[v]);
    assert.deepEqual(st.payload.results[v], stripNulls(r));
    assert.equal(st.payload.result_calls, 1);
    // the vote is closed: casts are vote_closed (for the life of the match, vote_closed.test.js)
    await castErr(a, 'vote.cast', { vote_id: v, option_id: 'jungle' }, 'conflict', 'vote_closed');
    // the audit row, listed with the (live) match
    const got = await waitFor('the stored vote', async () => {
      const res = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(b));
      return res.status === 200 && Array.isArray(res.json.votes) && res.json.votes.length === 1 ? res.json : null;
    });
    const row = got.votes[0];
    assert.deepEqual(Object.keys(row).sort(), ['method', 'result', 'started_at', 'status', 'vetoed_by', 'vote_id']);
    assert.equal(row.vote_id, v);
    assert.equal(row.method, 'plurality');
    assert.equal(row.status, 'closed');
    assert.equal(row.vetoed_by, null);
    assert.deepEqual(row.result, r);
    assert.ok(Math.abs(row.started_at - Date.now()) < 60000);
  });

  it('live tallies: one right after the first cast, at most 4 per second under a burst of recasts, a last one at close', async () => {
    const [a, b] = [await player(), await player()];
    await matchOf([a, b]);
    const start = await startVote(a, [a, b], { options: OPTIONS.slice(0, 2), method: 'plurality', window_ms: 20000, visibility: 'live' });
    assert.equal(start.visibility, 'live');
    assert.equal(start.tie_breaker, 'first_listed', 'the default tie-breaker');
    const v = start.vote_id;
    const t0 = Date.now();
    await a.ws.ok('vote.cast', { vote_id: v, option_id: 'volcano' });
    const first = await b.ws.next('match.vote_tally', 1000);
    assert.ok(Date.now() - t0 < 200, `first tally after ${Date.now() - t0} ms`);
    assert.deepEqual(Object.keys(first.payload).sort(), ['tallies', 'time_remaining_ms', 'total_votes', 'vote_id']);
    assert.deepEqual({ ...first.payload, time_remaining_ms: 0 }, { vote_id: v, tallies: { jungle: 0, volcano: 1 }, total_votes: 1, time_remaining_ms: 0 });
    assert.ok(first.payload.time_remaining_ms > 18000 && first.payload.time_remaining_ms <= 20000, `${first.payload.time_remaining_ms}`);
    // the caster gets it too
    await a.ws.next('match.vote_tally', 1000);

    // a burst: 60 recasts in about 1.5 s
    const from = b.ws.received.length;
    const burst0 = Date.now();
    let beforeLast = 0;
    for (let i = 0; i < 60; i++) {
      if (i === 59) beforeLast = b.ws.received.length;
      await a.ws.ok('vote.cast', { vote_id: v, option_id: i % 2 ? 'volcano' : 'jungle' });
      await h.sleep(25); // pacing on purpose: the recasts are spread over about 1.5 s
    }
    // the trailing tally: one that shows the last cast (volcano; the one before was jungle)
    // arrives after that cast was sent
    const isFinal = (m) => m.type === 'match.vote_tally' && m.payload.tallies.volcano === 1 && m.payload.tallies.jungle === 0;
    await h.waitFor('a tally showing the last cast', () => b.ws.received.slice(beforeLast).some(isFinal), 10000, 20);
    const burstMs = Date.now() - burst0;
    const tallies = b.ws.received.slice(from).filter((m) => m.type === 'match.vote_tally');
    const allowed = Math.ceil(burstMs / 250) + 1;
    assert.ok(tallies.length >= 2, `${tallies.length} tallies during the burst`);
    assert.ok(tallies.length <= allowed, `${tallies.length} tallies in ${burstMs} ms (at most ${allowed})`);
    // the last tally shows the final ballot (the 60th cast: volcano)
    assert.deepEqual(tallies[tallies.length - 1].payload.tallies, { jungle: 0, volcano: 1 });
    // the remaining time counts down
    assert.ok(tallies[tallies.length - 1].payload.time_remaining_ms < first.payload.time_remaining_ms);
    b.ws.buffer.length = 0;
    a.ws.buffer.length = 0;

    // b votes too: everyone voted, the vote closes with a last tally before the result
    await b.ws.ok('vote.cast', { vote_id: v, option_id: 'jungle' });
    const seq = [];
    for (;;) {
      const m = await b.ws.next((x) => x.type === 'match.vote_tally' || x.type === 'match.vote_result', 3000);
      seq.push(m);
      if (m.type === 'match.vote_result') break;
    }
    const lastTally = seq.filter((m) => m.type === 'match.vote_tally').pop();
    assert.ok(lastTally, 'a tally before the result');
    assert.deepEqual(lastTally.payload.tallies, { jungle: 1, volcano: 1 });
    assert.equal(lastTally.payload.total_votes, 2);
    const res = seq[seq.length - 1].payload;
    assert.equal(res.tie, true);
    assert.deepEqual(res.tied, ['jungle', 'volcano']);
    assert.equal(res.winner, 'jungle');
    assert.equal(res.tie_break, 'first_listed');
    await b.ws.expectNone('match.vote_tally', 400);
  });

  it('a vote closes early when all voted (approval; empty and malformed ballots refused)', async () => {
    const [a, b] = [await player(), await player()];
    await matchOf([a, b]);
    const start = await startVote(b, [a, b], { options: OPTIONS, method: 'approval', window_ms: 60000, visibility: 'hidden' });
    const v = start.vote_id;
    const t0 = Date.now();
    await castErr(a, 'vote.cast', { vote_id: v, option_id: [] }, 'bad_request', 'empty');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: 'jungle' }, 'bad_request', 'malformed');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: ['jungle', 7] }, 'bad_request', 'malformed');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: ['jungle', 'lava'] }, 'bad_request', 'unknown_option');
    assert.deepEqual(await a.ws.ok('vote.cast', { vote_id: v, option_id: ['jungle', 'caves'] }), { vote_id: v, total_votes: 1 });
    await a.ws.expectNone('match.vote_result', 300);
    await b.ws.ok('vote.cast', { vote_id: v, option_id: ['caves', 'caves'] });
    const r = (await a.ws.next('match.vote_result', 3000)).payload;
    assert.ok(Date.now() - t0 < 5000, 'long before window_ms (60 s)');
    assert.equal(r.winner, 'caves');
    assert.deepEqual(r.counts, { jungle: 1, volcano: 0, caves: 2 });
    assert.equal(r.total_votes, 2);
    assert.equal(r.turnout, 1);
  });

  it('a vote the script closes: vote_close -> match.vote_result (turnout from the eligible players); vote_close of an unknown id -> nil, "not_found"', async () => {
    const [a, b, c] = [await player(), await player(), await player()];
    const id = await matchOf([a, b, c]);
    const v = (await startVote(a, [a, b, c], { options: OPTIONS, method: 'ranked', window_ms: 60000, visibility: 'hidden', tie_breaker: 'none' })).vote_id;
    await a.ws.ok('vote.cast', { vote_id: v, option_id: ['volcano', 'jungle'] });
    // while open, GET /v1/matches/{id} lists it as open
    const live = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
    const ov = live.json.votes.find((x) => x.vote_id === v);
    assert.equal(ov.status, 'open');
    assert.equal(ov.total_votes, 1);
    assert.equal(ov.method, 'ranked');
    await b.ws.ok('match.input', { action: 'close', vote_id: 'no-such-vote' });
    const nf = await stateWhere(b.ws, (s) => s.close_reply);
    assert.deepEqual(nf.payload.close_reply, { ok: false, err: 'not_found' });
    await b.ws.ok('match.input', { action: 'close', vote_id: v });
    const results = [];
    for (const p of [a, b, c]) results.push((await p.ws.next('match.vote_result', 3000)).payload);
    const r = results[0];
    assert.equal(r.vote_id, v);
    assert.equal(r.winner, 'volcano');
    assert.equal(r.total_votes, 1);
    assert.ok(Math.abs(r.turnout - 1 / 3) < 1e-12, `turnout ${r.turnout}`);
    assert.ok(Array.isArray(r.rounds) && r.rounds.length >= 1, 'ranked: rounds');
    assert.deepEqual(r.final_counts, { jungle: 0, volcano: 1, caves: 0 });
    const st = await stateWhere(b.ws, (s) => s.results && s.results[v] && s.close_reply && s.close_reply.ok);
    assert.deepEqual(st.payload.results[v], stripNulls(r));
    await castErr(c, 'vote.cast', { vote_id: v, option_id: ['jungle'] }, 'conflict', 'vote_closed');
    await waitFor('the stored vote', async () => {
      const res = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      const row = res.json.votes.find((x) => x.vote_id === v);
      return row && row.status === 'closed' && row.result && row.result.winner === 'volcano';
    });
  });

  it('a veto: vote.veto_accepted, match.vote_vetoed to all, the script\'s vote_vetoed; then no_tokens and veto_disabled', async () => {
    const [a, b, c] = [await player(), await player(), await player()];
    const id = await matchOf([a, b, c]);
    const v1 = (await startVote(a, [a, b, c], { options: OPTIONS, method: 'plurality', window_ms: 10000, veto_enabled: true, visibility: 'live' })).vote_id;
    await b.ws.ok('vote.cast', { vote_id: v1, option_id: 'caves' });
    const veto = await a.ws.request('vote.veto', { vote_id: v1 });
    assert.deepEqual(veto, { cid: veto.cid, type: 'vote.veto_accepted', payload: { vote_id: v1, tokens_left: 0 } });
    for (const p of [a, b, c]) assert.deepEqual((await p.ws.next('match.vote_vetoed', 3000)).payload, { vote_id: v1, vetoed_by: a.player_id });
    const st = await stateWhere(c.ws, (s) => s.vetoes && s.vetoes[v1]);
    assert.equal(st.payload.vetoes[v1], a.player_id);
    assert.equal(st.payload.result_calls, 0, 'a vetoed vote has no result');
    for (const p of [a, b, c]) await p.ws.expectNone('match.vote_result', 10);
    // a later cast or veto: vote_closed (docs/VOTING.md §4; for the match's life)
    await castErr(c, 'vote.cast', { vote_id: v1, option_id: 'jungle' }, 'conflict', 'vote_closed');
    await castErr(b, 'vote.veto', { vote_id: v1 }, 'conflict', 'vote_closed');

    // a second vote: a has used its one token for this match
    const v2 = (await startVote(b, [a, b, c], { options: OPTIONS, method: 'plurality', window_ms: 10000, veto_enabled: true })).vote_id;
    const nt = await castErr(a, 'vote.veto', { vote_id: v2 }, 'forbidden', 'no_tokens');
    assert.match(nt.payload.message, /no veto tokens left/);
    // ... b has one
    assert.deepEqual(await b.ws.ok('vote.veto', { vote_id: v2 }), { vote_id: v2, tokens_left: 0 });
    // a vote without veto_enabled: veto_disabled (even for a player with a token)
    const v3 = (await startVote(a, [a, b, c], { options: OPTIONS, method: 'plurality', window_ms: 10000 })).vote_id;
    const vd = await castErr(c, 'vote.veto', { vote_id: v3 }, 'forbidden', 'veto_disabled');
    assert.match(vd.payload.message, /cannot be vetoed/);
    await castErr(c, 'vote.veto', { vote_id: 'no-such-vote' }, 'not_found', 'not_found');
    // the audit rows: two vetoed votes
    const got = await waitFor('the stored vetoes', async () => {
      const res = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      const rows = (res.json.votes || []).filter((x) => x.status === 'vetoed');
      return rows.length === 2 ? res.json : null;
    });
    const rows = Object.fromEntries(got.votes.map((x) => [x.vote_id, x]));
    assert.equal(rows[v1].vetoed_by, a.player_id);
    assert.equal(rows[v1].result, null);
    assert.equal(rows[v2].vetoed_by, b.player_id);
    assert.equal(rows[v3].status, 'open');
  });

  it('error reasons: not_eligible (joined after the vote started), malformed, unknown_option, not_found, vote_closed, bad_request', async () => {
    const [a, b, late] = [await player(), await player(), await player()];
    const id = await matchOf([a, b]);
    const v = (await startVote(a, [a, b], { options: OPTIONS, method: 'plurality', window_ms: 10000, veto_enabled: true })).vote_id;
    await late.ws.ok('match.join', { match_id: id });
    assert.ok(!late.ws.received.some((m) => m.type === 'match.vote_start'), 'joined after the vote_start');
    const ne = await castErr(late, 'vote.cast', { vote_id: v, option_id: 'jungle' }, 'forbidden', 'not_eligible');
    assert.match(ne.payload.message, /not eligible/);
    await castErr(late, 'vote.veto', { vote_id: v }, 'forbidden', 'not_eligible');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: ['jungle'] }, 'bad_request', 'malformed');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: 7 }, 'bad_request', 'malformed');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: 'lava' }, 'bad_request', 'unknown_option');
    await castErr(a, 'vote.cast', { vote_id: v, option_id: '' }, 'bad_request', 'unknown_option');
    await castErr(a, 'vote.cast', { vote_id: 'no-such-vote', option_id: 'jungle' }, 'not_found', 'not_found');
    // a player outside the match: the vote exists, they are not eligible
    const outsider = await player();
    await castErr(outsider, 'vote.cast', { vote_id: v, option_id: 'jungle' }, 'forbidden', 'not_eligible');
    let r = await a.ws.request('vote.cast', { vote_id: v });
    assert.equal(r.payload.code, 'bad_request');
    assert.match(r.payload.message, /missing field 'option_id'/);
    r = await a.ws.request('vote.cast', { option_id: 'jungle' });
    assert.equal(r.payload.code, 'bad_request');
    // nothing above was counted: one valid cast is the first ballot
    assert.deepEqual(await a.ws.ok('vote.cast', { vote_id: v, option_id: 'jungle' }), { vote_id: v, total_votes: 1 });
    // vote_closed: b's last ballot closes the vote; a second cast in the same TCP segment is
    // handled before the close is applied (both frames written at once)
    const c1 = 'vc1';
    const c2 = 'vc2';
    const r1 = b.ws.next((m) => m.cid === c1, 3000);
    const r2 = b.ws.next((m) => m.cid === c2, 3000);
    b.ws.socket._socket.write(Buffer.concat([
      frame({ cid: c1, type: 'vote.cast', payload: { vote_id: v, option_id: 'volcano' } }),
      frame({ cid: c2, type: 'vote.cast', payload: { vote_id: v, option_id: 'caves' } }),
    ]));
    assert.equal((await r1).type, 'vote.accepted');
    const closed = await r2;
    assert.equal(closed.type, 'error', JSON.stringify(closed));
    assert.equal(closed.payload.code, 'conflict');
    assert.equal(closed.payload.reason, 'vote_closed');
    assert.match(closed.payload.message, /the vote is closed/);
    const res = (await a.ws.next('match.vote_result', 3000)).payload;
    assert.deepEqual(res.counts, { jungle: 1, volcano: 1, caves: 0 }, 'the refused cast changed nothing');
    assert.equal(res.turnout, 1, 'the late joiner is not eligible');
  });

  it('a bad spec: match:vote_start raises a Lua error in the calling callback, which ends the match with result.error', async () => {
    // hook_vote_start answers a spec error with luaL_error: like any script error, the match
    // fails (match.finished {result: {error}}), stored with reason "error"
    const [a, b] = [await player(), await player()];
    const id = await matchOf([a, b]);
    await a.ws.ok('match.input', { action: 'vote', spec: { options: OPTIONS, method: 'dictator', colour: 'red' } });
    for (const p of [a, b]) {
      const fin = await p.ws.next('match.finished', 3000);
      assert.equal(fin.payload.match_id, id);
      assert.deepEqual(Object.keys(fin.payload.result), ['error']);
      assert.match(fin.payload.result.error, /vote_start: /);
      assert.match(fin.payload.result.error, /method|colour/);
    }
    await server.waitForLog(new RegExp(`event=match_script_error match=${id} mode=votetest`), 2000);
    const stored = await waitFor('the stored match', async () => {
      const res = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      return res.status === 200 && res.json.ticks !== undefined ? res.json : null;
    });
    assert.equal(stored.status, 'finished');
    assert.equal(stored.reason, 'error');
    assert.deepEqual(stored.votes, []);
    // one option only is also refused
    const [c, d] = [await player(), await player()];
    await matchOf([c, d]);
    await c.ws.ok('match.input', { action: 'vote', spec: { options: [OPTIONS[0]], method: 'plurality' } });
    const fin = await c.ws.next('match.finished', 3000);
    assert.match(fin.payload.result.error, /vote_start: .*options/);
    assert.equal((await server.http('GET', '/healthz')).status, 200);
  });

  it('a match that ends with a vote open: the vote is stored as cancelled', async () => {
    const adm = { authorization: `Bearer ${server.adminToken}` };
    const [a, b] = [await player(), await player()];
    const id = await matchOf([a, b]);
    const v = (await startVote(a, [a, b], { options: OPTIONS, method: 'borda', window_ms: 60000 })).vote_id;
    await a.ws.ok('vote.cast', { vote_id: v, option_id: ['caves', 'jungle'] });
    assert.equal((await server.http('POST', `/v1/admin/matches/${id}/end`, {}, adm)).status, 200);
    await a.ws.next('match.finished', 3000);
    await castErr(b, 'vote.cast', { vote_id: v, option_id: ['jungle'] }, 'not_found', 'not_found');
    const got = await waitFor('the stored vote', async () => {
      const res = await server.http('GET', `/v1/matches/${id}`, undefined, bearer(a));
      return res.status === 200 && res.json.status === 'finished' && (res.json.votes || []).length === 1 ? res.json : null;
    });
    assert.equal(got.votes[0].vote_id, v);
    assert.equal(got.votes[0].status, 'cancelled');
    assert.equal(got.votes[0].method, 'borda');
  });
});
