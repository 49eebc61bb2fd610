#!/bin/sh
# Prepares everything docker-compose.yml mounts as a secret, and .env; run from anywhere, as
# root (to give each file to the container user that reads it), on the deployment host. It never
# overwrites a file: run it again after an upgrade to add what is new; delete a file to have it
# made anew (a certificate: see "TLS" below). Needs openssl.
#
# deploy/secrets/ (mode 0700; git-ignored, outside the Docker build context):
#   postgres_password, temporal_db_password, grafana_admin_password, walletflow_db_password
#       random passwords, 0444 (several container users read them; no host user but root gets
#       into the directory). walletflow_db_password is taken from an old .env's
#       WALLETFLOW_DB_PASSWORD when there is one (the role exists with it).
#   walletflow_pgpass
#       the same walletflow password as a libpq passfile line (DATABASE_URL ?passfile=).
#   keystore-{solana,tron}.json
#       hot-wallet key files, created as {} (monitoring works, withdrawals refuse to sign until
#       a key is added).
#   bot-key.json
#       the bot's signing key (principal "bot", a random Ed25519 seed); an admin lists it in
#       the roster (see the README).
#   telegram_bot_token, tron_api_key, jupiter_api_key, coingecko_api_key
#       the bot token from @BotFather (write it in; the bot and worker-notify refuse to start on
#       an empty file) and the optional TronGrid key; taken from an old .env when set there.
#   codec_keys
#       the payload encryption key ring, one KEY_ID:BASE64 line (32 random bytes, id kYYYYMMDD).
#       Losing it makes every encrypted history unreadable: back it up (docs/operations.md §10).
#   codec_server_token
#       the codec server's bearer token (the Web UI's /login, `temporal --codec-auth`).
#   tls/ca.pem, tls/ca.key
#       a private CA (ECDSA P-256, 10 years). ca.key is mounted nowhere: after the certificates
#       below exist, move it offline; it is needed only to issue or renew one.
#   tls/temporal.{pem,key}         the Temporal server (DNS:temporal; serverAuth + clientAuth,
#                                  for internode mTLS), key owned by uid 1000
#   tls/temporal-admin.{pem,key}   client: the admin one-shots and operators' `temporal` CLI
#                                  (uid 1000)
#   tls/temporal-ui.{pem,key}      client: the Web UI (uid 5000)
#   tls/walletflow.{pem,key}       client: walletflow's workers, bot and setup (uid 10001)
#       825 days; to renew one, delete its .pem and .key and run this again (with ca.key back).
#
# Owners: 10001 is the walletflow image's user, 1000 the temporalio server and admin-tools
# images', 5000 the temporalio/ui image's. Keys and tokens are 0600, owned by that uid; not run
# as root, the script prints the chown commands still needed.
#
# .env: from .env.example (settings only: it holds no secret).
set -eu

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
dir="$root/deploy/secrets"
tls="$dir/tls"
env_file="$root/.env"

WALLETFLOW_UID=10001
TEMPORAL_UID=1000
UI_UID=5000

command -v openssl >/dev/null || {
    echo "init-secrets: openssl is required (apt-get install openssl)" >&2
    exit 1
}

umask 077
mkdir -p "$dir" "$tls"
chmod 0700 "$dir" "$tls"

pending=""
# own UID FILE: the container user that reads FILE owns it.
own() {
    if [ "$(id -u)" = 0 ]; then
        chown "$1:$1" "$2"
    elif [ "$(stat -c %u "$2")" != "$1" ]; then
        pending="$pending
  chown $1:$1 $2"
    fi
}

random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# from_env NAME: the value of NAME in an existing .env (quotes stripped), else nothing.
from_env() {
    [ -f "$env_file" ] || return 0
    sed -n "s/^$1=//p" "$env_file" | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}

# ---- passwords ----------------------------------------------------------------------------

for name in postgres_password temporal_db_password grafana_admin_password walletflow_db_password; do
    file="$dir/$name"
    if [ ! -e "$file" ]; then
        value=""
        if [ "$name" = walletflow_db_password ]; then
            value=$(from_env WALLETFLOW_DB_PASSWORD)
        fi
        if [ -n "$value" ]; then
            printf '%s' "$value" >"$file"
            echo "created deploy/secrets/$name from .env: now delete WALLETFLOW_DB_PASSWORD from .env"
        else
            random >"$file"
            echo "created deploy/secrets/$name"
        fi
        chmod 0444 "$file"
    fi
done

file="$dir/walletflow_pgpass"
password=$(cat "$dir/walletflow_db_password")
if [ ! -e "$file" ]; then
    case $password in
        *[!A-Za-z0-9._~-]*)
            echo "init-secrets: walletflow_db_password may hold only letters, digits and ._~-" >&2
            exit 1
            ;;
    esac
    # host:port:database:user:password
    printf '*:*:walletflow:walletflow:%s\n' "$password" >"$file"
    chmod 0600 "$file"
    echo "created deploy/secrets/walletflow_pgpass"
elif [ "$(cut -d: -f5- "$file" | head -n 1)" != "$password" ]; then
    echo "WARNING: deploy/secrets/walletflow_pgpass and walletflow_db_password differ"
fi
own "$WALLETFLOW_UID" "$file"

# ---- walletflow's keys and tokens -----------------------------------------------------------

