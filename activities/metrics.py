"""walletflow's own Prometheus metrics (the Temporal SDK exports its runtime metrics beside)."""

from __future__ import annotations

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
    "walletflow_notifications_total", "Notification attempts by outcome", ["outcome"]
)
WITHDRAWALS = Counter(
    "walletflow_withdrawals_total", "Withdrawals reaching a status", ["chain", "status"]
)
POKES = Counter(
    "walletflow_trigger_pokes_total", "Monitor workflows poked by the trigger", ["chain"]
)


def rpc_latency(chain: str, endpoint: str, method: str, seconds: float) -> None:
    RPC_LATENCY.labels(chain, endpoint, method).observe(seconds)


def rpc_error(chain: str, endpoint: str, method: str, error: str) -> None:
    RPC_ERRORS.labels(chain, endpoint, method, error).inc()
