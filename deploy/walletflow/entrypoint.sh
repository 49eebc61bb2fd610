#!/bin/sh
# Entry point of every walletflow container of docker-compose.yml (mounted read-only at
# /etc/walletflow/entrypoint.sh): `entrypoint.sh COMMAND [ARG...]`.
#
# walletflow reads its keys from files (WALLETFLOW_KEYSTORE, WALLETFLOW_CODEC_KEYS, the bot key,
# the TLS key) and its database password from a passfile (DATABASE_URL ?passfile=), but takes a
# few secrets only as values of environment variables. Compose cannot fill a variable from a
# file, so this does, inside the container, for each secret the service mounts:
#
#   /run/secrets/telegram_bot_token  -> TELEGRAM_BOT_TOKEN              (must not be empty)
#   /run/secrets/codec_server_token  -> WALLETFLOW_CODEC_SERVER_TOKEN   (must not be empty)
#   /run/secrets/tron_api_key        -> TRON_API_KEY                    (empty: no key)
#   /run/secrets/jupiter_api_key     -> JUPITER_API_KEY                 (empty: no key)
#   /run/secrets/coingecko_api_key   -> COINGECKO_API_KEY               (empty: no key)
#   /run/secrets/temporal_api_key    -> TEMPORAL_API_KEY                (empty: no key)
#
# A variable whose secret the service does not mount is unset, so a value left in .env (which is
# every container's env_file) never reaches a container that has no business with it. Then it
# execs COMMAND: the values live only in that process's environment, not in docker-compose.yml,
# .env or `docker inspect`. WALLETFLOW_SECRETS_DIR (tests only) replaces /run/secrets.
set -eu

dir=${WALLETFLOW_SECRETS_DIR:-/run/secrets}

die() {
    echo "walletflow entrypoint: $*" >&2
    exit 78 # EX_CONFIG
}

# from_secret FILE VARIABLE required|optional
from_secret() {
    file="$dir/$1"
    if [ ! -e "$file" ]; then
        unset "$2"
        return 0
    fi
    if [ ! -r "$file" ]; then
        die "cannot read $file as uid $(id -u): on the host, chown $(id -u) deploy/secrets/$1 and chmod 600 it (deploy/init-secrets.sh does, as root)"
    fi
    value=$(cat "$file")
    case $value in
        *"
"*) die "$file holds more than one line" ;;
    esac
    if [ -z "$value" ]; then
        if [ "$3" = required ]; then
            die "$file is empty: write the value into deploy/secrets/$1 on the host (docs/operations.md)"
        fi
        unset "$2"
        return 0
    fi
    export "$2=$value"
}

from_secret telegram_bot_token TELEGRAM_BOT_TOKEN required
from_secret codec_server_token WALLETFLOW_CODEC_SERVER_TOKEN required
from_secret tron_api_key TRON_API_KEY optional
from_secret jupiter_api_key JUPITER_API_KEY optional
from_secret coingecko_api_key COINGECKO_API_KEY optional
from_secret temporal_api_key TEMPORAL_API_KEY optional
unset value
# Older deployments kept the database password in .env: it is a secret file now.
unset WALLETFLOW_DB_PASSWORD

[ "$#" -gt 0 ] || die "no command: entrypoint.sh COMMAND [ARG...]"
exec "$@"
