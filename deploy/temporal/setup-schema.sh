#!/bin/sh
# Sets up Temporal's two PostgreSQL databases, persistence and SQL visibility,
# with Temporal's own schema tool: creates each if missing, adds the schema
# version table, then applies every versioned step of the release's
# schema/postgresql/v12 that the database does not have yet. Safe to run again,
# and the way to upgrade the schema before starting a newer server.
#
# docker-compose.yml runs it in temporalio/admin-tools; the cluster test
# (e2e/cluster) runs it with the tool and schema built from go.mod's version.
set -eu

: "${SQL_TOOL:=temporal-sql-tool}"
: "${SCHEMA_DIR:=/etc/temporal/schema/postgresql/v12}"
: "${POSTGRES_SEEDS:?the PostgreSQL host}"
: "${DB_PORT:=5432}"
: "${POSTGRES_USER:?the PostgreSQL user, which may create databases}"
: "${DBNAME:=temporal}"
: "${VISIBILITY_DBNAME:=temporal_visibility}"
# The tool reads the password from SQL_PASSWORD.
export SQL_PASSWORD="${SQL_PASSWORD:-${POSTGRES_PWD:-}}"

setup() { # database schema
	echo "setup-schema: database $1 ($2)"
	for step in "create-database" "setup-schema -v 0.0" "update-schema -d $SCHEMA_DIR/$2/versioned"; do
		# shellcheck disable=SC2086 # step is several words
		"$SQL_TOOL" --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" --db "$1" $step
	done
}

setup "$DBNAME" temporal
setup "$VISIBILITY_DBNAME" visibility
echo "setup-schema: done"
