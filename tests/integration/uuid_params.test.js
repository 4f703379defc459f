'use strict';
// Ids in REST paths go through one check, mb_uuid_valid (runtime/uuid.c): 8-4-4-4-12 hex digits,
// either case. Modules used to carry five copies; admin.c's let dashes anywhere through, so a
// 36-character id of dashes reached PostgreSQL's ::uuid cast and GET /v1/admin/players/{id}
// answered 500 "lookup failed". Every route below must answer with its documented client error
// for ids that are not UUIDs, and still find the real player in upper case.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const NOT_UUIDS = [
  '-'.repeat(36),                                   // the right length, dashes anywhere
  '0123456789abcdef0123456789abcdef0123',           // 36 hex digits, no dashes
  '00000000-0000-4000-8000-00000000000g',           // a non-hex digit
  '00000000-0000-4000-8000-0000000000000',          // one digit too many
  'not-a-uuid',
];

describe('UUID path parameters (runtime/uuid.c mb_uuid_valid)', () => {
  let server, adm;
  before(async () => {
    server = await h.startServer();
    adm = { authorization: `Bearer ${server.adminToken}` };
  });
  after(async () => { await server?.stop(); });

  it('GET /v1/admin/players/{id}: 404 "no player" for every id that is not a UUID, never 500', async () => {
    for (const id of NOT_UUIDS) {
      const res = await server.http('GET', `/v1/admin/players/${encodeURIComponent(id)}`, undefined, adm);
      assert.equal(res.status, 404, `${id}: ${res.text}`);
      assert.equal(res.json.error.code, 'not_found', `${id}: ${res.text}`);
    }
  });

  it('the same route finds a player by its id in upper case, so the check is not stricter than before', async () => {
    const a = await h.authed(server);
    const res = await server.http('GET', `/v1/admin/players/${a.player_id.toUpperCase()}`, undefined, adm);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.player_id, a.player_id);
    await a.ws.close();
  });

  it('GET /v1/matches/{id}, /v1/admin/history/matches/{id}: client errors (not 500) for ids that are not UUIDs', async () => {
    const s = await h.authed(server);
    for (const id of NOT_UUIDS) {
      const m = await server.http('GET', `/v1/matches/${encodeURIComponent(id)}`, undefined, { authorization: `Bearer ${s.token}` });
      assert.ok(m.status >= 400 && m.status < 500, `/v1/matches/${id}: ${m.status} ${m.text}`);
      const hist = await server.http('GET', `/v1/admin/history/matches/${encodeURIComponent(id)}`, undefined, adm);
      assert.ok(hist.status >= 400 && hist.status < 500, `/v1/admin/history/matches/${id}: ${hist.status} ${hist.text}`);
    }
    await s.ws.close();
  });
});
