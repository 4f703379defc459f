#!/usr/bin/env bash
# `make cluster` / tools/cluster.sh [N]: a local Moonbase cluster (docs/CLUSTER.md): a private
# redis-server, the private PostgreSQL of `make run` (.moonbase/pg, or MOONBASE_DATABASE_URL),
# and N nodes (default 3) on consecutive ports from MOONBASE_PORT (default 7350), named node1..N.
# Prints every URL; Ctrl-C stops the nodes, Redis and (if this script started it) PostgreSQL.
#
# The nodes share the data folder (.moonbase: the development JWT key and admin token) and the
# scripts; the first node starts alone (it creates the development keys and applies the
# migrations), the others after it answers. Redis runs as the current user on a free port from
# 6390 up (MOONBASE_REDIS_PORT to fix it), in memory only (--save '' --appendonly no).
# Extra arguments go to every node: tools/cluster.sh 3 --log-level debug
#
# Environment: as tools/run.sh (MOONBASE_DATABASE_URL, MOONBASE_PG_DIR, MOONBASE_PORT,
#   MOONBASE_BUILD_DIR, MOONBASE_BIN, MOONBASE_SKIP_DEPS, MOONBASE_DATA_DIR), MOONBASE_REDIS_PORT.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'cluster: %s\n' "$*" >&2; }
die() { printf 'cluster: %s\n' "$*" >&2; exit 1; }
port_taken() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

n=3
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then n=$1; shift; fi
((n >= 1 && n <= 32)) || die "N must be 1..32 (got $n)"
base_port=${MOONBASE_PORT:-7350}
for ((i = 0; i < n; i++)); do
  port_taken 127.0.0.1 $((base_port + i)) && die "port $((base_port + i)) is in use: choose another base with MOONBASE_PORT=N"
done

[[ ${MOONBASE_SKIP_DEPS:-0} == 1 ]] || tools/install-deps.sh
command -v redis-server >/dev/null || die "redis-server is missing (apt-get install redis-server; tools/install-deps.sh does it)"
if [[ -n ${MOONBASE_BIN:-} ]]; then
  BIN=$MOONBASE_BIN
else
  env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS MOONBASE_BUILD_TARGET=moonbase MOONBASE_BUILD_QUIET=1 \
    tools/build.sh default "${MOONBASE_BUILD_DIR:-build}"
  BIN=${MOONBASE_BUILD_DIR:-build}/moonbase
fi
[[ $BIN == /* ]] || BIN=$ROOT/$BIN

PGDIR="" REDIS_PID="" PIDS=() STOPPING=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "node pid $pid did not stop in 15 s: killing it"; kill -KILL "$pid" 2>/dev/null || true; }
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $REDIS_PID ]]; then kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  [[ -n $PGDIR ]] && { tools/pg.sh stop "$PGDIR" || true; }
  [[ -n $STOPPING ]] && say "stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'STOPPING=INT; exit 0' INT
trap 'STOPPING=TERM; exit 0' TERM

# PostgreSQL: as make run does
if [[ -z ${MOONBASE_DATABASE_URL:-} ]]; then
  dir=${MOONBASE_PG_DIR:-$ROOT/.moonbase/pg}
  if tools/pg.sh status "$dir" >/dev/null 2>&1; then
    say "PostgreSQL in $dir is already running: using it (and leaving it running)"
  else
    mkdir -p "$(dirname "$dir")"
    p=${MOONBASE_PG_PORT:-}
    if [[ -z $p ]]; then
      p=$(cat "$dir/port" 2>/dev/null || echo 5433)
      while port_taken 127.0.0.1 "$p"; do p=$((p + 1)); done
    fi
    PGDIR=$dir
    tools/pg.sh start "$dir" "$p" || die "PostgreSQL did not start on port $p"
  fi
  MOONBASE_DATABASE_URL=$(tools/pg.sh url "$dir")
  export MOONBASE_DATABASE_URL
fi

# Redis: private, in memory
rport=${MOONBASE_REDIS_PORT:-6390}
if [[ -z ${MOONBASE_REDIS_PORT:-} ]]; then while port_taken 127.0.0.1 "$rport"; do rport=$((rport + 1)); done; fi
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
  --loglevel warning --dir "${TMPDIR:-/tmp}" &
REDIS_PID=$!
for _ in $(seq 1 100); do port_taken 127.0.0.1 "$rport" && break; sleep 0.05; done
port_taken 127.0.0.1 "$rport" || die "redis-server did not start on 127.0.0.1:$rport"
REDIS_URL=redis://127.0.0.1:$rport
say "Redis on $REDIS_URL (pid $REDIS_PID)"

data_dir=${MOONBASE_DATA_DIR:-$ROOT/.moonbase}
for ((i = 1; i <= n; i++)); do
  port=$((base_port + i - 1))
  "$BIN" --host 127.0.0.1 --port "$port" --scripts "$ROOT/scripts" --data-dir "$data_dir" \
    --mode "${MOONBASE_MODE:-development}" --redis-url "$REDIS_URL" --node-id "node$i" "$@" &
  PIDS+=($!)
  # the first node alone: development keys and migrations; each one up before the next
  for _ in $(seq 1 300); do
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "node$i exited (its log is above)"
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && break
    sleep 0.1
  done
done
say "$n nodes up:"
for ((i = 1; i <= n; i++)); do
  port=$((base_port + i - 1))
  say "  node$i  http://127.0.0.1:$port  (console /console, demo /demo, WebSocket ws://127.0.0.1:$port/ws)"
done
if [[ -n ${MOONBASE_ADMIN_TOKEN:-} ]]; then token="the value of MOONBASE_ADMIN_TOKEN"; else token=$data_dir/dev-admin-token; fi
say "admin token: $token; nodes: curl -H \"Authorization: Bearer \$(cat $token)\" http://127.0.0.1:$base_port/v1/cluster"
say "Ctrl-C stops everything"
set +e
wait -n "${PIDS[@]}"
rc=$?
[[ -z $STOPPING ]] && say "a node exited with status $rc: stopping the others"
exit "$rc"
