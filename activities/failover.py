"""Several RPC endpoints per chain: failover, a circuit breaker per endpoint, call counting.

Each chain module wraps its client library (solana-py's AsyncClient, tronpy's AsyncTron, an
httpx client for TronGrid) in an `Endpoints`; every RPC goes through `Endpoints.call`, which
tries the healthy endpoints in order and counts calls per method (the monitor's cost metric).
Re-sending a signed transaction to another endpoint is safe: the chain deduplicates it by its
signature / txID, so failover never turns into a second transfer.

Provider URLs often carry an API key (`https://mainnet.helius-rpc.com/?api-key=…`,
`https://x.quiknode.pro/<key>/`), and client libraries put the request URL into their error
messages: texts meant for people (errors, logs) name an endpoint by its `label` and an error by
its class and HTTP status, never by the URL or the library's message.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from activities import metrics
from chains.quorum import independent

C = TypeVar("C")
T = TypeVar("T")


class Shared(Generic[T]):
    """A value fetched at most once per `ttl` seconds and shared by every caller meanwhile:
    concurrent callers wait for the one fetch instead of each making it."""

    def __init__(self, ttl: float, fetch: Callable[[], Awaitable[T]]) -> None:
        self.ttl = ttl
        self._fetch = fetch
        self._value: tuple[float, T] | None = None  # (fetched at, value)
        self._lock = asyncio.Lock()

    async def get(self) -> T:
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._value is None or now - self._value[0] > self.ttl:
                self._value = (now, await self._fetch())
            return self._value[1]


class RpcUnavailable(Exception):
    """Every endpoint failed or is cooling down; the activity fails and Temporal retries it.
    Its text names endpoints by label and carries no cause: Temporal records an activity
    failure's causes, whose messages may hold a provider URL and its key."""


class ProviderRefused(Exception):
    """A provider refused the call for reasons of its own (API key missing or wrong, rate limit,
    quota used up) in an answer that is not an HTTP error: another provider may answer.
    The message is one of ours, never the provider's text."""


# A provider saying no to this client, not to the call: another provider (or later) may answer.
REFUSAL_STATUSES = frozenset({401, 403, 429})


def status_of(exc: BaseException | None) -> int | None:
    """The HTTP status of a response somewhere in `exc`'s causes (client libraries wrap it)."""
    while exc is not None:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        exc = exc.__cause__ or exc.__context__
    return None


def describe(exc: BaseException) -> str:
    """`exc` in words that cannot carry a URL: its class (and its cause's), the HTTP status,
    and our own text for a ProviderRefused."""
    names = [type(exc).__name__]
    cause = exc.__cause__ or exc.__context__
    if cause is not None and type(cause).__name__ not in names:
        names.append(type(cause).__name__)
    text = " from ".join(names)
    if (status := status_of(exc)) is not None:
        text += f" HTTP {status}"
    if isinstance(exc, ProviderRefused):
        text += f": {exc}"
    return text


@dataclass
class CircuitBreaker:
    """Open after `threshold` consecutive failures; after `cooldown`, half-open: one probe
    call at a time is let through (the next one `cooldown` later if its outcome never came
    back), a success closes it, a failure opens it for another `cooldown`."""

    threshold: int = 5
    cooldown: float = 15.0
    failures: int = 0
    opened_at: float | None = None
    probe_at: float | None = None  # when the current half-open probe was let through

    def available(self, now: float) -> bool:
        """Whether a call may go to this endpoint now; when half-open, True lets one probe
        through (the caller is expected to make the call)."""
        if self.opened_at is None:
            return True
        if now - self.opened_at < self.cooldown:
            return False
        if self.probe_at is not None and now - self.probe_at < self.cooldown:
            return False  # a probe is out; concurrent calls keep to the other endpoints
        self.probe_at = now
        return True

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probe_at = None

    def failure(self, now: float) -> None:
        self.failures += 1
        self.probe_at = None
        if self.failures >= self.threshold:
            self.opened_at = now


@dataclass
class Endpoint(Generic[C]):
    url: str  # may hold an API key: for the client only, never for a text
    client: C
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    # What texts call it, set by Endpoints: "solana#1 (mainnet.helius-rpc.com)", host[:port].
    label: str = field(default="", init=False)


