#!/bin/sh
# Runs once, when the postgresql service initialises an empty data volume
# (/docker-entrypoint-initdb.d). One role per tenant, each owning only its databases:
#   temporal   -> temporal, temporal_visibility (the server's schema is set up by auto-setup)
#   walletflow -> walletflow (schema by `walletflow migrate` in walletflow-setup)
# The superuser `postgres` (password: secret postgres_password) is for operators and backups.
# Changing a password later: ALTER ROLE ... PASSWORD, then update the secret or .env to match.
set -eu

temporal_password=$(cat /run/secrets/temporal_db_password)
: "${WALLETFLOW_DB_PASSWORD:?WALLETFLOW_DB_PASSWORD is not set}"

# psql's :'var' quotes the values as SQL literals.
psql --set=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    --set=temporal_password="$temporal_password" \
    --set=walletflow_password="$WALLETFLOW_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
CREATE ROLE walletflow LOGIN PASSWORD :'walletflow_password';
CREATE DATABASE walletflow OWNER walletflow;
REVOKE CONNECT, TEMPORARY ON DATABASE temporal, temporal_visibility, walletflow FROM PUBLIC;
SQL
