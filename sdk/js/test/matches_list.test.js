// Client.listMatches filters (docs/REST.md GET /v1/matches): mode, label (label.<key>), open,
// limit, against the real server. The shipped arena mode labels its match {phase, map, round}:
// phase "waiting" until the round starts, then "playing".
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, signedIn, player } from './helpers.js';

describe('Client.listMatches filters', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('label, open and limit reach the server; labels come back; a bad filter is bad_request', async () => {
    const c = await signedIn(server);
    const waiting = await c.createMatch('arena');
    const started = await c.createMatch('arena');
    const ids = async (opts) => (await c.listMatches(opts)).matches.map((m) => m.match_id);

    let list = await c.listMatches({ mode: 'arena', label: { phase: 'waiting', round: 1 }, open: true });
    assert.ok(list.matches.some((m) => m.match_id === waiting.match_id));
    const entry = list.matches.find((m) => m.match_id === waiting.match_id);
    assert.deepEqual(entry.label, { phase: 'waiting', map: 'jungle', round: 1 });
    assert.equal(entry.open, true);

    // two players start the second round: its label changes at once
    const [a, b] = [await player(server), await player(server)];
    await a.socket.joinMatch(started.match_id);
    const go = a.socket.next('match.started'); // listen before the join that starts it
    await b.socket.joinMatch(started.match_id);
    await go;
    assert.ok((await ids({ mode: 'arena', label: { phase: 'playing' } })).includes(started.match_id));
    assert.ok(!(await ids({ mode: 'arena', label: { phase: 'waiting' } })).includes(started.match_id));

    assert.equal((await c.listMatches({ mode: 'arena', limit: 1 })).matches.length, 1);
    list = await c.listMatches({ mode: 'arena', open: false });
    assert.ok(list.matches.every((m) => m.open === false));
    await assert.rejects(c.listMatches({ label: { 'a b': 1 } }), { code: 'bad_request', status: 400 });
    await assert.rejects(c.listMatches({ limit: 0 }), { code: 'bad_request' });
    a.socket.close();
    b.socket.close();
  });
});
