"""Price alerts' side effects: their rows, their slow reconcile, and each provider's price-watch
loop.

The loop (`watch_prices`, one long heartbeating activity per provider, run in rounds by
`prices-{queue}-{provider}`) keeps every registered watch of its provider in a `WatchIndex`,
fetches the prices of every watched asset in batches each poll, and signals `price` to exactly
the alerts whose watch the new price meets. Watches come from Postgres, first all of them,
then each one that changes (LISTEN/NOTIFY), and all again every RESYNC_SECONDS. A stale price
fires nothing. The loop only makes alerts fast: each alert reconciles on its own slow timer.

Failover: when the provider fails, or has no fresh price for a watched asset, the loop asks the
asset's other providers (each watch names them) in batches, and the watches are met on their
prices; a provider that is up costs nothing more.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from decimal import Decimal

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.heartbeat import heartbeating
from activities.prices import Price, PriceProvider, counting
from core.alerts import (
    MAX_WINDOW_SECONDS,
    AlertWatch,
    PriceQuery,
    PriceTick,
    PriceWatchResult,
    PriceWatchState,
    RegisterAlert,
    WatchChange,
    WatchIndex,
)
from store import alerts as store

RESYNC_SECONDS = 300.0  # every watch is read again this often, besides each NOTIFY
SIGNALS_AT_ONCE = 50  # concurrent signal calls of one poll


class PriceHistory:
    """The prices of the assets that have move alerts, one per poll, as far back as their
    longest window (a day at most): the reference of a move is the oldest price within its
    window, from when the loop started watching it."""

    def __init__(self) -> None:
        self._points: dict[str, deque[tuple[float, Decimal]]] = {}

    def add(self, price_id: str, at: float, price: Decimal, keep: int) -> None:
        """One more price; what is older than `keep` seconds (the longest window watched on
        this asset now) goes."""
        points = self._points.setdefault(price_id, deque())
        points.append((at, price))
        while points and points[0][0] < at - min(keep, MAX_WINDOW_SECONDS):
            points.popleft()

    def reference(self, price_id: str, window: int, now: float) -> Decimal | None:
        for at, price in self._points.get(price_id, ()):
            if at >= now - window:
                return price
        return None


class AlertActivities:
    def __init__(
        self, pool: asyncpg.Pool, client: Client, providers: dict[str, PriceProvider]
    ) -> None:
        self.pool = pool
        self.client = client
        self.providers = providers

    @activity.defn(name="register_alert")
    async def register_alert(self, reg: RegisterAlert) -> None:
        await store.save_alert(
            self.pool,
            reg.status,
            chain=reg.asset.chain,
            description=reg.description,
            watch=reg.watch,
            version=reg.version,
        )

    @activity.defn(name="register_watches")
    async def register_watches(self, change: WatchChange) -> None:
        """A workflow's own watches (a position's take-profit and stop-loss)."""
        await store.save_watches(self.pool, change.watches, change.dropped)

    @activity.defn(name="usd_price")
    async def usd_price(self, query: PriceQuery) -> list[PriceTick]:
        """The provider's fresh price of one asset now, or the first fallback's, or nothing
        (unknown or stale everywhere). Raises only when no provider answered at all."""
        failure: Exception | None = None
        answered = False  # some provider answered: the price is unknown or stale, not lost
        for provider, price_id in {query.provider: query.price_id, **query.fallback}.items():
            if provider not in self.providers:
                continue
            try:
                price = (await self.providers[provider].prices([price_id])).get(price_id)
            except Exception as exc:  # failover: the next provider
                failure = failure or exc
                continue
            if price is not None and not price.stale:
                return [PriceTick(price=str(price.usd), at=time.time())]
            answered = True
        if failure is not None and not answered:
            raise failure
        return []

    @activity.defn(name="refresh_alert")
    async def refresh_alert(self, reg: RegisterAlert) -> list[PriceTick]:
        """Register again, and the provider's price now unless it is stale or unknown."""
        await self.register_alert(reg)
        asset = reg.asset
        return await self.usd_price(
            PriceQuery(provider=asset.provider, price_id=asset.price_id, fallback=asset.fallback)
        )

    @activity.defn(name="forget_alert")
    async def forget_alert(self, workflow_id: str) -> None:
        await store.forget_workflow(self.pool, workflow_id)

    @activity.defn(name="watch_prices")
    async def watch_prices(self, state: PriceWatchState) -> PriceWatchResult:
        loop = PriceWatchLoop(self, state)
        return await loop.run(state.round_seconds)


