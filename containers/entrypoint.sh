#!/bin/sh
# The api and pipeline images' entrypoint. Secrets come from the environment: VAR, or
# VAR_FILE naming a file that holds it (compose's and Kubernetes' secrets). Every
# variable the command needs is checked before it starts: a missing one ends the
# container at once with one line naming it. Then, with RECDB_WAIT set, it waits for
# the database (`recdb db wait $RECDB_WAIT`): compose starts the services in order, but
# podman 4 cannot make one wait until another is healthy.
#
#   <command>   run it, needing $RECDB_REQUIRED_ENV (the image's default)
#   init        on a new server, as its superuser (POSTGRES_USER, default postgres, and
#               POSTGRES_PASSWORD): the roles, the database and its schemas, as the
#               embedded server makes them (recdb db create-roles --database)
set -eu

# Every secret recdb reads may come from VAR_FILE instead of VAR.
SECRETS="POSTGRES_PASSWORD RECDB_OWNER_PASSWORD RECDB_ANALYST_PASSWORD RECDB_SCIENTIST_PASSWORD RECDB_API_KEYS"

from_file() {
    eval "value=\${$1:-}"
    eval "file=\${$1_FILE:-}"
    if [ -z "$value" ] && [ -n "$file" ]; then
        if [ ! -r "$file" ]; then
            echo "error: $1_FILE names $file, which cannot be read" >&2
            exit 64
        fi
        export "$1=$(cat "$file")"
    fi
}

require() {
    case "$1" in
        "" | *[!A-Za-z0-9_]*)
            echo "error: RECDB_REQUIRED_ENV names '$1', which is not a variable name" >&2
            exit 64
            ;;
    esac
    eval "value=\${$1:-}"
    if [ -z "$value" ]; then
        echo "error: $1 is not set: pass it in the environment (or $1_FILE, a file holding it)" >&2
        exit 64
    fi
}

for name in $SECRETS; do
    from_file "$name"
done
required=${RECDB_REQUIRED_ENV:-}
if [ "${1:-}" = init ]; then
    required="POSTGRES_PASSWORD RECDB_OWNER_PASSWORD RECDB_ANALYST_PASSWORD RECDB_SCIENTIST_PASSWORD"
fi
for name in $required; do
    require "$name"
done

if [ "${1:-}" = init ]; then
    export PGUSER="${POSTGRES_USER:-postgres}" PGPASSWORD="$POSTGRES_PASSWORD" PGDATABASE=postgres
    recdb db wait --role admin --timeout "${RECDB_WAIT_TIMEOUT:-300}"
    exec recdb db create-roles --database
fi
# The owner's password, for libpq and dbt (PGPASSWORD), where the command needs it.
if [ -n "${RECDB_OWNER_PASSWORD:-}" ] && [ -z "${PGPASSWORD:-}" ]; then
    export PGPASSWORD="$RECDB_OWNER_PASSWORD"
fi
if [ -n "${RECDB_WAIT:-}" ]; then
    # shellcheck disable=SC2086 # options, split on purpose
    recdb db wait $RECDB_WAIT --timeout "${RECDB_WAIT_TIMEOUT:-300}"
fi
exec "$@"
