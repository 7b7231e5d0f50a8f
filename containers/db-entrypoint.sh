#!/bin/sh
# The db image's entrypoint: Debian's PostgreSQL, started as the official postgres image
# starts. At first start (an empty $PGDATA) it creates the cluster with the superuser
# POSTGRES_USER (default postgres) and POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE),
# password authentication (scram-sha-256) for every network client; then it runs the
# command (default: postgres, listening on every address of the container).
set -eu

bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
export PATH="$bin:$PATH"

if [ -z "${POSTGRES_PASSWORD:-}" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then
    POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "error: POSTGRES_PASSWORD is not set: pass it in the environment (or POSTGRES_PASSWORD_FILE, a file holding it)" >&2
        exit 64
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="${POSTGRES_USER:-postgres}" --pwfile="$pwfile" \
        --auth-local=peer --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    {
        echo "listen_addresses = '*'"
        echo "password_encryption = 'scram-sha-256'"
    } >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "created a PostgreSQL cluster in $PGDATA" >&2
fi

exec "$@"
