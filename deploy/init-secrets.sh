#!/bin/sh
# Prepares what docker-compose.yml needs and git must never see; run from anywhere, as the
# user that runs docker-compose (root to set the key files' owner). Never overwrites anything.
#   deploy/secrets/{postgres_password,temporal_db_password,grafana_admin_password}
#       random passwords; world-readable files (the containers run as various users) inside
#       a 0700 directory (no other host user gets in).
#   deploy/secrets/keystore-{solana,tron}.json
#       hot-wallet key files, created as {} (monitoring works, withdrawals refuse to sign until
#       a key is added): owner uid 10001 (the image's user), mode 0600, as the key store demands.
#   deploy/secrets/bot-key.json
#       the bot's signing key (walletflow's key file: principal "bot", a random Ed25519 seed),
#       owner uid 10001, mode 0600; an admin lists it in the roster (see the README).
#   .env    from .env.example, mode 0600, with a random WALLETFLOW_DB_PASSWORD.
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
dir="$root/deploy/secrets"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

for name in postgres_password temporal_db_password grafana_admin_password; do
    if [ ! -e "$dir/$name" ]; then
        random >"$dir/$name"
        chmod 0444 "$dir/$name"
        echo "created deploy/secrets/$name"
    fi
done

for chain in solana tron; do
    file="$dir/keystore-$chain.json"
    if [ ! -e "$file" ]; then
        echo '{}' >"$file"
        chmod 0600 "$file"
        echo "created deploy/secrets/keystore-$chain.json (empty: add {\"$chain\": \"...\"} to withdraw)"
    fi
    if [ "$(id -u)" = 0 ]; then
        chown 10001:10001 "$file"
    elif [ "$(stat -c %u "$file")" != 10001 ]; then
        echo "run as root, or: sudo chown 10001:10001 $file"
    fi
done

file="$dir/bot-key.json"
if [ ! -e "$file" ]; then
    seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '{"principal": "bot", "private_key": "%s"}' "$seed" >"$file"
    chmod 0600 "$file"
    echo "created deploy/secrets/bot-key.json: list it in the roster with"
    echo "  walletflow principals add bot --public-key \"\$(walletflow keys public deploy/secrets/bot-key.json)\" --user tg:ID=ROLE"
fi
if [ "$(id -u)" = 0 ]; then
    chown 10001:10001 "$file"
fi

if [ ! -e "$root/.env" ]; then
    sed "s/^WALLETFLOW_DB_PASSWORD=\$/WALLETFLOW_DB_PASSWORD=$(random)/" \
        "$root/.env.example" >"$root/.env"
    chmod 0600 "$root/.env"
    echo "created .env from .env.example: set TELEGRAM_BOT_TOKEN and the TELEGRAM_* ids, review the rest"
fi
