#!/usr/bin/env bash
# `make run`: install what is missing, build the server (only the `moonbase` target), and serve on
# 127.0.0.1:7350 with ./scripts. Prints where the demo and the console are once the server
# answers, and the file that holds the development admin token.
#
# Without MOONBASE_DATABASE_URL it starts a private PostgreSQL cluster under .moonbase/pg
# (created on first run, reused after) and points the server at it. Its port: MOONBASE_PG_PORT
# when set; otherwise the port the cluster used last time (remembered in .moonbase/pg/port) when
# that is still free, else the first free port from 5433 up (so a second checkout's `make run`
# just takes the next one). Ctrl-C stops the server and, if this script started it, the cluster,
# and exits 0. Extra arguments go to the server:
#   tools/run.sh --log-level debug        (make run ARGS="--log-level debug")
#
# Environment: MOONBASE_DATABASE_URL (use this database, start no cluster),
#   MOONBASE_PG_DIR (cluster folder, default .moonbase/pg), MOONBASE_PG_PORT (fixed port),
#   MOONBASE_PG_PORT_FROM (first port tried, default 5433),
#   MOONBASE_HOST / MOONBASE_PORT (default 127.0.0.1 / 7350), MOONBASE_BUILD_DIR (default build),
#   MOONBASE_BIN (run this binary instead of building one), MOONBASE_SKIP_DEPS=1 (no install step),
#   MOONBASE_DATA_DIR (the server's state folder, default .moonbase).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { printf 'run: %s\n' "$*" >&2; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

# Whether HOST:PORT is taken: something accepts connections there (bash's /dev/tcp), or the
# port cannot be bound (a listener, or a client socket holding it as its local port), tried
# with perl-base (always on Debian) the way servers bind (SO_REUSEADDR).
port_taken() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
  [[ $1 == *:* ]] && return 1
  ! perl -MIO::Socket::INET -e \
    'exit(IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => $ARGV[1], Listen => 1, ReuseAddr => 1) ? 0 : 1)' \
    "$1" "$2" 2>/dev/null
}

host=${MOONBASE_HOST:-127.0.0.1}
port=${MOONBASE_PORT:-7350}
[[ $port =~ ^[0-9]+$ ]] || die "MOONBASE_PORT=$port is not a port number"
probe_host=$host
[[ $host == 0.0.0.0 || $host == :: || $host == "[::]" ]] && probe_host=127.0.0.1
# Before anything slow: a taken server port is the usual failure of a second `make run`.
if port_taken "$probe_host" "$port" || { [[ $host == 0.0.0.0 ]] && port_taken 0.0.0.0 "$port"; }; then
  die "$host:$port is already in use (another \`make run\` or server?). Stop it, or serve on another port: MOONBASE_PORT=$((port + 1)) make run"
fi

[[ ${MOONBASE_SKIP_DEPS:-0} == 1 ]] || tools/install-deps.sh
if [[ -n ${MOONBASE_BIN:-} ]]; then
  BIN=$MOONBASE_BIN     # a binary built elsewhere: no build
else
  # Only the server (no unit tests, benchmarks or fuzzers), and without make's "Entering
  # directory" lines: this script may itself run under make (`make run`).
  env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS MOONBASE_BUILD_TARGET=moonbase MOONBASE_BUILD_QUIET=1 \
    tools/build.sh default "${MOONBASE_BUILD_DIR:-build}"
  BIN=${MOONBASE_BUILD_DIR:-build}/moonbase
fi
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
[[ -x $BIN ]] || die "no server binary at $BIN after the build"

PGDIR=""          # set when this script started the cluster, so that it stops it
SERVER_PID=""
STOPPING=""       # INT or TERM: the user asked to stop, a clean stop exits 0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    # Ctrl-C reached the server too (same process group): give it a moment to stop by itself.
    if [[ $STOPPING == INT ]]; then
      for _ in $(seq 1 30); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      say "server did not stop within 15 s: killing it"
      kill -KILL "$SERVER_PID" 2>/dev/null || true
      rc=1
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n $PGDIR ]]; then
    tools/pg.sh stop "$PGDIR" || true
  fi
  [[ -n $STOPPING ]] && say "stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'STOPPING=INT; exit 0' INT
