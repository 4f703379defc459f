'use strict';
// The demo's arena leaderboard panel in a real browser (Debian's chromium, playwright-core): in
// the lobby it shows the week's top of "arena_wins" (created by the shipped scripts/server.lua)
// with ranks, names and wins, when the board resets, and the visitor's own rank (or how to get
// one). Screenshot: build/screenshots/demo-leaderboard.png.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');

const browser = require('./browser');
const { SHOTS, skip } = browser;

describe('browser: demo arena leaderboard', { skip }, () => {
  let server, ctx, page, dir;
  const errors = [];
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

  before(async () => {
    server = await h.startServer({ args: ['--static', h.REPO_ROOT] });
    // a visitor without a record: GET .../records/{me} answers 404, which the page shows as a hint
    ({ ctx, page, dir } = await browser.launch({ tag: 'demo-lb', errors, ignoreConsole: /^Failed to load resource: .* 404 / }));
  });
  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  });

  it('shows the top with ranks and the reset time, then the visitor\'s own rank', async () => {
    const wins = [['ana', 5], ['bo', 3], ['cy', 3]];
    for (const [username, score] of wins) {
      const r = await server.http('POST', '/v1/admin/leaderboards/arena_wins/records', { owner_id: crypto.randomUUID(), score, username }, admin());
      assert.equal(r.status, 200, r.text);
    }
    await page.goto(`${server.baseUrl}/demo/`);
    await page.waitForSelector('#ov-lobby:not(.hidden)');
    await page.waitForFunction(() => document.querySelectorAll('#board li .name').length === 3);
    const rows = await page.$$eval('#board li', (lis) => lis.map((li) => [...li.children].map((c) => c.textContent)));
    assert.deepEqual(rows, [['1.', 'ana', '5'], ['2.', 'bo', '3'], ['3.', 'cy', '3']]);
    assert.match(await page.textContent('#board-reset'), /^resets Sun, .* 00:00 UTC$/);
    await page.waitForFunction(() => /Win a match/.test(document.querySelector('#board-me').textContent));
    // the visitor wins twice (as the arena script would award), comes back to the lobby: ranked
    const me = await page.evaluate(() => window.demo.player.me.player_id);
    await server.http('POST', '/v1/admin/leaderboards/arena_wins/records', { owner_id: me, score: 4 }, admin());
    await page.reload();
    await page.waitForSelector('#ov-lobby:not(.hidden)');
    await page.waitForFunction(() => /rank 2, 4 wins/.test(document.querySelector('#board-me').textContent));
    assert.equal(await page.locator('#board li.me').count(), 1);
    await page.screenshot({ path: path.join(SHOTS, 'demo-leaderboard.png') });
    assert.deepEqual(errors, []);
  });
});
