// The complete example of README.md runs as written (against a real server, with a second
// player in the test so that the arena match can form and finish).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer, player, until } from './helpers.js';

const README = new URL('../README.md', import.meta.url);

describe('README', () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('the complete example runs', async () => {
    const code = /```js\n(import WebSocket[\s\S]*?)```/.exec(readFileSync(README, 'utf8'))[1];
    assert.match(code, /http:\/\/127\.0\.0\.1:7350/);
    // Inside the package, so that 'moonbase-client' (self-reference) and 'ws' resolve.
    const file = fileURLToPath(new URL(`./.readme-example-${process.pid}.mjs`, import.meta.url));
    writeFileSync(file, code.replace('http://127.0.0.1:7350', server.baseUrl).replace('device-3f0c9a1e', `device-readme-${process.pid}`));
    try {
      const run = new Promise((resolve) => {
        execFile(process.execPath, [file], { timeout: 60000 }, (err, stdout, stderr) => resolve({ err, stdout, stderr }));
      });
      // The other player: matched with the example, says hello, then leaves (the example wins).
      const other = await player(server);
      const matched = other.socket.next('matchmaker.matched', { timeoutMs: 30000 });
      await other.socket.addTicket('arena', { skill: 1000, region: 'local' });
      const { match_id } = await matched;
      await other.socket.joinMatch(match_id);
      await other.socket.joinChat(`match:${match_id}`);
      // the example is in the chat channel once its 'gl hf!' is stored
      await until(async () => (await other.client.chatHistory(`match:${match_id}`)).messages.some((m) => m.content === 'gl hf!'),
        { timeoutMs: 30000, everyMs: 100, what: "the example's 'gl hf!'" });
      // the server queued the hello for the example before this reply, so before the match.finished below
      await other.socket.sendChat(`match:${match_id}`, 'hello from the other one');
      await other.socket.leaveMatch();
      const { err, stdout, stderr } = await run;
      assert.equal(err, null, `${stderr}\n${stdout}`);
      assert.match(stdout, /signed in as nova/);
      assert.match(stdout, /go!/);
      assert.match(stdout, /script says round/);
      assert.match(stdout, /gl hf!/);
      assert.match(stdout, /hello from the other one/);
      assert.match(stdout, /result .*last_standing/s);
      assert.match(stdout, /\d+ earlier chat lines/);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
