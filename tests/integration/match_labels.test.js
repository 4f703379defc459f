'use strict';
// Match labels and listing (docs/LUA_API.md match:set_label, docs/REST.md GET /v1/matches):
// a script labels its match with a flat table; GET /v1/matches filters by mode, label.<key>
// (exact, ANDed), open and limit; bad labels raise a Lua error naming the problem, bad query
// parameters are 400. Test mode: labels (params.label at init; the "label" input relabels).
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const h = require('./harness');

const { scriptsDir } = h;

const bearer = (s) => ({ authorization: `Bearer ${s.token}` });

describe('match labels and listing', () => {
  let server;
  let dir;
  const open = [];
  const player = async () => {
    const s = await h.authed(server);
    open.push(s);
    return s;
  };
  let p;
  before(async () => {
    dir = scriptsDir(['labels']);
    server = await h.startServer({ scripts: dir });
    p = await player();
  });
  after(async () => {
    for (const s of open) if (s.ws.isOpen) await s.ws.close();
    if (server) assert.equal(await server.stop(), 0);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const create = async (label, mode = 'labels') => {
    const r = await server.http('POST', '/v1/matches', { mode, params: label ? { label } : {} }, bearer(p));
    assert.equal(r.status, 201, r.text);
    return r.json.match_id;
  };
  const list = async (query) => {
    const r = await server.http('GET', `/v1/matches${query}`, undefined, bearer(p));
    assert.equal(r.status, 200, `${query}: ${r.text}`);
    return r.json.matches;
  };
  const ids = async (query) => (await list(query)).map((m) => m.match_id).sort();
  const bad = async (query, re) => {
    const r = await server.http('GET', `/v1/matches${query}`, undefined, bearer(p));
    assert.equal(r.status, 400, `${query}: ${r.text}`);
    assert.equal(r.json.error.code, 'bad_request');
    assert.match(r.json.error.message, re, query);
  };
  /** Relabel from inside the match (the player must be seated in it). */
  const relabel = async (who, input) => {
    who.ws.send({ type: 'match.input', payload: { action: 'label', ...input } });
    return (await who.ws.next((m) => m.type === 'match.message' && m.payload.subject === 'label', 3000)).payload.data;
  };

  it('filters: mode, label.<key> (exact, ANDed; numbers and booleans by value), open, limit', async () => {
    const jungle = await create({ map: 'jungle', rank: 3, ranked: true });
    const jungle2 = await create({ map: 'jungle', rank: 5, ranked: false });
    const desert = await create({ map: 'desert', rank: 3, ranked: true, note: 'a b/c=d&e' });
    const plain = await create(null);
    const ttt = await create(null, 'tictactoe'); // a mode that sets no label
    const all = [jungle, jungle2, desert, plain].sort();

    assert.deepEqual(await ids('?mode=labels'), all);
    assert.deepEqual(await ids('?mode=labels&label.map=jungle'), [jungle, jungle2].sort());
    assert.deepEqual(await ids('?label.map=jungle&label.rank=3'), [jungle]);
    assert.deepEqual(await ids('?label.rank=3'), [jungle, desert].sort());
    assert.deepEqual(await ids('?label.rank=3.0'), [jungle, desert].sort(), 'numbers compare by value');
    assert.deepEqual(await ids('?label.ranked=true'), [jungle, desert].sort());
    assert.deepEqual(await ids('?label.ranked=false'), [jungle2]);
    assert.deepEqual(await ids('?label.ranked=1'), [], 'a boolean matches only true/false');
    assert.deepEqual(await ids('?label.map=Jungle'), [], 'strings are exact (case too)');
    assert.deepEqual(await ids('?label.map=jung'), [], 'no prefix match');
    assert.deepEqual(await ids('?label.map='), [], 'an empty value matches only an empty string');
    assert.deepEqual(await ids(`?label.note=${encodeURIComponent('a b/c=d&e')}`), [desert], 'URL-decoded value');
    assert.deepEqual(await ids('?label.nokey=x'), []);
    assert.deepEqual(await ids('?mode=tictactoe&label.map=jungle'), []);

    // the listing carries label and open
    const e = (await list('?label.map=desert'))[0];
    assert.deepEqual(e.label, { map: 'desert', rank: 3, ranked: true, note: 'a b/c=d&e' });
    assert.equal(e.open, true);
    assert.equal(e.seed, undefined);
    assert.deepEqual((await list('?mode=tictactoe')).find((m) => m.match_id === ttt).label, {});
    // GET /v1/matches/{id} too
    const one = await server.http('GET', `/v1/matches/${jungle}`, undefined, bearer(p));
    assert.deepEqual(one.json.label, { map: 'jungle', rank: 3, ranked: true });

    // open: labels seats two; fill jungle (two players) and it leaves open=true
    const [a, b] = [await player(), await player()];
    await a.ws.ok('match.join', { match_id: jungle });
    assert.ok((await ids('?open=true&mode=labels')).includes(jungle), 'one of two seats taken: still open');
    await b.ws.ok('match.join', { match_id: jungle });
    assert.deepEqual(await ids('?open=true&label.map=jungle'), [jungle2]);
    assert.deepEqual(await ids('?open=false&mode=labels'), [jungle]);
    assert.equal((await list('?label.map=jungle')).find((m) => m.match_id === jungle).open, false);
    await b.ws.ok('match.leave', {});
    assert.ok((await ids('?open=true&label.map=jungle')).includes(jungle), 'a seat freed: open again');

    // limit
    assert.equal((await list('?mode=labels&limit=2')).length, 2);
    assert.equal((await list('?mode=labels&limit=1000')).length, 4);
    await a.ws.ok('match.leave', {});
  });

  it('a relabel from the script is visible at once; nil or {} clears the label', async () => {
    const id = await create({ map: 'jungle' });
    const a = await player();
    await a.ws.ok('match.join', { match_id: id });
    assert.deepEqual(await relabel(a, { label: { map: 'snow', round: 2 } }), { ok: true });
    // the reply came from the tick that ran the input: the next GET sees it
    assert.deepEqual(await ids('?label.map=snow&label.round=2'), [id]);
    assert.deepEqual((await ids('?label.map=jungle')).includes(id), false, 'the old label is gone (replaced, not merged)');
    assert.deepEqual(await relabel(a, { label: {} }), { ok: true });
    assert.deepEqual((await list('?mode=labels')).find((m) => m.match_id === id).label, {});
    assert.deepEqual(await relabel(a, { label: { map: 'snow' } }), { ok: true });
    assert.deepEqual(await relabel(a, {}), { ok: true }, 'nil clears');
    assert.deepEqual((await list('?mode=labels')).find((m) => m.match_id === id).label, {});
    await a.ws.ok('match.leave', {});
  });

  it('bad labels raise a Lua error naming the problem; the label stays as it was', async () => {
    const id = await create({ map: 'keep' });
    const a = await player();
    await a.ws.ok('match.join', { match_id: id });
    const cases = [
      [{ label: { pos: { x: 1 } } }, /^set_label: value of 'pos' must be a string, number or boolean \(got table\)$/],
      [{ label: { 'bad key': 1 } }, /^set_label: key 'bad key' must be 1\.\.32 characters of A-Z a-z 0-9 _ -$/],
      [{ label: { ['k'.repeat(33)]: 1 } }, /^set_label: key 'k{33}' must be 1\.\.32 characters/],
      [{ label: { '': 1 } }, /^set_label: key '' must be/],
      [{ label: { map: 'x'.repeat(129) } }, /^set_label: value of 'map' is longer than 128 bytes$/],
      [{ label: [1, 2] }, /^set_label: keys must be strings \(got a number key\)$/],
    ];
    for (const [input, re] of cases) {
      const r = await relabel(a, input);
      assert.equal(r.ok, false, JSON.stringify(input));
      assert.match(r.error, re);
    }
    for (const [action, extra, re] of [
      ['label_string', {}, /^set_label: expects a table \(got string\)$/],
      ['label_many', { n: 17 }, /^set_label: at most 16 keys$/],
      ['label_many', { n: 16, len: 128 }, /^set_label: \d+ bytes as JSON, more than 2048$/],
    ]) {
      a.ws.send({ type: 'match.input', payload: { action, ...extra } });
      const r = (await a.ws.next((m) => m.type === 'match.message' && m.payload.subject === 'label', 3000)).payload.data;
      assert.equal(r.ok, false, action);
      assert.match(r.error, re);
    }
    // at the limits it is accepted: 16 keys of 100-byte values
    a.ws.send({ type: 'match.input', payload: { action: 'label_many', n: 16, len: 100 } });
    const ok = (await a.ws.next((m) => m.type === 'match.message' && m.payload.subject === 'label', 3000)).payload.data;
    assert.deepEqual(ok, { ok: true });
    const l = (await list('?mode=labels')).find((m) => m.match_id === id).label;
    assert.equal(Object.keys(l).length, 16);
    // an error before that left the old label: check with a fresh match
    const keep = await create({ map: 'keep2' });
    const b = await player();
    await b.ws.ok('match.join', { match_id: keep });
    assert.equal((await relabel(b, { label: { map: { deep: 1 } } })).ok, false);
    assert.deepEqual((await list('?label.map=keep2')).map((m) => m.match_id), [keep], 'unchanged after a refused label');
    // a label error in init fails the creation with the message
    const r = await server.http('POST', '/v1/matches', { mode: 'labels', params: { label: { x: [1] } } }, bearer(p));
    assert.equal(r.status, 500, r.text);
    assert.match(r.json.error.message, /init failed: .*set_label: value of 'x' must be a string, number or boolean \(got table\)/);
    await a.ws.ok('match.leave', {});
    await b.ws.ok('match.leave', {});
  });

  it('bad query parameters are 400 with a clear message', async () => {
    await bad('?open=yes', /^query parameter 'open' must be true or false \(got 'yes'\)$/);
    await bad('?open', /^query parameter 'open' must be true or false/);
    await bad('?limit=0', /^query parameter 'limit' must be an integer 1\.\.1000 \(got '0'\)$/);
    await bad('?limit=1001', /limit/);
    await bad('?limit=5x', /limit/);
    await bad('?mode=', /^query parameter 'mode' must not be empty$/);
    await bad('?mode=a&mode=b', /^query parameter 'mode' given twice$/);
    await bad('?label.map=a&label.map=b', /^query parameter 'label\.map' given twice$/);
    await bad('?label.=x', /^unknown query parameter 'label\.'/);
    await bad(`?label.${'k'.repeat(33)}=x`, /^label filter 'label\.k+': the key must be 1\.\.32 characters of A-Z a-z 0-9 _ -$/);
    await bad('?label.a%20b=x', /^label filter 'label\.a b': the key must be/);
    await bad('?status=open', /^unknown query parameter 'status' \(known: mode, open, limit, label\.<key>\)$/);
    const many = Array.from({ length: 17 }, (_, i) => `label.k${i}=v`).join('&');
    await bad(`?${many}`, /^at most 16 label filters$/);
    // the old form still works
    assert.ok(Array.isArray(await list('?mode=labels')));
    assert.ok(Array.isArray(await list('')));
  });
});
