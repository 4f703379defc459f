'use strict';
// First-contact papercuts that live in text (no Docker engine on the test machines, so the
// Dockerfile is checked as text): the Dockerfile needs no BuildKit front-end, the admin token's
// path given for compose is where the image keeps its state, podman users are told to build
// with --format docker; README and docs/DEVELOPING.md say the same true thing about `make` on a
// bare Debian 12 (and .ci/run does it); the license is Apache-2.0 everywhere it is declared.
const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { REPO_ROOT } = require('./harness');

const read = (f) => fs.readFileSync(path.join(REPO_ROOT, f), 'utf8');

describe('first contact (text)', () => {
  it('Dockerfile: no "# syntax=" line; HEALTHCHECK kept; the compose admin token path is the image\'s data dir', () => {
    const df = read('Dockerfile');
    assert.doesNotMatch(df, /^#\s*syntax\s*=/m);
    assert.match(df, /^HEALTHCHECK /m);
    const dataDir = /^ENV MOONBASE_DATA_DIR=(\S+)$/m.exec(df)[1];
    const cmd = `docker compose exec moonbase cat ${dataDir}/dev-admin-token`;
    for (const f of ['README.md', 'docker-compose.yml', 'docs/DEVELOPING.md']) assert.ok(read(f).includes(cmd), `${f} shows: ${cmd}`);
    assert.match(read('docker-compose.yml'), /^ {2}moonbase:$/m, 'the compose service is called moonbase');
    for (const f of ['README.md', 'docs/DEVELOPING.md', 'Dockerfile']) assert.match(read(f), /podman build --format docker/, f);
  });

  it('a bare Debian 12 has no make: README and DEVELOPING.md both say to install it first, and .ci/run does', () => {
    for (const f of ['README.md', 'docs/DEVELOPING.md']) {
      const t = read(f).replace(/\s+/g, ' ');
      assert.match(t, /bare Debian 12 has no `make`/, f);
      assert.match(t, /apt-get install (-y )?make/, f);
      assert.match(t, /tools\/install-deps\.sh/, f);
    }
    assert.match(read('.ci/run'), /command -v make .*\|\| tools\/install-deps\.sh/);
    assert.match(read('tools/install-deps.sh'), /build-essential/, 'install-deps brings make (build-essential)');
  });

  it('license: Apache-2.0 in LICENSE, NOTICE, both package.json files and the SDK sources', () => {
    const lic = read('LICENSE');
    assert.match(lic, /^\s*Apache License\s+Version 2\.0, January 2004/);
    assert.equal(read('sdk/js/LICENSE'), lic, 'the SDK package carries the same text');
    assert.match(read('NOTICE'), /Apache License, Version 2\.0/);
    for (const f of ['package.json', 'sdk/js/package.json']) assert.equal(JSON.parse(read(f)).license, 'Apache-2.0', f);
    assert.ok(JSON.parse(read('sdk/js/package.json')).files.includes('LICENSE'));
    for (const f of ['sdk/js/src/moonbase-client.js', 'sdk/js/index.d.ts']) assert.match(read(f), /^\/\/ SPDX-License-Identifier: Apache-2\.0\n/, f);
    assert.match(read('README.md'), /## License\n\nMoonbase is open source under the \[Apache License 2\.0\]\(LICENSE\)/);
  });
});
