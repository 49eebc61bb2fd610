"""Monitor activities: read a wallet's new events from its chain and ledger them.

The class is chain-neutral; the worker of each chain's task queue injects that chain's
`ChainReader`, so a monitor workflow's activities always run against its own chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from temporalio import activity

from activities import metrics
from activities.heartbeat import heartbeating
from activities.prices import Valuer
from core.models import DroppedEvents, FetchRequest, FetchResult, WalletEvent, WalletRef
from core.webhooks import wallet_events
from store import wallets, webhooks

PAGE_EVENTS = 200  # cap on events per fetch, so one activity result stays small


@dataclass
class ReadResult:
    events: list[WalletEvent]
    cursor: dict[str, Any]
    more: bool
    final_block: int
    watch_keys: list[str] = field(default_factory=list)  # accounts the trigger should check


class ChainReader(Protocol):
    """Reads one chain for the monitor; implemented in activities/<chain>/adapters.py."""

    chain: str

    async def initial_cursor(
        self, address: str, assets: list[str] | None
    ) -> tuple[dict[str, Any], dict[str, str | None]]:
        """A cursor at "now" (history before watching is not reported) and the accounts the
        trigger should check for changes in `assets` (None: every listed asset), each with
        its fingerprint as of a moment no later than the cursor (None: unknown; the trigger
        then treats its first sight as a change)."""
        ...

    async def read(
        self,
        address: str,
        cursor: dict[str, Any],
        *,
        limit: int,
        min_block: int | None = None,
        early: bool = False,
    ) -> ReadResult:
        """Finalized events after `cursor`, oldest first, at most about `limit` of them.
        With `min_block`, `final_block` must report the chain's newest finalized block.
        `early`: also the events not final yet (Solana confirmed, TRON head block with a
        SUCCESS receipt); such a read is only a glimpse: its cursor is not kept."""
        ...


def wanted_assets(ref: WalletRef) -> list[str] | None:
    """The assets any subscriber cares about; None when one of them wants everything."""
    if any(s.assets is None for s in ref.subscribers) or not ref.subscribers:
        return None
    return sorted({a for s in ref.subscribers for a in s.assets or []})


class Crediting(Protocol):
    async def credit(self, events: list[WalletEvent]) -> None:
        """Credit the final events that are deposits (activities/sweeps.py)."""
        ...


class MonitorActivities:
    def __init__(
        self,
        reader: ChainReader,
        pool: asyncpg.Pool,
        valuer: Valuer | None = None,
        deposits: Crediting | None = None,
    ) -> None:
        self.reader = reader
        self.pool = pool
        self.valuer = valuer  # USD values for the messages (best effort)
        self.deposits = deposits

    async def _valued(self, events: list[WalletEvent]) -> list[WalletEvent]:
        return await self.valuer.annotate(events) if self.valuer and events else events

    @activity.defn(name="start_watching")
    async def start_watching(self, ref: WalletRef) -> dict[str, Any]:
        return await heartbeating(self._start_watching(ref))

    async def _start_watching(self, ref: WalletRef) -> dict[str, Any]:
        await wallets.save_wallet(self.pool, ref)
        cursor, keys = await self.reader.initial_cursor(ref.address, wanted_assets(ref))
        await wallets.add_watch_keys(self.pool, ref.chain, ref.address, keys)
        return cursor

    @activity.defn(name="save_subscriptions")
    async def save_subscriptions(self, ref: WalletRef) -> None:
        await heartbeating(wallets.save_wallet(self.pool, ref))

    @activity.defn(name="fetch_events")
    async def fetch_events(self, req: FetchRequest) -> FetchResult:
        return await heartbeating(self._fetch_events(req))

    async def _fetch_events(self, req: FetchRequest) -> FetchResult:
        if req.cursor is None:
            raise ValueError("fetch_events needs the cursor from start_watching")
        read = await self.reader.read(
            req.address, req.cursor, limit=PAGE_EVENTS, min_block=req.min_block
        )
        # Ledger first: the workflow notifies only about what this call returns.
        metrics.events_detected(req.chain, await wallets.record_events(self.pool, read.events))
        if self.deposits is not None:
            await self.deposits.credit(read.events)
        events = await self._valued(read.events)
        await webhooks.emit(self.pool, wallet_events(events, "final"))
        await wallets.add_watch_keys(self.pool, req.chain, req.address, read.watch_keys)
        return FetchResult(
            events=events, cursor=read.cursor, more=read.more, final_block=read.final_block
        )

    @activity.defn(name="peek_events")
    async def peek_events(self, req: FetchRequest) -> FetchResult:
        """Events after the cursor that are seen but maybe not final: announced early, never
        ledgered (the ledger holds final events only), the cursor left where it is."""
        return await heartbeating(self._peek_events(req))

    async def _peek_events(self, req: FetchRequest) -> FetchResult:
        if req.cursor is None:
            raise ValueError("peek_events needs the cursor from start_watching")
        read = await self.reader.read(
            req.address, req.cursor, limit=PAGE_EVENTS, min_block=req.min_block, early=True
        )
        events = await self._valued(read.events)
        await webhooks.emit(self.pool, wallet_events(events, "pending"))
        return FetchResult(
            events=events,
            cursor=req.cursor,
            more=read.more,
            final_block=read.final_block,
        )

    @activity.defn(name="emit_dropped")
    async def emit_dropped(self, dropped: DroppedEvents) -> None:
        """`wallet.transfer` (`wallet.swap`) webhooks in state `dropped` for early events that
        no chat was told about (a chat's conclusion emits the same, once by event id)."""
        await heartbeating(webhooks.emit(self.pool, wallet_events(dropped.events, "dropped")))

    @activity.defn(name="forget_wallet")
    async def forget_wallet(self, ref: WalletRef) -> None:
        await heartbeating(wallets.forget_wallet(self.pool, ref.chain, ref.address))
