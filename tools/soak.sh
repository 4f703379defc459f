#!/usr/bin/env bash
# Soak test: a private PostgreSQL (tools/pg.sh) and a server of our own, mixed bounded load for
# MINUTES (tests/soak/soak.js: matches, chat, matchmaker, auth churn, RPC), and a line every minute
# with the server's RSS, open fds, sessions, errors and latency. Not part of `make test`.
#
#   tools/soak.sh [MINUTES]        default 10
#
# Environment:
#   MOONBASE_BIN      server binary (default build/moonbase; built with tools/build.sh if missing)
#   SOAK_PLAYERS      match players (default 40, in pairs; plus 4 matchmaker players)
#   SOAK_OUT          folder for server.log, postgres.log and summary.json (default build/soak-<time>)
#   SOAK_MINUTE_MS    length of a "minute" (default 60000; shorter for a dry run)
#   SOAK_FLAT_MB      RSS flatness limit in MB (default 1)
#   SOAK_FLAT_WINDOW  minutes at the end of the run judged for flatness (default 40; at most 2/3
#                     of the run, so a shorter run keeps its first third as warm-up)
# Everything it starts (the server by PID, the cluster with tools/pg.sh on its own folder) is
# stopped on exit, also on Ctrl-C. Exit status: that of the load script (1 when the server died,
# more than 1% of operations failed, or RSS was not flat over the window: max - min or slope x
# window above SOAK_FLAT_MB; see "# flatness:" in the output), or 1 when the server did not stop
# cleanly.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MINUTES=${1:-10}
[[ $MINUTES =~ ^[0-9]+$ && $MINUTES -ge 1 ]] || { echo "usage: tools/soak.sh [MINUTES]" >&2; exit 2; }
BIN=${MOONBASE_BIN:-build/moonbase}
OUT=${SOAK_OUT:-$ROOT/build/soak-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
say() { printf 'soak: %s\n' "$*" >&2; }

if [[ ! -x $BIN ]]; then
  say "no server binary at $BIN: building build/"
  tools/build.sh default >/dev/null
  BIN=build/moonbase
fi

PGDIR="" SERVER_PID="" DATA=""
cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then say "server $SERVER_PID ignored SIGTERM: SIGKILL"; kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  fi
  if [[ -n $PGDIR ]]; then
    if [[ -f $PGDIR/postgres.log ]]; then cp "$PGDIR/postgres.log" "$OUT/postgres.log" 2>/dev/null || true; fi
    tools/pg.sh destroy "$PGDIR" >/dev/null 2>&1 || say "could not destroy the cluster in $PGDIR"
  fi
  [[ -n $DATA ]] && rm -rf "$DATA"
  exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# ---- PostgreSQL -------------------------------------------------------------------------------
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-soak-pg.XXXXXX")
chmod 0755 "$PGDIR"
MOONBASE_PG_FAST=1 tools/pg.sh start "$PGDIR" "$(free_port)" >/dev/null
DB_URL=$(tools/pg.sh url "$PGDIR" moonbase)
say "PostgreSQL: $DB_URL ($PGDIR)"

# ---- server -------------------------------------------------------------------------------------
# The soak's players keep the session token of their first login: it must outlive the run (the
# default 900 s made every run longer than 15 minutes fail with 401 "token expired").
DATA=$(mktemp -d "${TMPDIR:-/tmp}/moonbase-soak-data.XXXXXX")
PORT=$(free_port)
"$BIN" --host 127.0.0.1 --port "$PORT" --database-url "$DB_URL" --data-dir "$DATA" --scripts scripts \
  --log-level info --auth-rate 1000000 --token-ttl $((MINUTES * 60 + 600)) >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 20 "$OUT/server.log" >&2; say "the server exited at start-up"; exit 1; }
  sleep 0.1
done
say "server: $BIN pid $SERVER_PID on 127.0.0.1:$PORT (log $OUT/server.log)"

# ---- load -----------------------------------------------------------------------------------------
rc=0
node tests/soak/soak.js --port "$PORT" --pid "$SERVER_PID" --minutes "$MINUTES" --players "${SOAK_PLAYERS:-40}" \
  --minute-ms "${SOAK_MINUTE_MS:-60000}" --flat-mb "${SOAK_FLAT_MB:-1}" --flat-window "${SOAK_FLAT_WINDOW:-40}" \
  --json "$OUT/summary.json" || rc=$?

# ---- stop the server: SIGTERM, a clean exit within the shutdown bound ------------------------------
kill -TERM "$SERVER_PID" 2>/dev/null || true
code=0
wait "$SERVER_PID" || code=$?
SERVER_PID=""
say "server exit code $code"
(( code == 0 )) || rc=1
if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$OUT/server.log"; then say "sanitizer report in $OUT/server.log"; rc=1; fi
say "logs and summary.json in $OUT"
exit "$rc"
