#!/bin/sh
# Runs once, when the postgresql service initialises an empty data volume
# (/docker-entrypoint-initdb.d). One role per tenant, each owning only its databases:
#   temporal   -> temporal, temporal_visibility (their schema: the temporal-schema one-shot)
#   walletflow -> walletflow (schema by `walletflow migrate` in walletflow-setup)
# The superuser `postgres` (password: secret postgres_password) is for operators and backups.
# The role passwords come from docker secrets (deploy/secrets/, made by deploy/init-secrets.sh).
# Changing a password later: ALTER ROLE ... PASSWORD, then update the secret files to match
# (for walletflow both walletflow_db_password and walletflow_pgpass).
set -eu

temporal_password=$(cat /run/secrets/temporal_db_password)
walletflow_password=$(cat /run/secrets/walletflow_db_password)
[ -n "$temporal_password" ] || { echo "init-roles: temporal_db_password is empty" >&2; exit 1; }
[ -n "$walletflow_password" ] || { echo "init-roles: walletflow_db_password is empty" >&2; exit 1; }

# psql's :'var' quotes the values as SQL literals.
psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=temporal_password="$temporal_password" \
    --set=walletflow_password="$walletflow_password" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE ROLE walletflow LOGIN PASSWORD :'walletflow_password';
CREATE DATABASE walletflow OWNER walletflow;
REVOKE CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility, walletflow FROM PUBLIC;
SQL
