#!/bin/sh
# Creates Temporal's databases and brings both schemas to this admin-tools image's version (the
# job temporalio/auto-setup used to do inside the server). Safe to re-run on every `up`:
# `create` accepts an existing database, `setup-schema -v 0.0` skips a versioned one, and
# `update-schema` applies only the missing steps, which is also how a Temporal upgrade migrates.
set -eu
: "${POSTGRES_SEEDS:?}" "${DB_PORT:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
: "${DBNAME:=temporal}" "${VISIBILITY_DBNAME:=temporal_visibility}"
export SQL_PASSWORD="$POSTGRES_PWD"

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

schema_root=/etc/temporal/schema/postgresql/v12
for pair in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
  db=${pair%%:*}
  kind=${pair##*:}
  echo "temporal schema: $kind in database $db"
  sql_tool --db "$db" create
  sql_tool --db "$db" setup-schema -v 0.0
  sql_tool --db "$db" update-schema -d "$schema_root/$kind/versioned"
done
echo 'temporal schema: up to date'
