#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on loopback, for the test suite.
#
#   scripts/pg_cluster.sh start DIR [PORT]   initdb into DIR/data, start on 127.0.0.1:PORT
#                                            (a free port from 54329 up when PORT is omitted),
#                                            create database scoring_test; prints the URL
#   scripts/pg_cluster.sh url   DIR          print postgresql+psycopg://postgres@127.0.0.1:PORT/scoring_test
#   scripts/pg_cluster.sh stop  DIR          fast shutdown, then delete DIR
#   scripts/pg_cluster.sh run [--] CMD...    start a cluster in a fresh temp dir, run CMD with
#                                            TEST_DATABASE_URL set, always stop and delete the
#                                            cluster afterwards, exit with CMD's status
#
# DIR is created if missing (use a fresh path; `mktemp -d` is fine) and handed to the postgres
# user, because initdb refuses to run as root: as root every server command runs through
# `runuser -u postgres`. Auth is `trust`, listening on 127.0.0.1 only, socket inside DIR.
# Durability is switched off (fsync, full_page_writes): the cluster lives for one test run.
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_USER (OS user that runs the
# server when invoked as root; default postgres), PG_PORT_BASE (default 54329).
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_USER=${PG_USER:-postgres}
PG_PORT_BASE=${PG_PORT_BASE:-54329}
DB_NAME=scoring_test
MARKER=.scoring-throwaway-cluster     # stop only deletes directories that carry this file

# libpq settings from the caller's environment must not redirect our commands elsewhere.
unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGSERVICE PGOPTIONS PGDATA

die() { echo "pg_cluster: $*" >&2; exit 1; }
log() { echo "pg_cluster: $*" >&2; }

if [[ $(id -u) -eq 0 ]]; then
    id "$PG_USER" >/dev/null 2>&1 || die "no OS user '$PG_USER' (install postgresql-15: scripts/ensure_system.sh --test)"
    as_pg() { (cd / && runuser -u "$PG_USER" -- "$@"); }
else
    as_pg() { (cd / && "$@"); }
fi

port_in_use() {   # something accepts TCP connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    local p
    for ((p = PG_PORT_BASE; p < PG_PORT_BASE + 200; p++)); do
        port_in_use "$p" || { echo "$p"; return 0; }
    done
    die "no free port in $PG_PORT_BASE..$((PG_PORT_BASE + 199))"
}

port_of() {
    [[ -f $1/port ]] || die "$1 holds no cluster (no $1/port)"
    cat "$1/port"
}

url_of() {
    echo "postgresql+psycopg://postgres@127.0.0.1:$(port_of "$1")/$DB_NAME"
}

cmd_start() {
    local dir=${1:?usage: pg_cluster.sh start DIR [PORT]} port=${2:-}
    [[ -x $PG_BIN/initdb ]] || die "no $PG_BIN/initdb (install postgresql-15: scripts/ensure_system.sh --test)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # an empty DIR becomes ours: `stop` may delete it even if this start fails below
    [[ -z $(ls -A "$dir") ]] && touch "$dir/$MARKER"
    [[ -e $dir/data ]] && die "$dir/data already exists; stop that cluster first or use a fresh DIR"
    [[ -n $port ]] || port=$(free_port)
    port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"
    # The socket path must fit in sockaddr_un (107 bytes).
    (( ${#dir} + 20 < 107 )) || die "DIR path too long for a Unix socket: $dir"

    [[ -e $dir/$MARKER ]] || die "$dir is not empty; use a fresh DIR"
    echo "$port" >"$dir/port"
    if [[ $(id -u) -eq 0 ]]; then
        chown "$PG_USER": "$dir"
        chmod 0700 "$dir"
        # every parent must be traversable by the postgres user
        local d=$dir
        while d=$(dirname "$d"); [[ $d != / ]]; do
            runuser -u "$PG_USER" -- test -x "$d" || die "$d is not traversable by $PG_USER; use a DIR under /tmp"
        done
    fi

    log "initdb in $dir/data"
    as_pg "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --encoding=UTF8 --locale=C.UTF-8 \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

    log "starting PostgreSQL on 127.0.0.1:$port"
    local opts="-c listen_addresses=127.0.0.1 -p $port -k $dir"
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -o "$opts" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        tail -n 20 "$dir/server.log" >&2 || true
        die "server did not start (log: $dir/server.log)"
    fi
    as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB_NAME" \
        || die "createdb $DB_NAME failed"
    url_of "$dir"
}

cmd_stop() {
    local dir=${1:?usage: pg_cluster.sh stop DIR}
    [[ -d $dir ]] || return 0
    [[ -e $dir/$MARKER ]] || die "$dir was not made by pg_cluster.sh start; not touching it"
    if [[ -f $dir/data/postmaster.pid ]]; then
        log "stopping PostgreSQL in $dir"
        if ! as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
            as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
            local pid
            pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
            if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        fi
    fi
    rm -rf -- "$dir"
}

RUN_DIR=
cmd_run() {
    [[ ${1:-} == -- ]] && shift
    (( $# > 0 )) || die "usage: pg_cluster.sh run [--] CMD..."
    local url status=0
    RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/scoring-pg.XXXXXX")
    touch "$RUN_DIR/$MARKER"
    trap 'cmd_stop "$RUN_DIR" || true' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # a separate process, so that `set -e` holds in every step of start
    "$0" start "$RUN_DIR" >/dev/null || exit 1
    url=$(url_of "$RUN_DIR")
    log "TEST_DATABASE_URL=$url"
    TEST_DATABASE_URL=$url "$@" || status=$?
    exit "$status"
}

case ${1:-} in
    start) shift; cmd_start "$@" ;;
    stop)  shift; cmd_stop "$@" ;;
    url)   shift; url_of "${1:?usage: pg_cluster.sh url DIR}" ;;
    run)   shift; cmd_run "$@" ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
