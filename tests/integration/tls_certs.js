'use strict';
const https = require('node:https');
// Test certificates made with the openssl CLI (Debian package `openssl`) in a temporary folder:
// a CA and server certificates it signs, for 127.0.0.1, ::1 and localhost. Used by tls.test.js
// and nginx.test.js. Nothing here is a test; the folder is removed when the process exits.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const dirs = [];
process.on('exit', () => {
  if (process.env.MOONBASE_TEST_KEEP === '1') return;
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const openssl = (args, cwd) => execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** A fresh CA in a new temporary folder: {dir, caFile, ca (PEM text), issue(name, serialHex)}. */
function makeCa() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'moonbase-tls-'));
  dirs.push(dir);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Moonbase Test CA'], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  return {
    dir,
    caFile: path.join(dir, 'ca.pem'),
    ca: fs.readFileSync(path.join(dir, 'ca.pem')),
    /** A server certificate with this serial (hex): {cert, key} paths. */
    issue(name, serialHex) {
      openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost'], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${serialHex}`,
        '-days', '2', '-extfile', 'ext.cnf', '-out', `${name}.pem`], dir);
      return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
    },
  };
}

/**
 * One HTTPS request to 127.0.0.1 (or host) that trusts `ca`, with SNI localhost:
 * {status, headers, text, json (or undefined), serial (the server certificate's serial)}.
 */
function httpsRequest(port, method, urlPath, { ca, body, headers = {}, host = '127.0.0.1' } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = https.request({
      host, port, method, path: urlPath, ca, servername: 'localhost', agent: false,
      headers: { ...headers, ...(data ? { 'content-type': 'application/json', 'content-length': data.length } : {}) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let json;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode, headers: res.headers, text, json, serial: res.socket.getPeerCertificate().serialNumber });
      });
    });
    req.setTimeout(10000, () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

module.exports = { makeCa, httpsRequest };
