"""walletflow's own Prometheus metrics (the Temporal SDK exports its runtime metrics beside).

Served with the SDK's on each process's WALLETFLOW_METRICS_PORT (starter.runtime.health). Counters
count effects, not attempts, where a retry could repeat them: events once they are new in the
ledger, notifications by what became of each send.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from urllib.parse import urlsplit

from prometheus_client import Counter, Histogram

RPC_LATENCY = Histogram(
    "walletflow_rpc_latency_seconds", "RPC latency by endpoint", ["chain", "endpoint", "method"]
)
RPC_ERRORS = Counter(
    "walletflow_rpc_errors_total",
    "RPC errors by endpoint",
    ["chain", "endpoint", "method", "error"],
)
EVENTS = Counter("walletflow_events_detected_total", "Wallet events detected", ["chain", "asset"])
NOTIFICATIONS = Counter(
    "walletflow_notifications_total",
    "Notification attempts by outcome: sent, retried (refused or never sent, Temporal retries "
    "it), unknown (may have been delivered; never re-sent), failed (Telegram refused it for "
    "good), duplicate (already handled under its dedupe key)",
    ["outcome"],
)
WITHDRAWALS = Counter(
    "walletflow_withdrawals_total", "Withdrawals reaching a status", ["chain", "status"]
)
POKES = Counter(
    "walletflow_trigger_pokes_total", "Monitor workflows poked by the trigger", ["chain"]
)
SEEN = Counter(
    "walletflow_push_signals_total", "Monitor workflows told of early (pushed) news", ["chain"]
)


@cache
def endpoint_label(url: str) -> str:
    """host[:port] of an RPC URL: provider URLs often carry an API key in the path, query or
    user part, and a metric label is readable by anyone who can read the dashboards."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return "?"


def rpc_latency(chain: str, endpoint: str, method: str, seconds: float) -> None:
    RPC_LATENCY.labels(chain, endpoint_label(endpoint), method).observe(seconds)


def rpc_error(chain: str, endpoint: str, method: str, error: str) -> None:
    RPC_ERRORS.labels(chain, endpoint_label(endpoint), method, error).inc()


def events_detected(chain: str, symbols: Iterable[str]) -> None:
    for symbol in symbols:
        EVENTS.labels(chain, symbol).inc()


def notification(outcome: str) -> None:
    NOTIFICATIONS.labels(outcome).inc()