for chain in solana tron; do
    file="$dir/keystore-$chain.json"
    if [ ! -e "$file" ]; then
        # The deposit addresses' seed is made here, once: losing it loses their keys.
        seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
        printf '{"deposit_seed": "%s"}\n' "$seed" >"$file"
        chmod 0600 "$file"
        echo "created deploy/secrets/keystore-$chain.json (add {\"$chain\": \"...\"} to withdraw; back up its deposit_seed)"
    fi
    own "$WALLETFLOW_UID" "$file"
done

file="$dir/bot-key.json"
if [ ! -e "$file" ]; then
    seed=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '{"principal": "bot", "private_key": "%s"}' "$seed" >"$file"
    chmod 0600 "$file"
    echo "created deploy/secrets/bot-key.json: list it in the roster with"
    echo "  walletflow principals add bot --public-key \"\$(walletflow keys public deploy/secrets/bot-key.json)\" --user tg:ID=ROLE"
fi
own "$WALLETFLOW_UID" "$file"

for pair in telegram_bot_token:TELEGRAM_BOT_TOKEN tron_api_key:TRON_API_KEY \
    jupiter_api_key:JUPITER_API_KEY coingecko_api_key:COINGECKO_API_KEY; do
    name=${pair%%:*}
    variable=${pair#*:}
    file="$dir/$name"
    if [ ! -e "$file" ]; then
        value=$(from_env "$variable")
        printf '%s' "$value" >"$file"
        chmod 0600 "$file"
        if [ -n "$value" ]; then
            echo "created deploy/secrets/$name from .env: now delete $variable from .env"
        elif [ "$name" = telegram_bot_token ]; then
            echo "created deploy/secrets/telegram_bot_token, empty: write the token from @BotFather into it"
        else
            echo "created deploy/secrets/$name, empty (optional)"
        fi
    fi
    own "$WALLETFLOW_UID" "$file"
done

file="$dir/codec_keys"
if [ ! -e "$file" ]; then
    printf 'k%s:%s\n' "$(date -u +%Y%m%d)" "$(openssl rand -base64 32)" >"$file"
    chmod 0600 "$file"
    echo "created deploy/secrets/codec_keys: back it up; without it encrypted histories are unreadable"
fi
own "$WALLETFLOW_UID" "$file"

file="$dir/codec_server_token"
if [ ! -e "$file" ]; then
    random >"$file"
    chmod 0600 "$file"
    echo "created deploy/secrets/codec_server_token (the codec server's /login asks for it)"
fi
own "$WALLETFLOW_UID" "$file"

# ---- TLS: a private CA, the Temporal server's certificate, one client certificate each -------

cnf=$(mktemp)
csr=$(mktemp)
log=$(mktemp)
trap 'rm -f "$cnf" "$csr" "$log"' EXIT
# quiet COMMAND...: openssl's chatter only when it fails.
quiet() {
    if ! "$@" 2>"$log"; then
        cat "$log" >&2
        exit 1
    fi
}
cat >"$cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = walletflow
[ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:temporal,DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
CNF

if [ ! -e "$tls/ca.pem" ]; then
    quiet openssl req -x509 -new -config "$cnf" -extensions ca -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 3650 \
        -subj "/O=walletflow/CN=walletflow deployment CA" \
        -keyout "$tls/ca.key" -out "$tls/ca.pem"
    chmod 0400 "$tls/ca.key"
    chmod 0444 "$tls/ca.pem"
    echo "created deploy/secrets/tls/ca.pem and ca.key (move ca.key offline once the certificates exist)"
fi

# issue NAME CN server|client UID
issue() {
    if [ -e "$tls/$1.pem" ]; then
        if [ -e "$tls/$1.key" ]; then own "$4" "$tls/$1.key"; fi
        return 0
    fi
    if [ ! -e "$tls/ca.key" ]; then
        echo "init-secrets: deploy/secrets/tls/ca.key is not here: put it back to issue $1.pem" >&2
        exit 1
    fi
    quiet openssl req -new -config "$cnf" -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -subj "/O=walletflow/CN=$2" -keyout "$tls/$1.key" -out "$csr"
    quiet openssl x509 -req -in "$csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -set_serial "0x$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        -sha256 -days 825 -extfile "$cnf" -extensions "$3" -out "$tls/$1.pem"
    chmod 0600 "$tls/$1.key"
    chmod 0444 "$tls/$1.pem"
    own "$4" "$tls/$1.key"
    echo "created deploy/secrets/tls/$1.pem ($3 certificate, CN=$2) and $1.key"
}

issue temporal temporal server "$TEMPORAL_UID"
issue temporal-admin temporal-admin client "$TEMPORAL_UID"
issue temporal-ui temporal-ui client "$UI_UID"
issue walletflow walletflow client "$WALLETFLOW_UID"

# ---- .env -----------------------------------------------------------------------------------

if [ ! -e "$env_file" ]; then
    cp "$root/.env.example" "$env_file"
    chmod 0600 "$env_file"
    echo "created .env from .env.example: set the TELEGRAM_* ids, review the rest"
fi
for variable in WALLETFLOW_DB_PASSWORD TELEGRAM_BOT_TOKEN TRON_API_KEY WALLETFLOW_CODEC_SERVER_TOKEN TEMPORAL_API_KEY; do
    if [ -n "$(from_env "$variable")" ]; then
        echo "WARNING: .env sets $variable: delete it there (every walletflow container reads .env)"
    fi
done

if [ -n "$pending" ]; then
    echo "Not run as root: the containers cannot read their files until you run, as root:$pending"
fi
