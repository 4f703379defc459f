'use strict';
// The console's Chat page in a real browser (Debian's chromium driven by playwright-core): two
// players (harness sockets) chat in a room and in their match channel; the console lists both live
// channels (refreshing every 2 s), and clicking one shows its recent messages with the sender's
// username — content rendered as text, never as HTML. Screenshots go to build/screenshots/.
const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const h = require('../integration/harness');

const browser = require('./browser');
const { SHOTS, skip } = browser;
const bearer = (p) => ({ authorization: `Bearer ${p.token}` });

describe('browser: console chat page', { skip }, () => {
  let server, ctx, page, dir;
  const errors = [];
  const shot = (file) => page.screenshot({ path: path.join(SHOTS, file) });

  before(async () => {
    server = await h.startServer({ args: ['--static', h.REPO_ROOT, '--auth-rate', '1000'] });
    ({ ctx, page, dir } = await browser.launch({ tag: 'chat', errors, dialogs: true }));
  });

  after(async () => {
    if (ctx) await ctx.close().catch(() => {});
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (server) await server.stop();
  });

  it('lists live channels and shows a channel\'s recent messages (usernames, content as text)', async () => {
    const a = await h.authed(server);
    const b = await h.authed(server);
    const room = `lobby-${crypto.randomBytes(3).toString('hex')}`;
    await a.ws.ok('chat.join', { channel_id: room });
    await b.ws.ok('chat.join', { channel_id: room });
    const evil = '<img src=x onerror="alert(1)"><b>bold?</b>';
    await a.ws.ok('chat.send', { channel_id: room, content: 'hello from alice' });
    await b.ws.ok('chat.send', { channel_id: room, content: evil });
    const created = await server.http('POST', '/v1/matches', { mode: 'tictactoe' }, bearer(a));
    assert.equal(created.status, 201, created.text);
    const mch = `match:${created.json.match_id}`;
    await a.ws.ok('match.join', { match_id: created.json.match_id });
    await b.ws.ok('match.join', { match_id: created.json.match_id });
    await a.ws.ok('chat.join', { channel_id: mch });
    await b.ws.ok('chat.join', { channel_id: mch });
    await a.ws.ok('chat.send', { channel_id: mch, content: 'gl hf' });

    await page.goto(`${server.baseUrl}/console/#/chat`);
    await page.waitForSelector('#signin:not(.hidden)');
    await page.fill('#token', server.adminToken);
    await page.click('#signin-form button');
    await page.waitForSelector('#shell:not(.hidden)');
    assert.equal(await page.textContent('#page-title'), 'Chat');
    assert.equal(await page.locator('#chat-unavailable').count(), 0);

    const roomRow = page.locator(`#chat-channels tbody tr[data-key="${room}"]`);
    await roomRow.waitFor();
    assert.match(await roomRow.textContent(), /room/);
    assert.match(await roomRow.textContent(), /2/);
    const matchRow = page.locator(`#chat-channels tbody tr[data-key="${mch}"]`);
    await matchRow.waitFor();
    assert.match(await matchRow.textContent(), /match/);

    // a channel that appears later shows up by itself (auto-refresh)
    const late = `late-${crypto.randomBytes(3).toString('hex')}`;
    await a.ws.ok('chat.join', { channel_id: late });
    await page.locator(`#chat-channels tbody tr[data-key="${late}"]`).waitFor({ timeout: 6000 });

    await roomRow.click();
    await page.waitForSelector('#chat-messages .chat-log li');
    await page.waitForFunction(() => document.querySelectorAll('#chat-messages .chat-log li').length === 2);
    const lines = await page.$$eval('#chat-messages .chat-log li', (lis) =>
      lis.map((li) => ({ who: li.querySelector('.who').textContent, text: li.querySelector('.text').textContent, html: li.querySelector('.text').innerHTML, time: li.querySelector('time').textContent }))
    );
    // newest first: bob's line, then alice's
    assert.equal(lines[0].who, b.username);
    assert.equal(lines[0].text, evil, 'the content is shown verbatim');
    assert.ok(!/<img/i.test(lines[0].html), `rendered as text: ${lines[0].html}`);
    assert.equal(await page.locator('#chat-messages img, #chat-messages .text b').count(), 0, 'no element made from content');
    assert.equal(lines[1].who, a.username);
    assert.equal(lines[1].text, 'hello from alice');
    for (const l of lines) assert.match(l.time, /\d\d:\d\d:\d\d/);
    assert.match(page.url(), new RegExp(`#/chat/${room}$`));
    assert.ok(await page.locator(`#chat-channels tbody tr.selected[data-key="${room}"]`).count());
    // a new message appears without a reload
    await a.ws.ok('chat.send', { channel_id: room, content: 'still there?' });
    await page.waitForFunction(() => document.querySelector('#chat-messages .chat-log li .text').textContent === 'still there?', null, { timeout: 6000 });
    await shot('console-chat.png');

    await matchRow.click();
    await page.waitForFunction((ch) => document.querySelector('#chat-messages h3 code')?.textContent === ch, mch);
    await page.waitForSelector('#chat-messages .chat-log li');
    assert.equal(await page.textContent('#chat-messages .chat-log li .text'), 'gl hf');
    assert.equal(await page.textContent('#chat-messages .chat-log li .who'), a.username);
    await shot('console-chat-match.png');
    assert.deepEqual(errors, []);
    for (const p of [a, b]) await p.ws.close();
  });
});
