#!/usr/bin/env bash
# A private PostgreSQL cluster in a folder, for `make run` and `make test`.
#
#   tools/pg.sh start DIR [PORT]   create the cluster on first use, start it (no-op when running)
#   tools/pg.sh stop DIR           fast shutdown (no-op when not running)
#   tools/pg.sh status DIR         exit 0 running, 3 stopped, 4 no cluster in DIR
#   tools/pg.sh url DIR [DBNAME]   print postgres://USER@127.0.0.1:PORT/DBNAME (default moonbase)
#   tools/pg.sh psql DIR [ARGS..]  psql into the cluster (database moonbase unless -d is given)
#   tools/pg.sh destroy DIR        stop, then delete DIR
#
# Layout of DIR: data/ (PGDATA), port (the port last started on), postgres.log, and the unix
# socket (.s.PGSQL.PORT) when DIR's path is short enough for one. The server listens on
# 127.0.0.1 only, with trust authentication for local and 127.0.0.1 connections: it is a
# development/test cluster, not a deployment. The superuser is the OS user that owns the
# cluster; the database `moonbase` is created on first start.
#
# PostgreSQL refuses to run as root. As root the cluster is owned and run by the `postgres`
# system user (from Debian's postgresql package), or a `moonbase` system user created on
# demand, which must be able to traverse every directory above DIR. When it cannot (a checkout
# under /root, mode 0700), the cluster is created in /var/lib/moonbase/pg-<hash of DIR> and DIR
# becomes a symlink to it (MOONBASE_PG_RELOCATE=0: fail instead). As any other user the cluster
# is run by that user.
#
# Environment: PG_BINDIR (where initdb/pg_ctl live; default: newest /usr/lib/postgresql/*/bin),
# MOONBASE_PG_FAST=1 on first start turns off fsync & co (throwaway test clusters only).
set -euo pipefail

die() { printf 'pg.sh: %s\n' "$*" >&2; exit 1; }
say() { printf 'pg.sh: %s\n' "$*" >&2; }
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

