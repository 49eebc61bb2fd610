#!/bin/sh
# The temporal-namespace one-shot of docker-compose.yml (temporalio/admin-tools, once the server
# is healthy): registers WALLETFLOW_NAMESPACE with WALLETFLOW_NAMESPACE_RETENTION (a Go
# duration) if it does not exist. Idempotent: an existing namespace is left as it is (change its
# retention with `temporal operator namespace update --retention`).
#
# Over mTLS, as the admin client (deploy/secrets/tls/temporal-admin.pem).
set -eu

: "${TEMPORAL_ADDRESS:=temporal:7233}"
: "${WALLETFLOW_NAMESPACE:=default}"
: "${WALLETFLOW_NAMESPACE_RETENTION:=720h}"

temporal_cli() {
    temporal --address "$TEMPORAL_ADDRESS" --tls \
        --tls-ca-path /run/secrets/temporal_ca.pem \
        --tls-cert-path /run/secrets/temporal_admin.pem \
        --tls-key-path /run/secrets/temporal_admin.key \
        --tls-server-name temporal \
        "$@"
}

if temporal_cli operator namespace describe --namespace "$WALLETFLOW_NAMESPACE" >/dev/null 2>&1; then
    echo "temporal-namespace: $WALLETFLOW_NAMESPACE exists"
    exit 0
fi
# Create; if that fails, it may be that another run created it meanwhile: describe decides.
if temporal_cli operator namespace create --namespace "$WALLETFLOW_NAMESPACE" \
    --retention "$WALLETFLOW_NAMESPACE_RETENTION" \
    --description "walletflow workflows"; then
    echo "temporal-namespace: $WALLETFLOW_NAMESPACE created (retention $WALLETFLOW_NAMESPACE_RETENTION)"
    exit 0
fi
temporal_cli operator namespace describe --namespace "$WALLETFLOW_NAMESPACE" >/dev/null
echo "temporal-namespace: $WALLETFLOW_NAMESPACE exists"