trap 'STOPPING=TERM; exit 0' TERM

# The PostgreSQL port for the cluster in $1 (see the header).
pick_pg_port() {
  local dir=$1 p
  if [[ -n ${MOONBASE_PG_PORT:-} ]]; then
    p=$MOONBASE_PG_PORT
    [[ $p =~ ^[0-9]+$ ]] || die "MOONBASE_PG_PORT=$p is not a port number"
    if port_taken 127.0.0.1 "$p"; then
      die "PostgreSQL port $p (MOONBASE_PG_PORT) is already in use on 127.0.0.1. Choose another (MOONBASE_PG_PORT=$((p + 1)) make run) or unset MOONBASE_PG_PORT to pick a free one"
    fi
    echo "$p"; return
  fi
  if [[ -f $dir/port ]]; then
    p=$(cat "$dir/port")
    if [[ $p =~ ^[0-9]+$ ]] && ! port_taken 127.0.0.1 "$p"; then echo "$p"; return; fi
    say "PostgreSQL port $p (used last time by $dir) is taken now: picking another"
  fi
  local from=${MOONBASE_PG_PORT_FROM:-5433}
  for ((p = from; p < from + 100; p++)); do
    if ! port_taken 127.0.0.1 "$p"; then echo "$p"; return; fi
  done
  die "no free PostgreSQL port in $from..$((from + 99)) on 127.0.0.1: set MOONBASE_PG_PORT"
}

if [[ -z ${MOONBASE_DATABASE_URL:-} ]]; then
  dir=${MOONBASE_PG_DIR:-$ROOT/.moonbase/pg}
  if tools/pg.sh status "$dir" >/dev/null 2>&1; then
    say "PostgreSQL in $dir is already running: using it (and leaving it running)"
  else
    mkdir -p "$(dirname "$dir")"
    pg_port=$(pick_pg_port "$dir")
    PGDIR=$dir
    tools/pg.sh start "$dir" "$pg_port" \
      || die "PostgreSQL did not start on port $pg_port; choose a port with MOONBASE_PG_PORT=N make run (or use a database of your own: MOONBASE_DATABASE_URL=postgres://...)"
  fi
  MOONBASE_DATABASE_URL=$(tools/pg.sh url "$dir")
  export MOONBASE_DATABASE_URL
fi

base=http://$probe_host:$port
say "starting the server on $host:$port, database $MOONBASE_DATABASE_URL"
# In the background so that the traps run at once on Ctrl-C / SIGTERM; the server gets
# SIGTERM from cleanup (and SIGINT from the terminal) and shuts down cleanly.
data_dir=${MOONBASE_DATA_DIR:-$ROOT/.moonbase}
"$BIN" --host "$host" --port "$port" --scripts "$ROOT/scripts" --data-dir "$data_dir" \
  --mode "${MOONBASE_MODE:-development}" "$@" &
SERVER_PID=$!
# Tell where to go once it answers (or stop waiting when it exits).
for _ in $(seq 1 600); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  if curl -fsS -o /dev/null --max-time 1 "$base/healthz" 2>/dev/null; then
    if [[ -n ${MOONBASE_ADMIN_TOKEN:-} ]]; then token="the value of MOONBASE_ADMIN_TOKEN"
    else token=$data_dir/dev-admin-token; fi
    say "Moonbase is up (pid $SERVER_PID):"
    say "  demo      $base/demo"
    say "  console   $base/console   (admin token: $token)"
    say "  API       $base   WebSocket ws://$probe_host:$port/ws"
    say "Ctrl-C stops the server${PGDIR:+ and the PostgreSQL cluster}"
    break
  fi
  sleep 0.1
done
set +e
wait "$SERVER_PID"
rc=$?
SERVER_PID=""
if ((rc != 0)) && [[ -z $STOPPING ]]; then
  say "the server exited with status $rc (its log is above). If $host:$port was taken: MOONBASE_PORT=$((port + 1)) make run"
fi
exit "$rc"
