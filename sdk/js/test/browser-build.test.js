// The browser gets the SDK source itself: the server serves sdk/js/src at /sdk, and the demo and
// the console import /sdk/moonbase-client.js (no copies to keep in step).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as sdk from '../src/moonbase-client.js';
import { h, startServer } from './helpers.js';

describe('browser build', () => {
  it('the server serves the SDK source byte for byte at /sdk/moonbase-client.js, and the pages import it', async () => {
    const server = await startServer({ args: ['--static', h.REPO_ROOT] });
    after(() => server.stop());
    const res = await server.http('GET', '/sdk/moonbase-client.js');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /javascript/);
    assert.equal(res.text, readFileSync(new URL('../src/moonbase-client.js', import.meta.url), 'utf8'));
    for (const page of ['demo/game.js', 'console/app.js'])
      assert.match(readFileSync(join(h.REPO_ROOT, page), 'utf8'), /from '\/sdk\/moonbase-client\.js'/, page);
  });

  it('the module has no imports (it runs in a browser as is)', () => {
    const src = readFileSync(new URL('../src/moonbase-client.js', import.meta.url), 'utf8');
    assert.doesNotMatch(src, /^\s*import\s/m);
    assert.doesNotMatch(src, /\brequire\(/);
  });

  it('index.d.ts declares every export', () => {
    const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
    for (const name of Object.keys(sdk)) assert.match(dts, new RegExp(`export declare (const|class) ${name}\\b`), name);
  });

  it('package.json names the package and its entry points', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    assert.equal(pkg.name, 'moonbase-client');
    assert.equal(pkg.type, 'module');
    assert.equal(pkg.types, './index.d.ts');
    assert.deepEqual(pkg.dependencies, undefined, 'no runtime dependencies');
  });
});
