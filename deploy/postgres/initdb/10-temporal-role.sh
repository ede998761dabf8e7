#!/bin/sh
# Runs once, when the postgres image initialises an empty volume: gives Temporal its own login
# role (CREATEDB, so temporal-sql-tool can create its two databases) instead of the superuser.
# On an existing volume, create the role by hand with the same statement.
set -e
if [ -z "${TEMPORAL_DB_PASSWORD}" ]; then
  echo "TEMPORAL_DB_PASSWORD is not set" >&2
  exit 1
fi
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  --set=temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
SQL
