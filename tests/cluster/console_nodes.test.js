'use strict';
// The console's Nodes page in a real browser (Debian's chromium driven by playwright-core) against
// a two-node cluster: both nodes listed with their url and load, refreshed every 2 s (a session
// opened on node2 shows up, node2 stopping drops its row). Screenshot in build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');
const ch = require('./cluster_harness');

const browser = require('../browser/browser');
const { SHOTS, skip } = browser;

describe('browser: console Nodes page', { skip }, () => {
  let c, ctx, page, dir;
  const errors = [];
  before(async () => {
    c = await ch.startCluster(2, { args: ['--static', h.REPO_ROOT] });
    await c.waitMembers(['node1', 'node2']);
    ({ ctx, page, dir } = await browser.launch({ tag: 'nodes', errors }));
  });
  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    for (const n of c.nodes) if (n.running) await n.stop();
  });

  it('lists the nodes with url and load, and follows changes', async () => {
    const [n1, n2] = c.nodes;
    await page.goto(`${n1.baseUrl}/console/#/nodes`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', c.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    await page.waitForSelector('tr[data-key="node2"]');
    const row1 = await page.textContent('tr[data-key="node1"]');
    assert.match(row1, /node1 \(this one\)/);
    assert.ok(row1.includes(n1.baseUrl), row1);
    assert.ok((await page.textContent('tr[data-key="node2"]')).includes(n2.baseUrl));
    assert.match(await page.textContent('#page'), /Redis ok/);
    // a session on node2 shows up in its row (heartbeat 1 s + page refresh 2 s)
    const p = await h.authed(n2, { device_id: 'cl-console-p' });
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('tr[data-key="node2"] td');
      return cells.length > 2 && cells[2].textContent.trim() === '1';
    });
    await page.screenshot({ path: path.join(SHOTS, 'console-nodes.png') });
    await p.ws.close();
    await n2.stop();
    await page.waitForSelector('tr[data-key="node2"]', { state: 'detached' });
    assert.deepEqual(errors, []);
  });
});
