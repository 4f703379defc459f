'use strict';
// The console's Accounts page in a real browser (Debian's chromium driven by playwright-core):
// search finds an offline account (not only online players), the detail view edits its display
// name, bans it (its sign-in is then refused 403 account_banned and its open socket closed with
// 4003) and unbans it (sign-in works again). Screenshots go to build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');

const browser = require('./browser');
const { SHOTS, skip } = browser;

describe('browser: console accounts page', { skip }, () => {
  let server, ctx, page, dir;
  const errors = [];
  const shot = (file) => page.screenshot({ path: path.join(SHOTS, file) });

  before(async () => {
    server = await h.startServer({ args: ['--static', h.REPO_ROOT, '--auth-rate', '1000'] });
    ({ ctx, page, dir } = await browser.launch({ tag: 'accounts', errors, viewport: { width: 1280, height: 900 }, dialogs: true }));
  });

  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  });

  it('searches an offline account, edits its display name, bans it (sign-in refused, socket closed), unbans it', async () => {
    const tag = crypto.randomBytes(3).toString('hex');
    // the target: signed in once, then offline
    const offlineDev = `dev-offline-${tag}`;
    const offline = await h.authed(server, { device_id: offlineDev, username: `olga_${tag}` });
    await offline.ws.close();
    // a second account of the same prefix, online, that the ban must not touch
    const bystander = await h.authed(server, { username: `olgb_${tag}` });
    // the target's open socket for the ban: sign in again on a new socket
    const again = await server.http('POST', '/v1/auth/device', { device_id: offlineDev });
    assert.equal(again.status, 200, again.text);

    await page.goto(`${server.baseUrl}/console/#/accounts`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', server.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    assert.equal(await page.textContent('#page-title'), 'Accounts');

    // search: the offline account is found, shown offline
    await page.fill('#acct-q', `olga_${tag}`);
    await page.click('#acct-search');
    const row = page.locator(`#acct-results tbody tr[data-key="${offline.player_id}"]`);
    await row.waitFor();
    // the page lists every account before the search answers: wait for the filtered list
    await page.waitForFunction(() => document.querySelectorAll('#acct-results tbody tr').length === 1, null, { timeout: 5000 });
    assert.equal(await page.locator('#acct-results tbody tr').count(), 1);
    assert.match(await row.textContent(), /offline/);
    await shot('console-accounts-search.png');

    // detail: edit the display name
    await row.click();
    await page.waitForSelector('#acct-title');
    assert.match(page.url(), new RegExp(`#/accounts/${offline.player_id}$`));
    assert.match(await page.textContent('#acct-title'), new RegExp(`olga_${tag}`));
    await page.fill('#acct-display-name', 'Olga the Brave');
    await page.fill('#acct-metadata', '{"level": 7}');
    await page.click('#acct-save');
    await page.waitForFunction(() => document.querySelector('#acct-dn')?.textContent === 'Olga the Brave');
    const acct = await server.http('GET', '/v1/account', undefined, { authorization: `Bearer ${again.json.token}` });
    assert.equal(acct.json.display_name, 'Olga the Brave');
    assert.deepEqual(acct.json.metadata, { level: 7 });

    // open a socket of the account now, so the page shows it and the ban must close it
    const sock = await server.ws();
    assert.equal((await sock.request('session.connect', { token: again.json.token })).type, 'session.connected');
    await page.waitForFunction(() => /Sockets \(1\)/.test(document.querySelector('#acct-sessions')?.textContent || ''), null, { timeout: 8000 });

    // ban (two clicks: arm, confirm)
    await page.fill('#acct-ban-reason', 'griefing');
    await page.click('#acct-ban');
    await page.click('#acct-ban');
    await page.waitForFunction(() => /griefing/.test(document.querySelector('#acct-banned')?.textContent || ''));
    assert.match(await page.textContent('#acct-title'), /banned/);
    assert.deepEqual(await sock.waitClosed(5000), { code: 4003, reason: 'account banned' });
    const refused = await server.http('POST', '/v1/auth/device', { device_id: offlineDev });
    assert.equal(refused.status, 403, refused.text);
    assert.equal(refused.json.error.code, 'account_banned');
    assert.equal(refused.json.error.message, 'account banned: griefing');
    assert.ok(bystander.ws.isOpen, 'the other account keeps its socket');
    await shot('console-accounts-banned.png');

    // the banned filter lists it
    await page.click('a[href="#/accounts"]');
    await page.selectOption('#acct-filter', 'true');
    await page.fill('#acct-q', `olg`);
    await page.click('#acct-search');
    await page.locator(`#acct-results tbody tr[data-key="${offline.player_id}"]`).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#acct-results tbody tr').length === 1);

    // unban
    await page.click(`#acct-results tbody tr[data-key="${offline.player_id}"]`);
    await page.click('#acct-unban');
    await page.waitForFunction(() => document.querySelector('#acct-banned')?.textContent === 'no');
    const back = await server.http('POST', '/v1/auth/device', { device_id: offlineDev });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.player_id, offline.player_id);
    await shot('console-accounts-unbanned.png');

    assert.deepEqual(errors, []);
    await bystander.ws.close();
  });
});
