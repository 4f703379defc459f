'use strict';
// The console's Leaderboards pages in a real browser (Debian's chromium driven by playwright-core):
// the list shows every board with its period and next reset; a board's page shows its records
// from the top with ranks, a player's position (the records around them, their rank), and
// "Reset now" (two clicks) archives the period: the page shows the new, empty period.
// Screenshots go to build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');

const browser = require('./browser');
const { SHOTS, skip } = browser;

describe('browser: console leaderboards', { skip }, () => {
  let server, ctx, page, dir;
  const errors = [];
  const admin = () => ({ authorization: `Bearer ${server.adminToken}` });

  before(async () => {
    server = await h.startServer({ args: ['--static', h.REPO_ROOT] });
    ({ ctx, page, dir } = await browser.launch({ tag: 'lb', errors }));
  });
  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  });

  it('lists boards; a board shows its records, a player position, and resets on two clicks', async () => {
    assert.equal((await server.http('POST', '/v1/admin/leaderboards', { id: 'season_wins', operator: 'incr', reset: '@weekly' }, admin())).status, 201);
    const owners = Array.from({ length: 12 }, () => crypto.randomUUID());
    for (const [i, o] of owners.entries()) {
      const r = await server.http('POST', '/v1/admin/leaderboards/season_wins/records', { owner_id: o, score: 100 - i, username: `pilot${i}` }, admin());
      assert.equal(r.status, 200, r.text);
    }
    await page.goto(`${server.baseUrl}/console/#/leaderboards`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', server.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    const row = page.locator('#lb-list tbody tr[data-key="season_wins"]');
    await row.waitFor();
    const text = await row.textContent();
    assert.match(text, /@weekly/);
    assert.match(text, /12/);
    assert.match(text, /UTC/, 'the next reset is shown');
    await page.screenshot({ path: path.join(SHOTS, 'console-leaderboards.png') });

    await row.click();
    await page.waitForSelector('#lb-records tbody tr[data-key]');
    const ranks = await page.$$eval('#lb-records tbody tr', (trs) => trs.map((tr) => [tr.dataset.key, tr.children[0].textContent, tr.children[1].textContent]));
    assert.equal(ranks.length, 12);
    assert.deepEqual(ranks[0].slice(0, 2), [owners[0], '1']);
    assert.match(ranks[0][2], /pilot0/);
    assert.deepEqual(ranks[11].slice(0, 2), [owners[11], '12']);
    assert.match(await page.textContent('#page-meta'), /period 1 · 12 records/);

    await page.fill('#lb-owner', owners[6]);
    await page.click('#lb-find button');
    await page.waitForSelector('#lb-around tbody tr');
    assert.match(await page.textContent('#lb-around h3'), /rank 7/);
    const around = await page.$$eval('#lb-around tbody tr', (trs) => trs.map((tr) => tr.children[0].textContent));
    assert.deepEqual(around, ['2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12']);
    await page.screenshot({ path: path.join(SHOTS, 'console-leaderboard.png') });

    await page.click('#lb-reset');
    assert.match(await page.textContent('#lb-reset'), /Click again/);
    await page.click('#lb-reset');
    await page.waitForFunction(() => /period 2 · 0 records/.test(document.querySelector('#page-meta').textContent));
    await page.waitForSelector('#lb-records td.empty');
    const board = await server.http('GET', '/v1/admin/leaderboards/season_wins', undefined, admin());
    assert.equal(board.json.leaderboard.period, 2);
    assert.deepEqual(errors, []);
  });
});
