'use strict';
// The console's Matchmaker page in a real browser (Debian's chromium driven by playwright-core)
// against a two-node cluster: a ticket added on node2 shows in node1's page as the cluster's pool,
// with the pass owner, pass time and matched/s columns (docs/CLUSTER.md "Matchmaker").
// Screenshot in build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

const browser = require('../browser/browser');
const { SHOTS, skip } = browser;
const scripts = h.scriptsDir(['mm4']);

describe('browser: console Matchmaker page in a cluster', { skip }, () => {
  let c, ctx, page, dir;
  const errors = [];
  before(async () => {
    c = await ch.startCluster(2, { scripts, args: ['--static', h.REPO_ROOT] });
    await c.waitMembers(['node1', 'node2']);
    ({ ctx, page, dir } = await browser.launch({ tag: 'mm', errors }));
  });
  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    for (const n of c.nodes) if (n.running) await n.stop();
    fs.rmSync(scripts, { recursive: true, force: true });
  });

  it('shows the cluster pool and its pass owner on any node', async () => {
    const [n1, n2] = c.nodes;
    const p = await h.authed(n2, { device_id: 'cl-console-mm' });
    await p.ws.ok('matchmaker.add', { mode: 'mm4', properties: { skill: 1200, region: 'console' } });
    await page.goto(`${n1.baseUrl}/console/#/matchmaker`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', c.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    await page.waitForSelector('tr[data-key="mm4"]');
    const head = await page.textContent('#page table thead');
    for (const col of ['Pass owner', 'Pass time', 'Matched/s']) assert.ok(head.includes(col), head);
    // the lease is taken within a second or two: the row names the owner
    await page.waitForFunction(() => /node[12]/.test(document.querySelector('tr[data-key="mm4"]').textContent));
    const cells = await page.$$eval('tr[data-key="mm4"] td', (tds) => tds.map((td) => td.textContent.trim()));
    assert.equal(cells[1], '1', JSON.stringify(cells)); // the ticket added on node2, seen from node1
    assert.match(await page.textContent('#page-meta'), /1 waiting ticket in the cluster/);
    await page.screenshot({ path: path.join(SHOTS, 'console-matchmaker-cluster.png') });
    await p.ws.close();
    await page.waitForFunction(() => document.querySelector('tr[data-key="mm4"] td:nth-child(2)').textContent.trim() === '0');
    assert.deepEqual(errors, []);
  });
});