class Endpoints(Generic[C]):
    def __init__(
        self,
        chain: str,
        endpoints: list[Endpoint[C]],
        transient: tuple[type[BaseException], ...],
        *,
        rounds: int = 4,
    ) -> None:
        if not endpoints:
            raise ValueError(f"no RPC endpoint configured for {chain}")
        self.chain = chain
        self.endpoints = endpoints
        for n, endpoint in enumerate(endpoints, 1):
            endpoint.label = f"{chain}#{n} ({metrics.endpoint_label(endpoint.url)})"
        self.transient = transient  # errors that mean "try another endpoint / later"
        self.rounds = rounds  # passes over the endpoints before a call fails
        self.calls: Counter[str] = Counter()  # attempts per method, retries included

    def provider_failed(self, exc: BaseException) -> bool:
        """Whether `exc` is the endpoint's failure rather than the call's: try another one.
        A refusal (401, 403, 429, ProviderRefused) is one whatever the chain's `transient`."""
        refused = isinstance(exc, ProviderRefused) or status_of(exc) in REFUSAL_STATUSES
        return refused or isinstance(exc, self.transient)

    @property
    def primary(self) -> C:
        return self.endpoints[0].client

    def independent(self) -> list[Endpoint[C]]:
        """One endpoint per provider (host:port), in failover order: the ones whose answers
        count separately in a quorum (chains/quorum.py)."""
        return [self.endpoints[i] for i in independent(e.url for e in self.endpoints)]

    async def call_on(
        self, endpoint: Endpoint[C], method: str, fn: Callable[[C], Awaitable[T]]
    ) -> T:
        """`fn` on this endpoint only, once: for a quorum, where each provider's own answer is
        wanted and no other may stand in for it. Counted and measured like `call`; its
        errors are raised (the caller counts that provider as not agreeing)."""
        self.calls[method] += 1
        started = time.monotonic()
        try:
            result = await fn(endpoint.client)
        except Exception as exc:
            if self.provider_failed(exc):
                endpoint.breaker.failure(time.monotonic())
                metrics.rpc_error(self.chain, endpoint.url, method, type(exc).__name__)
            raise
        metrics.rpc_latency(self.chain, endpoint.url, method, time.monotonic() - started)
        endpoint.breaker.success()
        return result

    async def call(self, method: str, fn: Callable[[C], Awaitable[T]]) -> T:
        """`fn` on the first healthy endpoint that answers. Providers answer a share of calls
        with 429 or 5xx as a matter of course, so each call gets a few rounds over the
        endpoints (short backoff, honouring Retry-After) before the activity fails: an
        activity making a hundred calls would otherwise almost never succeed."""
        return (await self.call_at(method, fn))[0]

    async def call_at(self, method: str, fn: Callable[[C], Awaitable[T]]) -> tuple[T, str]:
        """`call`, and the label of the endpoint that answered: a proof built from two reads
        (a head, then a lookup) holds only if one node gave both."""
        last: BaseException | None = None
        failed: dict[str, str] = {}  # label -> its latest error, described
        for round_ in range(self.rounds):
            if round_:
                await asyncio.sleep(min(_retry_after(last) or 0.25 * 2 ** (round_ - 1), 5.0))
            now = time.monotonic()
            candidates = [e for e in self.endpoints if e.breaker.available(now)] or self.endpoints
            for endpoint in candidates:
                self.calls[method] += 1
                started = time.monotonic()
                try:
                    result = await fn(endpoint.client)
                except Exception as exc:
                    if not self.provider_failed(exc):
                        raise
                    endpoint.breaker.failure(time.monotonic())
                    metrics.rpc_error(self.chain, endpoint.url, method, type(exc).__name__)
                    failed[endpoint.label] = describe(exc)
                    last = exc
                    continue
                metrics.rpc_latency(self.chain, endpoint.url, method, time.monotonic() - started)
                endpoint.breaker.success()
                return result, endpoint.label
        errors = "; ".join(f"{label}: {error}" for label, error in failed.items())
        # No `from last`: its message may hold the URL (see RpcUnavailable).
        raise RpcUnavailable(f"{self.chain} {method}: every endpoint failed ({errors})") from None


def _retry_after(exc: BaseException | None) -> float | None:
    """The Retry-After of an HTTP 429 somewhere in `exc`'s causes (client libraries wrap it)."""
    while exc is not None:
        response = getattr(exc, "response", None)
        if getattr(response, "status_code", None) == 429:
            try:
                return float(response.headers.get("Retry-After", ""))  # type: ignore[union-attr]
            except ValueError:
                return None
        exc = exc.__cause__ or exc.__context__
    return None