find_bindir() {
  if [[ -n ${PG_BINDIR:-} ]]; then
    [[ -x $PG_BINDIR/pg_ctl ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
    echo "$PG_BINDIR"; return
  fi
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [[ -n $d && -x $d/pg_ctl ]]; then echo "$d"; return; fi
  d=$(command -v pg_ctl 2>/dev/null || true)
  [[ -n $d ]] || die "PostgreSQL server binaries not found (install: tools/install-deps.sh)"
  dirname "$d"
}

# The OS user that owns (or will own) the cluster in $DIR.
cluster_user() {
  if [[ -d $DIR/data ]]; then stat -c %U "$DIR/data"; return; fi
  if [[ $(id -u) -ne 0 ]]; then id -un; return; fi
  if id -u postgres >/dev/null 2>&1; then echo postgres; return; fi
  if ! id -u moonbase >/dev/null 2>&1; then
    say "creating system user moonbase to run PostgreSQL"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin moonbase
  fi
  echo moonbase
}

# Run a command as the cluster's user, from / (its cwd may not be readable by that user).
as_user() {
  if [[ $(id -un) == "$PGOSUSER" ]]; then
    (cd / && "$@")
  elif [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u "$PGOSUSER" -- "$@")
  else
    die "the cluster in $DIR belongs to $PGOSUSER; run as root or as $PGOSUSER"
  fi
}

port_of() {
  if [[ -f $DIR/port ]]; then cat "$DIR/port"; else echo 5433; fi
}

is_running() {
  [[ -f $DIR/data/PG_VERSION ]] && as_user "$BINDIR/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

psql_cmd() { # psql as the cluster superuser over TCP (trust)
  "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(port_of)" -U "$PGOSUSER" "$@"
}

init_cluster() {
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  if [[ $(id -u) -eq 0 ]]; then
    chown "$PGOSUSER:" "$DIR"
    chmod 0700 "$DIR"
    if ! runuser -u "$PGOSUSER" -- test -w "$DIR" -a -x "$DIR"; then
      local p=$DIR bad=""
      while [[ $p != / ]]; do
        p=$(dirname "$p")
        runuser -u "$PGOSUSER" -- test -x "$p" || bad=$p
      done
      if [[ ${MOONBASE_PG_RELOCATE:-1} == 1 ]] && rmdir "$DIR" 2>/dev/null; then
        # e.g. a checkout under /root (0700): keep the cluster where the user can reach it,
        # and link it from DIR so that every pg.sh command still takes DIR.
        local alt
        alt=/var/lib/moonbase/pg-$(printf '%s' "$DIR" | sha256sum | cut -c1-12)
        mkdir -p /var/lib/moonbase "$alt"
        chmod 0755 /var/lib/moonbase
        ln -s "$alt" "$DIR"
        say "user $PGOSUSER cannot reach $DIR (${bad:-a parent} is not traversable):" \
            "the cluster lives in $alt, linked from $DIR"
        DIR=$alt
        chown "$PGOSUSER:" "$DIR"
        chmod 0700 "$DIR"
      else
        die "user $PGOSUSER cannot reach $DIR: ${bad:-a parent} is not traversable by it." \
            "Put the cluster elsewhere (e.g. MOONBASE_PG_DIR=/var/tmp/moonbase-pg make run)" \
            "or allow it: chmod o+x ${bad:-<parent>}"
      fi
    fi
  fi
  # A unix socket path must fit in sun_path (107 bytes); otherwise TCP only.
  local sock=$DIR
  if (( ${#sock} + 20 > 107 )); then sock=""; fi
  say "initdb $DIR/data (owner $PGOSUSER)"
  as_user "$BINDIR/initdb" -D "$DIR/data" -U "$PGOSUSER" --auth-local=trust --auth-host=trust \
    --encoding=UTF8 --no-locale --no-instructions >"$DIR/initdb.log" 2>&1 \
    || { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
  {
    echo ""
    echo "# moonbase private cluster (tools/pg.sh)"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '${sock//\'/\'\'}'"
    echo "max_connections = 200"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    if [[ ${MOONBASE_PG_FAST:-0} == 1 ]]; then
      echo "# throwaway cluster: durability off for speed"
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } | as_user tee -a "$DIR/data/postgresql.conf" >/dev/null
}

cmd=${1:-}; [[ -n $cmd ]] || usage
DIR=${2:-}; [[ -n $DIR ]] || usage
[[ $DIR == /* ]] || DIR=$PWD/$DIR
LINK=""
if [[ -L $DIR ]]; then LINK=$DIR; DIR=$(readlink -f "$DIR"); fi   # relocated cluster (see init_cluster)
BINDIR=$(find_bindir)

case $cmd in
  start)
    PGOSUSER=$(cluster_user)
    [[ -f $DIR/data/PG_VERSION ]] || init_cluster
    DIR=$(cd "$DIR" && pwd)
    want=${3:-}
    if is_running; then
      if [[ -n $want && $want != "$(port_of)" ]]; then
        die "already running on port $(port_of) (asked for $want); stop it first"
      fi
      say "already running on port $(port_of)"
    else
      port=${want:-$(port_of)}
      [[ $port =~ ^[0-9]+$ ]] || die "bad port: $port"
      echo "$port" | as_user tee "$DIR/port" >/dev/null
      if ! as_user "$BINDIR/pg_ctl" -D "$DIR/data" -l "$DIR/postgres.log" -w -t 60 \
             -o "-p $port" start >/dev/null; then
        tail -n 20 "$DIR/postgres.log" >&2 || true
        die "could not start PostgreSQL in $DIR on port $port (see $DIR/postgres.log)"
      fi
      say "started on 127.0.0.1:$port ($DIR, user $PGOSUSER)"
    fi
    if [[ -z $(psql_cmd -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'moonbase'") ]]; then
      psql_cmd -d postgres -c "CREATE DATABASE moonbase" >/dev/null
      say "created database moonbase"
    fi
    ;;
  stop)
    [[ -f $DIR/data/PG_VERSION ]] || { say "no cluster in $DIR"; exit 0; }
    PGOSUSER=$(cluster_user)
    if is_running; then
      as_user "$BINDIR/pg_ctl" -D "$DIR/data" -m fast -w -t 60 stop >/dev/null
      say "stopped ($DIR)"
    else
      say "not running ($DIR)"
    fi
    ;;
  status)
    [[ -f $DIR/data/PG_VERSION ]] || { echo "no cluster in $DIR"; exit 4; }
    PGOSUSER=$(cluster_user)
    if is_running; then echo "running on 127.0.0.1:$(port_of) ($DIR)"; else echo "stopped ($DIR)"; exit 3; fi
    ;;
  url)
    [[ -f $DIR/data/PG_VERSION ]] || die "no cluster in $DIR (tools/pg.sh start $DIR first)"
    PGOSUSER=$(cluster_user)
    echo "postgres://$PGOSUSER@127.0.0.1:$(port_of)/${3:-moonbase}"
    ;;
  psql)
    [[ -f $DIR/data/PG_VERSION ]] || die "no cluster in $DIR"
    PGOSUSER=$(cluster_user)
    shift 2
    has_db=0
    for a in "$@"; do [[ $a == -d || $a == --dbname=* ]] && has_db=1; done
    if ((has_db)); then exec "$BINDIR/psql" -X -h 127.0.0.1 -p "$(port_of)" -U "$PGOSUSER" "$@"; fi
    exec "$BINDIR/psql" -X -h 127.0.0.1 -p "$(port_of)" -U "$PGOSUSER" -d moonbase "$@"
    ;;
  destroy)
    if [[ -f $DIR/data/PG_VERSION ]]; then
      PGOSUSER=$(cluster_user)
      if is_running; then
        as_user "$BINDIR/pg_ctl" -D "$DIR/data" -m immediate -w -t 60 stop >/dev/null || true
      fi
    fi
    rm -rf "$DIR"
    [[ -n $LINK ]] && rm -f "$LINK"
    say "destroyed $DIR"
    ;;
  *) usage ;;
esac
