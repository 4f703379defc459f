// The browser copies of the SDK (demo/moonbase-client.js, console/moonbase-client.js) must be
// byte for byte what `npm run build` in sdk/js makes from src/moonbase-client.js.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { TARGETS, REPO_ROOT, browserBuild, staleTargets } from '../scripts/build-browser.mjs';
import * as sdk from '../src/moonbase-client.js';

describe('browser build', () => {
  it('demo/ and console/ hold the current SDK (run `npm run build` in sdk/js when this fails)', () => {
    const stale = staleTargets().map((t) => relative(REPO_ROOT, t));
    assert.deepEqual(stale, [], `stale browser copies: ${stale.join(', ')}`);
    const want = browserBuild();
    for (const t of TARGETS) assert.ok(readFileSync(t).equals(want));
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
