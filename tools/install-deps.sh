#!/usr/bin/env bash
# Install what building and testing Moonbase needs on Debian 12 (bookworm).
#
# Idempotent and quick when nothing is missing: one dpkg-query call, no `apt-get update`.
#   - apt packages: installed only when missing (as root); when not root it prints the
#     apt-get command to run and exits 1.
#   - Node.js: an existing `node` >= 18 with `npm` is kept as it is (it may come from
#     another source than Debian, whose nodejs package conflicts with Debian's npm);
#     otherwise Debian's nodejs (18) + npm are installed.
#   - npm packages: `npm ci` at the repository root when node_modules is missing or
#     package.json / package-lock.json is newer than the last install.
#
# Used unchanged by `make run`, `make test` (and so .ci/run) and the Dockerfile's build stage.
#
# Environment:
#   MOONBASE_SKIP_DEPS=1   do nothing (for machines set up by other means)
#   MOONBASE_SKIP_NPM=1    skip the npm step
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf 'install-deps: %s\n' "$*" >&2; }

if [[ ${MOONBASE_SKIP_DEPS:-0} == 1 ]]; then
  log "MOONBASE_SKIP_DEPS=1: skipping"
  exit 0
fi

# Everything `make run` and `make test` use. Runtime-only libraries (libwebsockets17,
# libev4, ...) come in as dependencies of the -dev packages.
PACKAGES=(
  build-essential cmake pkg-config
  clang libclang-rt-14-dev clang-format      # fuzz targets (libFuzzer), make format
  cppcheck                                   # make lint (tools/lint.sh)
  libwebsockets-dev libwebsockets-evlib-ev libev-dev libluajit2-5.1-dev lua-cjson lua-cjson-dev
  libjansson-dev libyajl-dev libsodium-dev libpq-dev libcmocka-dev
  libssl-dev openssl                         # TLS certificates (runtime/transport.c); test CAs (tls.test.js)
  nginx                                      # nginx.test.js runs deploy/nginx/moonbase.conf
  libhiredis-dev redis-server                # cluster mode (runtime/redis.c); tests/cluster, make cluster
  libwslay-dev                               # the load generator's WebSocket frames (tests/bench/loadgen)
  liburing-dev                               # the load generator's io_uring receive path (tests/bench/loadgen/uring.c)
  postgresql postgresql-contrib
  valgrind
  chromium                                   # browser tests (playwright-core drives it)
  curl ca-certificates procps
)

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || return 1
  [[ $major =~ ^[0-9]+$ ]] && (( major >= 18 ))
}
if ! node_ok; then
  PACKAGES+=(nodejs npm)
fi

# Which of PACKAGES are not installed? (one dpkg-query call; unknown packages print nothing)
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${PACKAGES[@]}" 2>/dev/null \
  | awk '$2 == "ii" { print $1 }' | sed 's/:.*//' || true)
missing=()
for p in "${PACKAGES[@]}"; do
  grep -qxF "$p" <<<"$installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then
    log "missing packages: ${missing[*]}"
    log "run as root:  apt-get update && DEBIAN_FRONTEND=noninteractive $cmd"
    exit 1
  fi
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  node_ok || { log "node >= 18 with npm is still missing after apt-get"; exit 1; }
else
  log "apt packages: all present"
fi

# npm packages from the lockfile.
if [[ ${MOONBASE_SKIP_NPM:-0} == 1 ]]; then
  log "MOONBASE_SKIP_NPM=1: skipping npm ci"
elif [[ -f $ROOT/package-lock.json ]]; then
  stamp=$ROOT/node_modules/.package-lock.json   # written by npm on every install
  if [[ ! -f $stamp || $ROOT/package-lock.json -nt $stamp || $ROOT/package.json -nt $stamp ]]; then
    log "npm ci ($(node --version), npm $(npm --version))"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$stamp"
  else
    log "node_modules: up to date"
  fi
fi
