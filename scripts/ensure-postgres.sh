#!/usr/bin/env bash
# Make sure a PostgreSQL server answers for the test suite, then print its base URL on stdout
# (the only thing this script writes to stdout; diagnostics go to stderr).
#
#   FRAZIL_TEST_POSTGRES_URL="$(scripts/ensure-postgres.sh)"
#
# PostgreSQL itself is installed from Debian's packages (apt-get) when it is missing.
#
# Order of attempts:
#   1. $FRAZIL_TEST_POSTGRES_URL if it is set and answers;
#   2. a server already answering on 127.0.0.1:5432 (postgres://postgres@127.0.0.1:5432/postgres);
#   3. the distribution cluster (/etc/postgresql/<ver>/main), started with pg_ctlcluster;
#   4. a throw-away cluster (initdb + pg_ctl) under ${FRAZIL_TEST_PG_DIR:-$TMPDIR/frazil-test-pg}
#      on a free port, kept running and reused by the next invocation
#      (FRAZIL_TEST_PG_THROWAWAY=1 goes straight to this step).
# Tests create (and drop) their own databases on that server.
set -euo pipefail

log() { echo "ensure-postgres: $*" >&2; }

DEFAULT_URL="postgres://postgres@127.0.0.1:5432/postgres"

# Find a PostgreSQL client/server binary on PATH or in the usual Debian/RPM locations.
pg_bin() {
    local name="$1" candidate
    if command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
        return 0
    fi
    for candidate in /usr/lib/postgresql/*/bin/"$name" /usr/pgsql-*/bin/"$name" /usr/local/pgsql/bin/"$name"; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# answers URL -> 0 if a trivial query succeeds against it
answers() {
    local psql
    psql="$(pg_bin psql)" || return 1
    "$psql" "$1" -X -q -t -A -c 'select 1' >/dev/null 2>&1
}

wait_for() {
    local url="$1" i
    for i in $(seq 1 60); do
        if answers "$url"; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# 1. explicit URL
if [ -n "${FRAZIL_TEST_POSTGRES_URL:-}" ]; then
    if answers "$FRAZIL_TEST_POSTGRES_URL"; then
        echo "$FRAZIL_TEST_POSTGRES_URL"
        exit 0
    fi
    log "FRAZIL_TEST_POSTGRES_URL=$FRAZIL_TEST_POSTGRES_URL does not answer; trying the local server"
fi

# Install Debian's PostgreSQL when the machine has none (CI and fresh machines start without it).
install_postgres() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL is not installed and apt-get is missing: install PostgreSQL 13 or newer"
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { log "installing PostgreSQL needs root or sudo"; return 1; }
        sudo=(sudo -n)
    fi
    log "PostgreSQL is not installed: apt-get install -y postgresql"
    "${sudo[@]}" apt-get update -qq >&2
    # The package's own post-install may start its cluster; step 3 below copes either way.
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq postgresql </dev/null >&2
}

if ! pg_bin psql >/dev/null || ! pg_bin initdb >/dev/null; then
    install_postgres || exit 1
fi

# FRAZIL_TEST_PG_THROWAWAY=1 skips straight to a throw-away cluster (steps 2 and 3 are skipped).
if [ "${FRAZIL_TEST_PG_THROWAWAY:-0}" != 1 ]; then
# 2. something already listening on 5432
if answers "$DEFAULT_URL"; then
    echo "$DEFAULT_URL"
    exit 0
fi

# 3. the distribution's cluster
if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    for version in $(ls /etc/postgresql 2>/dev/null | sort -rV); do
        [ -d "/etc/postgresql/$version/main" ] || continue
        log "starting cluster $version/main with pg_ctlcluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
        if wait_for "$DEFAULT_URL"; then
            echo "$DEFAULT_URL"
            exit 0
        fi
        log "cluster $version/main did not answer as $DEFAULT_URL"
    done
fi
fi

# 4. a throw-away cluster of our own
INITDB="$(pg_bin initdb)" || { log "initdb not found"; exit 1; }
PG_CTL="$(pg_bin pg_ctl)" || { log "pg_ctl not found"; exit 1; }
BASE="${FRAZIL_TEST_PG_DIR:-${TMPDIR:-/tmp}/frazil-test-pg}"
DATA="$BASE/data"
PORT_FILE="$BASE/port"

# PostgreSQL refuses to run as root: use the `postgres` (or `nobody`) account then.
as_owner=()
if [ "$(id -u)" = 0 ]; then
    owner=postgres
    getent passwd "$owner" >/dev/null 2>&1 || owner=nobody
    command -v runuser >/dev/null 2>&1 || { log "running as root needs runuser (util-linux)"; exit 1; }
    as_owner=(runuser -u "$owner" --)
fi

if [ -f "$PORT_FILE" ] && [ -f "$DATA/PG_VERSION" ]; then
    port="$(cat "$PORT_FILE")"
    url="postgres://postgres@127.0.0.1:$port/postgres"
    if answers "$url"; then
        echo "$url"
        exit 0
    fi
    log "restarting the throw-away cluster in $DATA on port $port"
else
    rm -rf "$BASE"
    mkdir -p "$BASE"
    [ "$(id -u)" = 0 ] && chown "${owner}" "$BASE"
    log "initdb of a throw-away cluster in $DATA"
    "${as_owner[@]}" "$INITDB" -D "$DATA" -U postgres --auth=trust --no-sync -E UTF8 >&2
    # pick a free port
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    echo "$port" >"$PORT_FILE"
fi

"${as_owner[@]}" "$PG_CTL" -D "$DATA" -l "$BASE/postgres.log" -w -t 60 \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $BASE -c fsync=off -c max_connections=200" start >&2 \
    || { log "pg_ctl start failed:"; tail -n 30 "$BASE/postgres.log" >&2 || true; exit 1; }
url="postgres://postgres@127.0.0.1:$port/postgres"
if wait_for "$url"; then
    log "throw-away cluster answers on port $port (stop it with: pg_ctl -D $DATA stop)"
    echo "$url"
    exit 0
fi
log "the throw-away cluster does not answer; see $BASE/postgres.log"
exit 1
