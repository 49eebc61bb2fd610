#!/bin/sh
# The temporal-schema one-shot of docker-compose.yml (temporalio/admin-tools, before the server
# starts): creates Temporal's schema in an empty database and upgrades an older one, for the
# persistence database and the visibility database. Idempotent: every deploy runs it, and the
# server starts only when it exits 0.
#
# temporal-sql-tool takes the connection from SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER (set by
# compose) and SQL_PASSWORD (from the docker secret, here). The databases exist already:
# deploy/postgres/init-roles.sh made them, owned by the `temporal` role, which may not create
# databases itself (so no `temporal-sql-tool create-database`).
set -eu

SQL_PASSWORD=$(cat /run/secrets/temporal_db_password)
export SQL_PASSWORD

schema=/etc/temporal/schema/postgresql/v12

setup() { # DATABASE SCHEMA_DIR
    echo "temporal-schema: $1: schema from $2"
    [ -d "$2" ] || {
        echo "temporal-schema: $2 is not in this image" >&2
        exit 1
    }
    # Version tables and version 0.0 on an empty database; a no-op on a set-up one.
    temporal-sql-tool --database "$1" setup-schema -v 0.0
    # Every versioned step above the database's version, up to the image's latest.
    temporal-sql-tool --database "$1" update-schema -d "$2"
}

setup "${TEMPORAL_DBNAME:-temporal}" "$schema/temporal/versioned"
setup "${TEMPORAL_VISIBILITY_DBNAME:-temporal_visibility}" "$schema/visibility/versioned"
echo "temporal-schema: done"
