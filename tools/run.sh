#!/usr/bin/env bash
# `make run`: install what is missing, build, and serve on 127.0.0.1:7350 with ./scripts.
#
# Without MOONBASE_DATABASE_URL it starts a private PostgreSQL cluster under .moonbase/pg
# (created on first run, reused after; port 5433) and points the server at it. Ctrl-C stops
# the server and, if this script started it, the cluster. Extra arguments go to the server:
#   tools/run.sh --log-level debug        (make run ARGS="--log-level debug")
#
# Environment: MOONBASE_DATABASE_URL (use this database, start no cluster),
#   MOONBASE_PG_DIR (cluster folder, default .moonbase/pg), MOONBASE_PG_PORT (default 5433),
#   MOONBASE_HOST / MOONBASE_PORT (default 127.0.0.1 / 7350), MOONBASE_BUILD_DIR (default build),
#   MOONBASE_BIN (run this binary instead of building one).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'run: %s\n' "$*" >&2; }

tools/install-deps.sh
if [[ -n ${MOONBASE_BIN:-} ]]; then
  BIN=$MOONBASE_BIN     # a binary built elsewhere: no build
else
  tools/build.sh default "${MOONBASE_BUILD_DIR:-build}"
  BIN=${MOONBASE_BUILD_DIR:-build}/moonbase
fi
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
[[ -x $BIN ]] || { say "no server binary at $BIN after the build"; exit 1; }

PGDIR=""          # set when this script started the cluster, so that it stops it
SERVER_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    # Ctrl-C reached the server too (same process group): give it a moment to stop by itself.
    if ((INTERRUPTED)); then
      for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      say "server did not stop within 15 s: killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $PGDIR ]]; then
    tools/pg.sh stop "$PGDIR" || true
  fi
  exit "$rc"
}
trap cleanup EXIT
INTERRUPTED=0
trap 'INTERRUPTED=1; exit 130' INT
trap 'exit 143' TERM

if [[ -z ${MOONBASE_DATABASE_URL:-} ]]; then
  dir=${MOONBASE_PG_DIR:-$ROOT/.moonbase/pg}
  if tools/pg.sh status "$dir" >/dev/null 2>&1; then
    say "PostgreSQL in $dir is already running: using it (and leaving it running)"
  else
    mkdir -p "$(dirname "$dir")"
    tools/pg.sh start "$dir" "${MOONBASE_PG_PORT:-5433}"
    PGDIR=$dir
  fi
  MOONBASE_DATABASE_URL=$(tools/pg.sh url "$dir")
  export MOONBASE_DATABASE_URL
fi

host=${MOONBASE_HOST:-127.0.0.1}
port=${MOONBASE_PORT:-7350}
say "serving on http://$host:$port (WebSocket ws://$host:$port/ws), database $MOONBASE_DATABASE_URL"
say "Ctrl-C stops the server${PGDIR:+ and the PostgreSQL cluster}"
# In the background so that the traps run at once on Ctrl-C / SIGTERM; the server gets
# SIGTERM from cleanup (and SIGINT from the terminal) and shuts down cleanly.
"$BIN" --host "$host" --port "$port" --scripts "$ROOT/scripts" --data-dir "$ROOT/.moonbase" \
  --mode "${MOONBASE_MODE:-development}" "$@" &
SERVER_PID=$!
set +e
wait "$SERVER_PID"
rc=$?
SERVER_PID=""
exit "$rc"
