'use strict';
// The console's Storage page in a real browser (Debian's chromium driven by playwright-core):
// collections with counts, browsing a collection across owners, one object with its version,
// an edit saved with that version (and refused when the object changed meanwhile), delete.
// Values are shown as text. Screenshots go to build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');

const browser = require('./browser');
const { SHOTS, skip } = browser;
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });

describe('browser: console storage page', { skip }, () => {
  let server, ctx, page, dir;
  const errors = [];
  const shot = (file) => page.screenshot({ path: path.join(SHOTS, file) });

  before(async () => {
    server = await h.startServer({ args: ['--static', h.REPO_ROOT, '--auth-rate', '1000'] });
    ({ ctx, page, dir } = await browser.launch({ tag: 'storage', errors, ignoreConsole: /status of 409/, dialogs: true }));
  });

  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  });

  it('browse, view with version, edit (stale edits refused), delete', async () => {
    const a = await h.authed(server);
    const b = await h.authed(server);
    const evil = '<img src=x onerror="alert(1)">';
    for (const p of [a, b]) {
      const w = await server.http('PUT', '/v1/storage', { objects: [{ collection: 'saves', key: 'slot1', value: { level: 1, note: evil } }] }, bearer(p));
      assert.equal(w.status, 200, w.text);
    }
    await server.http('PUT', '/v1/storage', { objects: [{ collection: 'saves', key: 'slot2', value: { level: 2 } }] }, bearer(a));

    await page.goto(`${server.baseUrl}/console/#/storage`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', server.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    assert.equal(await page.textContent('#page-title'), 'Storage');
    const row = page.locator('#storage-collections tbody tr[data-key="saves"]');
    await row.waitFor();
    assert.match(await row.textContent(), /saves\s*3/);
    await shot('console-storage.png');

    await row.click();
    await page.waitForFunction(() => document.querySelectorAll('#storage-objects tbody tr').length === 3);
    // one owner only
    await page.fill('#storage-owner', b.player_id);
    await page.click('#storage-filter');
    await page.waitForFunction(() => document.querySelectorAll('#storage-objects tbody tr').length === 1);
    await page.locator(`#storage-objects tbody tr[data-key="${a.player_id}/slot1"]`).count().then((n) => assert.equal(n, 0));
    await page.locator(`#storage-objects tbody tr[data-key="${b.player_id}/slot1"]`).click();
    await page.waitForSelector('#storage-version');
    const v1 = (await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'saves', key: 'slot1' }] }, bearer(b))).json.objects[0].version;
    assert.equal(await page.textContent('#storage-version'), v1);
    assert.equal(await page.textContent('#storage-owner-id'), b.player_id);
    const shown = JSON.parse(await page.inputValue('#storage-value'));
    assert.deepEqual(shown, { level: 1, note: evil });
    assert.equal(await page.locator('#page img').count(), 0, 'the value is text');
    await shot('console-storage-object.png');

    // edit and save: the new version shows, the player reads the new value
    await page.fill('#storage-value', JSON.stringify({ level: 9 }));
    await page.selectOption('#storage-write', 'none');
    await page.click('#storage-save');
    await page.waitForFunction((old) => document.querySelector('#storage-version').textContent !== old, v1);
    const after1 = (await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'saves', key: 'slot1' }] }, bearer(b))).json.objects[0];
    assert.deepEqual(after1.value, { level: 9 });
    assert.equal(after1.permission_write, 'none');
    assert.equal(await page.textContent('#storage-version'), after1.version);

    // changed behind the console's back: the save is refused, nothing overwritten
    const aw = await server.http('PUT', `/v1/admin/storage/saves/slot1?owner_id=${b.player_id}`, { value: { level: 10 } }, { authorization: `Bearer ${server.adminToken}` });
    assert.equal(aw.status, 200, aw.text);
    await page.fill('#storage-value', JSON.stringify({ level: 11 }));
    await page.click('#storage-save');
    await page.waitForFunction(() => /changed meanwhile/.test(document.querySelector('#toast').textContent));
    const after2 = (await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'saves', key: 'slot1' }] }, bearer(b))).json.objects[0];
    assert.deepEqual(after2.value, { level: 10 });

    // reload, then delete (two clicks: arm and confirm)
    await page.click('#storage-reload');
    await page.waitForFunction((v) => document.querySelector('#storage-version').textContent === v, after2.version);
    await page.click('#storage-delete');
    await page.click('#storage-delete');
    await page.waitForFunction(() => location.hash === '#/storage/saves');
    const gone = await server.http('POST', '/v1/storage/read', { ids: [{ collection: 'saves', key: 'slot1' }] }, bearer(b));
    assert.deepEqual(gone.json.objects, []);
    assert.deepEqual(errors, []);
    for (const p of [a, b]) await p.ws.close();
  });
});
