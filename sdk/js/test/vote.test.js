// Votes through the SDK: castVote, veto, the vote events, and rejection reasons, with the
// shipped mapvote mode (short rounds) and the sdktest fixture.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MoonbaseError } from '../src/moonbase-client.js';
import { startServer, player, collect, until } from './helpers.js';

describe('votes', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('mapvote: onVoteStart, castVote, onVoteTally, onVoteResult; then veto and onVoteVetoed; then the match finishes', async () => {
    const a = await player(server);
    const b = await player(server);
    const m = await a.client.createMatch('mapvote', { rounds: 3, round_ms: 1000, vote_ms: 8000 });
    const startA = a.socket.next('match.vote_start', { timeoutMs: 8000 });
    const startB = b.socket.next('match.vote_start', { timeoutMs: 8000 });
    const talliesB = collect(b.socket, 'match.vote_tally');
    await a.socket.joinMatch(m.match_id);
    await b.socket.joinMatch(m.match_id);

    const vs = await startA;
    assert.equal(vs.method, 'plurality');
    assert.deepEqual(vs.options.map((o) => o.id), ['jungle', 'volcano', 'caves']);
    assert.equal(vs.window_ms, 8000);
    assert.equal((await startB).vote_id, vs.vote_id);

    await assert.rejects(a.socket.castVote(vs.vote_id, 'moon'), (e) => {
      assert.ok(e instanceof MoonbaseError);
      assert.equal(e.code, 'bad_request');
      assert.equal(e.reason, 'unknown_option');
      assert.equal(e.requestType, 'vote.cast');
      return true;
    });
    await assert.rejects(a.socket.castVote(vs.vote_id, ['volcano']), { code: 'bad_request', reason: 'malformed' });
    const resultP = b.socket.next('match.vote_result', { timeoutMs: 8000 });
    const acc = await a.socket.castVote(vs.vote_id, 'volcano');
    assert.deepEqual(acc, { vote_id: vs.vote_id, total_votes: 1 });
    await until(() => talliesB.length >= 1, { what: 'a live tally' });
    assert.equal(talliesB[0].vote_id, vs.vote_id);
    assert.equal(talliesB[0].tallies.volcano, 1);
    assert.equal(talliesB[0].total_votes, 1);
    assert.ok(talliesB[0].time_remaining_ms > 0);
    await b.socket.castVote(vs.vote_id, 'volcano');
    const res = await resultP; // every eligible player voted: it closes now
    assert.equal(res.vote_id, vs.vote_id);
    assert.equal(res.winner, 'volcano');
    assert.deepEqual(res.counts, { jungle: 0, volcano: 2, caves: 0 });
    assert.equal(res.total_votes, 2);
    assert.equal(res.turnout, 1);
    // a closed vote answers vote_closed while its match runs
    await assert.rejects(a.socket.castVote(vs.vote_id, 'caves'), { code: 'conflict', reason: 'vote_closed' });

    // round 2 ends: a ranked, hidden vote; A vetoes it
    const vs2 = await a.socket.next('match.vote_start', { timeoutMs: 8000, filter: (v) => v.vote_id !== vs.vote_id });
    assert.equal(vs2.method, 'ranked');
    const vetoedB = b.socket.next('match.vote_vetoed');
    const finishedB = b.socket.next('match.finished', { timeoutMs: 8000 });
    const va = await a.socket.veto(vs2.vote_id);
    assert.deepEqual(va, { vote_id: vs2.vote_id, tokens_left: 0 });
    assert.deepEqual(await vetoedB, { vote_id: vs2.vote_id, vetoed_by: a.id });
    // round 3 runs 1 s more: the vetoed vote is still known, and closed
    await assert.rejects(a.socket.veto(vs2.vote_id), { code: 'conflict', reason: 'vote_closed' });

    const fin = await finishedB;
    assert.deepEqual(fin.result.maps, ['jungle', 'volcano', 'volcano']);
    // Right after the finish the row may still be on its way to PostgreSQL: GET answers 404
    // for that moment (reported: the in-flight durable write is in neither place).
    const stored = await until(async () => {
      const g = await a.client.getMatch(m.match_id).catch((e) => (e.code === 'not_found' ? null : Promise.reject(e)));
      return g && g.status === 'finished' && g;
    }, { what: 'stored result' });
    assert.equal(stored.votes.length, 2);
  });

  it('no veto tokens left: forbidden with reason no_tokens; a vote of another match: not_eligible', async () => {
    const a = await player(server);
    const b = await player(server);
    const m = await a.client.createMatch('sdktest');
    await a.socket.joinMatch(m.match_id);
    await b.socket.joinMatch(m.match_id);
    const first = a.socket.next('match.vote_start');
    a.socket.sendInput({ action: 'vote' });
    const v1 = await first;
    await a.socket.veto(v1.vote_id);
    const second = a.socket.next('match.vote_start');
    a.socket.sendInput({ action: 'vote' });
    const v2 = await second;
    await assert.rejects(a.socket.veto(v2.vote_id), { code: 'forbidden', reason: 'no_tokens' });

    const outsider = await player(server);
    await assert.rejects(outsider.socket.castVote(v2.vote_id, 'red'), { code: 'forbidden', reason: 'not_eligible' });
    const winner = a.socket.next('match.vote_result');
    await a.socket.castVote(v2.vote_id, 'blue');
    await b.socket.castVote(v2.vote_id, 'blue');
    assert.equal((await winner).winner, 'blue');
  });
});