class PriceWatchLoop:
    """One round of one provider's loop."""

    def __init__(self, acts: AlertActivities, state: PriceWatchState) -> None:
        self.acts = acts
        self.provider = acts.providers[state.provider]
        self.name = state.provider
        self.poll = state.poll_seconds
        self.index = WatchIndex()
        self.history = PriceHistory()
        self.changed: set[str] = set()
        self.result = PriceWatchResult()

    async def run(self, seconds: float) -> PriceWatchResult:
        deadline = time.monotonic() + seconds

        def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            provider, _, watch_id = payload.partition(" ")
            if provider == self.name:
                self.changed.add(watch_id)

        async with self.acts.pool.acquire() as conn:
            await conn.add_listener(store.WATCHES_CHANNEL, heard)
            try:
                resynced = 0.0
                while time.monotonic() < deadline:
                    started = time.monotonic()
                    if started - resynced > RESYNC_SECONDS:
                        await self._resync()
                        resynced = started
                    await self._take_changes()
                    await self._poll()
                    activity.heartbeat(self.result.model_dump())
                    await asyncio.sleep(max(0.0, started + self.poll - time.monotonic()))
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(store.WATCHES_CHANNEL, heard)
        return self.result

    async def _resync(self) -> None:
        self.changed.clear()
        found = await store.watches(self.acts.pool, self.name)
        now = time.time()
        listed = {w.key for w in found}
        for gone in set(self.index.watches) - listed:
            self.index.forget(gone)
        for watch in found:
            self.index.arm(watch, now)

    async def _take_changes(self) -> None:
        changed, self.changed = self.changed, set()
        now = time.time()
        for watch_id in changed:
            watch = await store.watch(self.acts.pool, watch_id)
            if watch is None:
                self.index.forget(watch_id)
            else:
                self.index.arm(watch, now)

    async def _poll(self) -> None:
        self.index.unpark(time.time())
        ids = self.index.price_ids()
        self.result.watched = len(self.index)
        if not ids:
            return
        prices: dict[str, Price] = {}
        with counting() as calls:
            try:
                prices = await heartbeating(self.provider.prices(ids))
                self.result.polls += 1
            except Exception as exc:  # the others are asked below; the next poll tries again
                self.result.errors += 1
                activity.logger.warning("%s prices failed: %s", self.name, type(exc).__name__)
        self.result.calls += calls[0]
        self.result.calls_per_poll_max = max(self.result.calls_per_poll_max, calls[0])
        missing = [i for i in ids if i not in prices or prices[i].stale]
        if missing:
            prices |= await self._failover(missing)
        now = time.time()
        met: list[tuple[AlertWatch, PriceTick]] = []
        for price_id, price in prices.items():
            if price.stale:
                continue  # a stale price fires nothing
            windows = self.index.windows(price_id)
            refs: dict[int, Decimal | None] = {}
            if windows:
                self.history.add(price_id, now, price.usd, keep=max(windows))
                refs = {w: self.history.reference(price_id, w, now) for w in windows}
            for watch in self.index.met(price_id, price.usd, refs):
                ref = refs.get(watch.window_seconds) if watch.window_seconds else None
                tick = PriceTick(
                    price=str(price.usd), at=now, reference=_text(ref), watch_id=watch.watch_id
                )
                met.append((watch, tick))
        if met:
            gate = asyncio.Semaphore(SIGNALS_AT_ONCE)
            await asyncio.gather(*(self._signal(gate, w, t) for w, t in met))

    async def _failover(self, missing: list[str]) -> dict[str, Price]:
        """Fresh prices of `missing` ids from the first other provider each watch names (one
        batched call per provider), keyed by this provider's ids."""
        wanted: dict[str, dict[str, str]] = {}  # provider -> its id -> our id
        for price_id in missing:
            for other, other_id in self.index.fallback(price_id).items():
                if other in self.acts.providers and other != self.name:
                    wanted.setdefault(other, {})[other_id] = price_id
                    break
        found: dict[str, Price] = {}
        for other, ids in wanted.items():
            with counting() as calls:
                try:
                    got = await heartbeating(self.acts.providers[other].prices(list(ids)))
                except Exception as exc:
                    self.result.errors += 1
                    activity.logger.warning("failover to %s failed: %s", other,
                                            type(exc).__name__)  # fmt: skip
                    got = {}
            self.result.failover_calls += calls[0]
            for other_id, price_id in ids.items():
                price = got.get(other_id)
                if price is not None and not price.stale:
                    found[price_id] = price
        self.result.failover_prices += len(found)
        return found

    async def _signal(self, gate: asyncio.Semaphore, watch: AlertWatch, tick: PriceTick) -> None:
        async with gate:
            try:
                await self.acts.client.get_workflow_handle(watch.workflow_id).signal("price", tick)
                self.result.signals += 1
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:  # it ended, its watches left behind
                    self.index.forget(watch.key)
                    await store.forget_workflow(self.acts.pool, watch.workflow_id)
                    return
                self.result.errors += 1
                self.index.forget(watch.key)  # not reported after all: watch it again
                self.index.arm(watch, time.time())


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None
