#!/usr/bin/env bash
# Starts a private PostgreSQL server for piobench's tests and prints the
# line that tells the tests where it is:
#
#   eval "$(scripts/start-postgres.sh)"   # exports PIOBENCH_TEST_POSTGRES
#
# It installs PostgreSQL from Debian's packages when it is missing, makes a
# new cluster in its own directory (PIOBENCH_PG_DIR, default
# /tmp/piobench-pg) listening on 127.0.0.1 at its own port
# (PIOBENCH_PG_PORT, default 54329), and starts it. initdb refuses to run
# as root, so as root the cluster belongs to the postgres user. Running it
# again reuses a server it already started. Messages go to stderr; only
# the export line goes to stdout.
set -euo pipefail

port="${PIOBENCH_PG_PORT:-54329}"
dir="${PIOBENCH_PG_DIR:-/tmp/piobench-pg}"
log() { echo "start-postgres: $*" >&2; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	# As root (as in CI): make sure Debian's PostgreSQL is installed.
	log "apt-get install postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y postgresql >&2
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
	log "PostgreSQL's server programs are not installed (as root: apt-get install -y postgresql)"
	exit 1
fi
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"

# as runs a command as the cluster's owner.
if [ "$(id -u)" = 0 ]; then
	as() { runuser -u postgres -- "$@"; }
	owner=postgres
else
	as() { "$@"; }
	owner="$(id -un)"
fi

dsn="postgres://${owner}@127.0.0.1:${port}/postgres?sslmode=disable"

if [ -f "$dir/data/postmaster.pid" ] && as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
	log "reusing the server already running in $dir"
else
	mkdir -p "$dir"
	if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		log "initdb $dir/data"
		as "$bin/initdb" -D "$dir/data" -A trust -U "$owner" -E UTF8 >&2
	fi
	log "starting $("$bin/postgres" --version) on 127.0.0.1:$port"
	as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2 || {
		log "the server did not start; its log:"
		cat "$dir/server.log" >&2 || true
		exit 1
	}
fi
as "$bin/psql" -h 127.0.0.1 -p "$port" -U "$owner" -d postgres -Atqc 'SELECT 1' >/dev/null
log "ready: $dsn"
echo "export PIOBENCH_TEST_POSTGRES='$dsn'"
