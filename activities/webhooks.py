"""Webhook delivery: one long heartbeating activity per endpoint (`deliver_webhooks`, run in
rounds by `webhooks-{endpoint_id}`), so that history grows with rounds, not with events.

Each pass takes the deliveries due (of each ordering only its earliest pending one: a wallet's
events arrive in order), posts them concurrently with fresh Standard Webhooks signatures, and
records every outcome in one statement:
- 2xx: delivered.
- A 4xx other than 408/429, or a redirect: dead at once (the dead-letter store).
- Anything else (5xx, 408, 429, a timeout, a refused connection): retried with backoff
  (10 s doubling to 1 h; a 429's Retry-After is honoured), dead once the retry window (24 h
  from its first attempt) has passed.
A circuit breaker per endpoint: after BREAKER_FAILURES failures in a row nothing is attempted
until its cool-down ends (doubling up to BREAKER_MAX), then one delivery probes; a success
closes it. So a dead endpoint costs one attempt per cool-down, not one per event.

The loop wakes on NOTIFY when an event fans out to its endpoint, else when the next retry
comes due. The endpoint's secret is read from Postgres here and never leaves the activity.
Before each pass the host's addresses are checked again (DNS may have changed since `webhooks
add`): one that resolves inside the network gets nothing, the attempt counts as failed. And
each connection goes to an address its own resolution checked (`PinnedBackend`), so a name
that answers a public address to the check and a private one to the connection (DNS
rebinding) reaches nothing inside either.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from socket import SOCK_STREAM
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpcore
import httpx
from prometheus_client import Counter, Gauge
from pydantic import BaseModel
from temporalio import activity

from activities.heartbeat import heartbeating
from core import webhooks as rules
from core.webhooks import DeliveryResult, DeliveryState
from store import webhooks as store

DELIVERED = Counter("walletflow_webhooks_delivered_total", "Webhook deliveries delivered")
RETRIED = Counter("walletflow_webhooks_retried_total", "Webhook attempts that will be retried")
DEAD = Counter("walletflow_webhooks_dead_total", "Webhook deliveries dead-lettered")
OLDEST = Gauge(
    "walletflow_webhooks_oldest_undelivered_seconds",
    "Age of the oldest undelivered event, per endpoint",
    ["endpoint"],
)


class WebhookSettings(BaseModel):
    retry_hours: float = 24
    backoff_base_seconds: float = 10
    backoff_max_seconds: float = 3600
    timeout_seconds: float = 10
    batch: int = 100  # deliveries attempted per pass
    concurrency: int = 20  # requests in flight per endpoint
    breaker_failures: int = 5
    breaker_base_seconds: float = 5
    breaker_max_seconds: float = 600
    allow_insecure: bool = False  # dev: http and private addresses (WEBHOOKS_ALLOW_INSECURE)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpx's network backend, but a connection goes only to an address this backend
    resolved and found public: the name is resolved once per connection, every address it
    gives is checked, and the socket goes only to those, each in turn (TLS still verifies
    the name)."""

    def __init__(self) -> None:
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            rules.check_address(host)
            found = await asyncio.get_running_loop().getaddrinfo(host, port, type=SOCK_STREAM)
            addresses = [str(address[0]) for *_, address in found]
            for address in addresses:
                rules.check_address(address)
        except OSError as exc:
            raise httpcore.ConnectError("the host does not resolve") from exc
        except ValueError:
            raise httpcore.ConnectError("the host resolves to a private address") from None
        failure: Exception = httpcore.ConnectError("the host has no address")
        for address in dict.fromkeys(addresses):  # each in turn, as httpx would
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def pinned_transport() -> httpx.AsyncHTTPTransport:
    """httpx's transport with `PinnedBackend`, and no proxy from the environment (the
    connection must be the one checked)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx has no public setting for the network backend; its pool takes one.
    pool = transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    pool._network_backend = PinnedBackend()
    return transport


class WebhookActivities:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: WebhookSettings | None = None,
        sealer: store.Sealer | None = None,
    ) -> None:
        self.pool = pool
        self.settings = settings or WebhookSettings()
        self.sealer = sealer or store.Sealer()

    @activity.defn(name="deliver_webhooks")
    async def deliver_webhooks(self, state: DeliveryState) -> DeliveryResult:
        loop = DeliveryLoop(self.pool, self.settings, state.endpoint_id, self.sealer)
        loop.failures, loop.opened = state.failures, state.opened  # the breaker, as it was
        return await loop.run(state.round_seconds)


class DeliveryLoop:
    """One round of one endpoint's deliveries."""

    def __init__(
        self, pool: asyncpg.Pool, settings: WebhookSettings, endpoint_id: str, sealer: store.Sealer
    ) -> None:
        self.pool = pool
        self.sealer = sealer
        self.s = settings
        self.endpoint_id = endpoint_id
        self.result = DeliveryResult()
        self.woken = asyncio.Event()
        self.failures = 0  # in a row: the breaker opens at s.breaker_failures
        self.opened = 0  # times the breaker opened in a row (its cool-down doubles)
        self.closed_at = 0.0  # monotonic time the breaker allows attempts again

    async def run(self, seconds: float) -> DeliveryResult:
        deadline = time.monotonic() + seconds

        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            if payload == self.endpoint_id:
                self.woken.set()

        async with (
            self.pool.acquire() as conn,
            httpx.AsyncClient(
                timeout=self.s.timeout_seconds,
                follow_redirects=False,
                transport=None if self.s.allow_insecure else pinned_transport(),
            ) as http,
        ):
            # One loop per endpoint, whatever happens: an attempt Temporal retries while an
            # earlier one still runs (a lost heartbeat) waits here instead of sending twice.
            # The lock is the connection's: it goes with it, however the activity ends.
            while not await store.lock_endpoint(conn, self.endpoint_id):
                if time.monotonic() >= deadline:
                    return self.result
                activity.heartbeat(self.result.model_dump())
                await asyncio.sleep(1)
            await conn.add_listener(store.CHANNEL, heard)
            try:
                while time.monotonic() < deadline:
                    endpoint = await store.endpoint(self.pool, self.endpoint_id)
                    if endpoint is None:
                        self.result.ended = True
                        with contextlib.suppress(KeyError):
                            OLDEST.remove(self.endpoint_id)
                        break
                    worked = await heartbeating(self._pass(http, endpoint))
                    activity.heartbeat(self.result.model_dump())
                    if not worked:
                        await self._wait(deadline)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(store.CHANNEL, heard)
                with contextlib.suppress(Exception):
                    await store.unlock_endpoint(conn, self.endpoint_id)
        self.result.failures, self.result.opened = self.failures, self.opened
        return self.result

    async def _pass(self, http: httpx.AsyncClient, endpoint: asyncpg.Record) -> bool:
        """Attempt what is due; whether anything was (the loop then looks again at once)."""
        self.woken.clear()
        oldest = await store.oldest_pending(self.pool, self.endpoint_id)
        age = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
        OLDEST.labels(self.endpoint_id).set(max(0.0, age))
        if time.monotonic() < self.closed_at:
            return False
        half_open = self.failures >= self.s.breaker_failures
        batch = await store.due(self.pool, self.endpoint_id, 1 if half_open else self.s.batch)
        if not batch:
            return False
        self.result.passes += 1
        refusal = await self._private(endpoint["url"])
        if refusal is not None:  # its name points inside the network now: nothing is sent
            outcomes = [self._retry(d, None, refusal, None) for d in batch]
        else:
            gate = asyncio.Semaphore(self.s.concurrency)
            secrets_now = store.signing_secrets(endpoint, datetime.now(UTC), self.sealer)
            outcomes = await asyncio.gather(
                *(self._attempt(http, gate, endpoint["url"], secrets_now, d) for d in batch)
            )
        await store.settle(self.pool, self.endpoint_id, list(outcomes))
        if self._breaker(outcomes):  # back after failing: what waited on it is due now
            await store.due_now(self.pool, self.endpoint_id)
        return True

    async def _private(self, url: str) -> str | None:
        """Why `url`'s host may not be posted to now (it resolves to a private address: the
        check at `webhooks add` is re-done, as DNS can change), or None. The dev flag skips
        it."""
        if self.s.allow_insecure:
            return None
        host = urlsplit(url).hostname or ""
        try:
            rules.check_address(host)
            found = await asyncio.get_running_loop().getaddrinfo(host, 443, type=SOCK_STREAM)
            for *_, address in found:
                rules.check_address(str(address[0]))
        except OSError:
            return "its host does not resolve"
        except ValueError:
            return "its host resolves to a private address"
        return None

    async def _attempt(
        self,
        http: httpx.AsyncClient,
        gate: asyncio.Semaphore,
        url: str,
        secrets_now: list[str],
        due: store.Due,
    ) -> store.Outcome:
        body = rules.envelope(due.event_id, due.type, due.created_at, due.data)
        async with gate:
            timestamp = int(time.time())  # fresh on every attempt: receivers allow 5 minutes
            headers = rules.headers(secrets_now, due.event_id, timestamp, body)
            try:  # a receiver trickling its answer gets twice the timeout, all told
                post = http.post(url, content=body, headers=headers)
                resp = await asyncio.wait_for(post, 2 * self.s.timeout_seconds)
            except (httpx.HTTPError, TimeoutError) as exc:  # never the URL: it may hold a token
                return self._retry(due, None, type(exc).__name__, None)
        if 200 <= resp.status_code < 300:
            DELIVERED.inc()
            self.result.delivered += 1
            return store.Outcome(due.event_id, "delivered", resp.status_code)
        if rules.permanent(resp.status_code):
            DEAD.inc()
            self.result.dead += 1
            return store.Outcome(due.event_id, "dead", resp.status_code, f"HTTP {resp.status_code}")
        return self._retry(due, resp.status_code, f"HTTP {resp.status_code}", _retry_after(resp))

    def _retry(
        self, due: store.Due, status: int | None, error: str, after: float | None
    ) -> store.Outcome:
        wait = rules.backoff(due.attempts + 1, self.s.backoff_base_seconds,
                             self.s.backoff_max_seconds)  # fmt: skip
        if after is not None:
            wait = max(wait, timedelta(seconds=min(after, self.s.backoff_max_seconds)))
        now = datetime.now(UTC)
        if now + wait > due.first_at + timedelta(hours=self.s.retry_hours):
            DEAD.inc()
            self.result.dead += 1
            return store.Outcome(due.event_id, "dead", status, f"{error}; retried for "
                                 f"{self.s.retry_hours:g} h")  # fmt: skip
        RETRIED.inc()
        self.result.retried += 1
        return store.Outcome(due.event_id, "retry", status, error, now + wait)

    def _breaker(self, outcomes: list[store.Outcome]) -> bool:
        """Failures in a row open the breaker; a delivery (or a permanent answer: the endpoint
        is up) closes it, a delivery dead of old age does not. Whether the endpoint just came
        back from failing."""
        if any(o.result == "delivered" or (o.status and rules.permanent(o.status))
               for o in outcomes):  # fmt: skip
            recovered = self.failures > 0
            self.failures, self.opened, self.closed_at = 0, 0, 0.0
            return recovered
        self.failures += len(outcomes)
        if self.failures >= self.s.breaker_failures:
            cool = min(self.s.breaker_max_seconds, self.s.breaker_base_seconds * 2**self.opened)
            self.opened += 1
            self.closed_at = time.monotonic() + cool
            activity.logger.warning(
                "webhook endpoint %s failing: attempts paused %.0f s", self.endpoint_id, cool
            )
        return False

    async def _wait(self, deadline: float) -> None:
        """Until woken, the next retry is due, or the breaker's cool-down ends (at most the
        round's end, and at least a moment)."""
        until = deadline
        if time.monotonic() < self.closed_at:
            until = min(until, self.closed_at)
        else:
            nxt = await store.next_due(self.pool, self.endpoint_id)
            if nxt is not None:
                until = min(until, time.monotonic() + (nxt - datetime.now(UTC)).total_seconds())
        wait = min(max(0.05, until - time.monotonic()), 5.0)  # heartbeat at least every 5 s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.woken.wait(), wait)


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None
