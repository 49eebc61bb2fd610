"""Several RPC endpoints per chain: failover, a circuit breaker per endpoint, call counting.

Each chain module wraps its client library (solana-py's AsyncClient, tronpy's AsyncTron, an
httpx client for TronGrid) in an `Endpoints`; every RPC goes through `Endpoints.call`, which
tries the healthy endpoints in order and counts calls per method (the monitor's cost metric).
Re-sending a signed transaction to another endpoint is safe: the chain deduplicates it by its
signature / txID, so failover never turns into a second transfer.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from activities import metrics

C = TypeVar("C")
T = TypeVar("T")


class RpcUnavailable(Exception):
    """Every endpoint failed or is cooling down; the activity fails and Temporal retries it."""


@dataclass
class CircuitBreaker:
    """Open after `threshold` consecutive failures; let one probe through after `cooldown`."""

    threshold: int = 5
    cooldown: float = 15.0
    failures: int = 0
    opened_at: float | None = None

    def available(self, now: float) -> bool:
        return self.opened_at is None or now - self.opened_at >= self.cooldown

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now


@dataclass
class Endpoint(Generic[C]):
    url: str
    client: C
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


class Endpoints(Generic[C]):
    def __init__(
        self,
        chain: str,
        endpoints: list[Endpoint[C]],
        transient: tuple[type[BaseException], ...],
    ) -> None:
        if not endpoints:
            raise ValueError(f"no RPC endpoint configured for {chain}")
        self.chain = chain
        self.endpoints = endpoints
        self.transient = transient  # errors that mean "try another endpoint / later"
        self.calls: Counter[str] = Counter()

    @property
    def primary(self) -> C:
        return self.endpoints[0].client

    async def call(self, method: str, fn: Callable[[C], Awaitable[T]]) -> T:
        now = time.monotonic()
        candidates = [e for e in self.endpoints if e.breaker.available(now)] or self.endpoints
        last: BaseException | None = None
        for endpoint in candidates:
            self.calls[method] += 1
            started = time.monotonic()
            try:
                result = await fn(endpoint.client)
            except self.transient as exc:
                endpoint.breaker.failure(time.monotonic())
                metrics.rpc_error(self.chain, endpoint.url, method, type(exc).__name__)
                last = exc
                continue
            metrics.rpc_latency(self.chain, endpoint.url, method, time.monotonic() - started)
            endpoint.breaker.success()
            return result
        raise RpcUnavailable(f"{self.chain} {method}: every endpoint failed: {last!r}") from last
