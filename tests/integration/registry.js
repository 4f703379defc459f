'use strict';
// The server's registry as `moonbase describe` prints it (message types with their fields, REST
// routes with auth and body fields, error codes): tests ask the binary what it serves instead of
// reading the C sources, so they follow every new type or route as soon as it is registered.
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
let cached = null;

/** The parsed `moonbase describe` document of MOONBASE_BIN (default build/moonbase). */
function describeRegistry() {
  if (cached) return cached;
  const bin = path.resolve(REPO_ROOT, process.env.MOONBASE_BIN || path.join('build', 'moonbase'));
  cached = JSON.parse(execFileSync(bin, ['describe'], { encoding: 'utf8', timeout: 30000 }));
  return cached;
}

// describe's field type names -> the MB_F_* suffixes the attack tables use
const TYPE_NAMES = { string: 'STRING', integer: 'INTEGER', number: 'NUMBER', boolean: 'BOOL', object: 'OBJECT',
  array: 'ARRAY', 'string|array': 'STRING_OR_ARRAY', any: 'ANY' };
const field = (f) => ({ name: f.name, type: TYPE_NAMES[f.type], required: f.required, min: f.min || 0, max: f.max || 0, format: f.format });

/** Map type -> {fields: [{name, type: 'STRING'..., required, min, max}], beforeAuth, module}. */
function messageTypes() {
  return new Map(describeRegistry().messages.map((m) => [m.type, { fields: m.fields.map(field), beforeAuth: m.before_auth, module: m.module }]));
}

/** [{method, path, auth: 'none'|'bearer'|'admin', module, body: null | {required, closed, fields}, query: null | fields}] */
function routes() {
  return describeRegistry().routes.map((r) => ({ ...r, body: r.body && { ...r.body, fields: r.body.fields.map(field) }, query: r.query && r.query.map(field) }));
}

module.exports = { describeRegistry, messageTypes, routes, TYPE_NAMES };
