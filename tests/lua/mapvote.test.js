'use strict';
// Votes offline: `moonbase simulate mapvote` with votes and vetoes in the inputs file. The tally
// is the server's (modules/vote/tally.c) and its result reaches the script's vote_result /
// vote_vetoed as on the server (docs/LUA_API.md, "simulate"). Also the votetest mode of the
// integration suite: match:vote_close from the script, and bad vote lines.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { simulate, REPO_ROOT } = require('./simulate');

// round 1 ends at tick 10 (1000 ms at 10 Hz): vote-1 (plurality, live) opens for 500 ms
const PARAMS = { round_ms: 1000, vote_ms: 500, rounds: 3 };
const vote = (tick, player, option_id, vote_id) => ({ tick, player, vote: vote_id ? { vote_id, option_id } : { option_id } });
const veto = (tick, player, vote_id) => ({ tick, player, veto: vote_id ? { vote_id } : {} });
const lines = (r, key) => r.lines.filter((l) => l && key in l).map((l) => l[key]);

describe('mapvote (simulate with votes)', () => {
  it('votes in the inputs file: the result reaches the script (the next map is the winner)', async () => {
    const r = await simulate('mapvote', { players: 3, ticks: 60, params: PARAMS, inputs: [vote(11, 1, 'volcano'), vote(12, 2, 'volcano'), vote(12, 3, 'caves')] });
    assert.equal(r.code, 0, r.stderr);
    const starts = lines(r, 'vote_start');
    assert.equal(starts[0].vote_id, 'vote-1');
    assert.equal(starts[0].method, 'plurality');
    const [res] = lines(r, 'vote_result');
    assert.equal(res.vote_id, 'vote-1');
    assert.equal(res.winner, 'volcano');
    assert.deepEqual(res.counts, { jungle: 0, volcano: 2, caves: 1 });
    assert.equal(res.total_votes, 3);
    // the script got it: its state shows the winner and the next round is on volcano
    const after = r.states.find((s) => s.round === 2);
    assert.ok(after, 'round 2 reached');
    assert.equal(after.map, 'volcano');
    assert.deepEqual(after.last_vote, { winner: 'volcano', counts: { jungle: 0, volcano: 2, caves: 1 }, tie: false });
    // window of vote-1 still open at tick 12: it closed early because everyone voted
    assert.ok(r.states.findIndex((s) => s.round === 2) < r.states.findIndex((s) => s.tick === 16), 'closed when all voted');
    // vote-2 (ranked) got no ballots: its window closes, status_quo keeps volcano
    assert.equal(starts[1].method, 'ranked');
    const res2 = lines(r, 'vote_result')[1];
    assert.equal(res2.total_votes, 0);
    assert.deepEqual(r.finished.maps, ['jungle', 'volcano', 'volcano']);
    // the same run again prints the same lines (as JSON: Lua tables have no key order)
    const again = await simulate('mapvote', { players: 3, ticks: 60, params: PARAMS, inputs: [vote(11, 1, 'volcano'), vote(12, 2, 'volcano'), vote(12, 3, 'caves')] });
    assert.deepEqual(again.lines, r.lines);
  });

  it('a ranked vote closed by its window, then a veto: vote_vetoed reaches the script', async () => {
    const r = await simulate('mapvote', {
      players: 3, ticks: 60, params: PARAMS,
      inputs: [
        vote(11, 1, 'caves'),
        // vote-1 closes by its window at tick 15, so vote-2 (round 2 is even: ranked) opens at
        // tick 25; p1 and p2 rank, p3 does not
        vote(26, 1, ['jungle', 'caves'], 'vote-2'),
        vote(26, 2, ['volcano', 'jungle']),
        vote(27, 3, 'caves', 'vote-1'), // vote-1 is closed by now
      ],
    });
    assert.equal(r.code, 0, r.stderr);
    const [r1, r2] = lines(r, 'vote_result');
    assert.equal(r1.winner, 'caves');
    assert.equal(r1.total_votes, 1);
    // a 1-1 first-preference tie between jungle and volcano; status_quo (caves) is not among them
    assert.equal(r2.vote_id, 'vote-2');
    assert.ok(Array.isArray(r2.rounds), 'ranked result has rounds');
    const st = r.states.find((s) => s.round === 3);
    assert.equal(st.map, r2.winner);
    assert.deepEqual(lines(r, 'vote_error'), [{ tick: 27, player_id: 'p3', type: 'vote.cast', reason: 'vote_closed' }]);
    assert.match(r.stderr, /tick 27: p3 vote\.cast rejected: vote_closed/);

    const v = await simulate('mapvote', { players: 2, ticks: 60, params: PARAMS, inputs: [veto(11, 2), veto(22, 2), veto(23, 1, 'vote-2')] });
    assert.equal(v.code, 0, v.stderr);
    assert.deepEqual(lines(v, 'vote_vetoed'), [{ vote_id: 'vote-1', vetoed_by: 'p2' }, { vote_id: 'vote-2', vetoed_by: 'p1' }]);
    // one token per player per match (veto_tokens_per_player = 1): p2's second veto is refused
    assert.deepEqual(lines(v, 'vote_error'), [{ tick: 22, player_id: 'p2', type: 'vote.veto', reason: 'no_tokens' }]);
    assert.deepEqual(lines(v, 'vote_result'), [], 'a vetoed vote has no result');
    const s2 = v.states.find((s) => s.round === 2);
    assert.deepEqual(s2.last_vote, { vetoed_by: 'p2' });
    assert.equal(s2.map, 'jungle');
    assert.deepEqual(v.finished.maps, ['jungle', 'jungle', 'jungle']);
  });

  it('match:vote_close from the script; vote_close of a closed vote -> nil, "vote_closed"; rejected casts go on', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-sim-scripts-'));
    try {
      fs.cpSync(path.join(REPO_ROOT, 'scripts'), dir, { recursive: true });
      fs.copyFileSync(path.join(REPO_ROOT, 'tests', 'integration', 'scripts', 'modes', 'votetest.lua'), path.join(dir, 'modes', 'votetest.lua'));
      const spec = { options: [{ id: 'a', label: 'A' }, { id: 'b', label: 'B' }], method: 'approval', window_ms: 60000 };
      const r = await simulate('votetest', {
        players: 2, ticks: 8, scripts: dir,
        inputs: [
          { tick: 1, player: 1, input: { action: 'vote', spec } },
          vote(2, 1, ['a', 'b']),
          vote(2, 2, 'a'), // approval takes a list: malformed
          vote(2, 2, ['zzz']),
          { tick: 3, player: 2, input: { action: 'close', vote_id: 'vote-1' } },
          { tick: 5, player: 2, input: { action: 'close', vote_id: 'vote-1' } },
          veto(6, 1, 'vote-9'),
        ],
      });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(lines(r, 'vote_error').map((e) => [e.tick, e.reason]), [[2, 'malformed'], [2, 'unknown_option'], [6, 'not_found']]);
      const [res] = lines(r, 'vote_result');
      assert.equal(res.vote_id, 'vote-1');
      assert.equal(res.winner, 'a');
      assert.equal(res.turnout, 0.5);
      const st = r.states.find((s) => s.tick === 4);
      assert.equal(st.result_calls, 1);
      assert.equal(st.results['vote-1'].winner, 'a');
      assert.deepEqual(r.states.find((s) => s.tick === 5).close_reply, { ok: false, err: 'vote_closed' });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a vote line without option_id, or with both input and vote: exit 2 naming the line', async () => {
    for (const bad of [{ tick: 1, player: 1, vote: {} }, { tick: 1, player: 1, input: {}, vote: { option_id: 'a' } }]) {
      const r = await simulate('mapvote', { ticks: 2, inputs: [bad] });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /inputs\.jsonl:1: need .*"vote": \{"option_id"/);
      assert.equal(r.stdout, '');
    }
  });
});
