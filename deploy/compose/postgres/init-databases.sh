#!/usr/bin/env bash
# Creates one database and one login role per service (and one for MLflow), each database owned by
# its role and closed to every other role. The postgres image runs this once, when it initialises an
# empty data directory (/docker-entrypoint-initdb.d); it is idempotent, so it can also be run by hand
# against an existing server (PGHOST, PGUSER, ... as for psql).
#
#   DSW_DATABASES       names of the service databases (default: the five services)
#   DSW_DB_PASSWORD     password of the service roles
#   MLFLOW_DATABASE     name of MLflow's database and role (default: mlflow; empty: none)
#   MLFLOW_DB_PASSWORD  password of MLflow's role
set -euo pipefail

: "${DSW_DB_PASSWORD:?DSW_DB_PASSWORD must be set}"
databases="${DSW_DATABASES:-catalog recipes training scoring serving}"
mlflow_database="${MLFLOW_DATABASE-mlflow}"

create() {
  local name="$1" password="$2"
  psql --no-psqlrc --set ON_ERROR_STOP=1 --quiet \
    --username "${POSTGRES_USER:-${PGUSER:-postgres}}" --dbname "${POSTGRES_DB:-${PGDATABASE:-postgres}}" \
    --set name="$name" --set password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" WITH LOGIN PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'name') \gexec
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
GRANT ALL ON DATABASE :"name" TO :"name";
SQL
  echo "init-databases: database and role ${name} ready"
}

for name in $databases; do
  create "$name" "$DSW_DB_PASSWORD"
done
if [[ -n "$mlflow_database" ]]; then
  : "${MLFLOW_DB_PASSWORD:?MLFLOW_DB_PASSWORD must be set}"
  create "$mlflow_database" "$MLFLOW_DB_PASSWORD"
fi
