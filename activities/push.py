"""What both chains' push followers share: who is watched, telling monitors, reporting health.

A push follower is one long-running `follow_chain` activity per chain (the `push-{queue}`
workflow runs it). It only makes detection early: it signals `seen` to a wallet's monitor,
which then peeks past its cursor. The cursor, the trigger and the slow reconcile stay the
truth, so a follower that is down or loses a notification makes alerts late, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
from temporalio import activity
from temporalio.client import Client

from activities.watch import poke_wallets
from core.models import PushResult, ShardHealth
from store import wallets

FLUSH_SECONDS = 0.05  # signals of one burst go out together, one per wallet
RESYNC_SECONDS = 60.0  # the watched set is re-read this often besides every NOTIFY
HEARTBEAT_SECONDS = 5.0


class Signaller:
    """Coalesces pushes per wallet (the newest block wins) and signals `seen` in bursts."""

    def __init__(self, client: Client, chain: str) -> None:
        self.client = client
        self.chain = chain
        self.due: dict[str, int] = {}
        self.ready = asyncio.Event()
        self.sent = 0

    def add(self, wallet: str, block: int) -> None:
        self.due[wallet] = max(block, self.due.get(wallet, 0))
        self.ready.set()

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            await asyncio.sleep(FLUSH_SECONDS)
            self.ready.clear()
            due, self.due = self.due, {}
            try:
                self.sent += await poke_wallets(self.client, self.chain, due, signal="seen")
            except Exception as exc:  # a bad second of the server must not end push
                activity.logger.warning("push signals failed, the trigger will catch up: %s", exc)


async def watched(pool: asyncpg.Pool, chain: str) -> AsyncIterator[set[str]]:
    """The chain's watched addresses now, and again after every change (the wallets table
    NOTIFYs on insert and delete) or every RESYNC_SECONDS."""
    changed = asyncio.Event()

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == chain:
            changed.set()

    async with pool.acquire() as conn:
        await conn.add_listener(wallets.WALLETS_CHANNEL, heard)
        try:
            while True:
                changed.clear()
                yield set(await wallets.wallets_of(pool, chain))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), RESYNC_SECONDS)
        finally:
            await conn.remove_listener(wallets.WALLETS_CHANNEL, heard)


async def follow(
    seconds: float,
    shards: Callable[[], list[ShardHealth]],
    *tasks: Awaitable[None],
) -> PushResult:
    """Run `tasks` for `seconds`, heartbeating the shards' health as the details (what
    `walletflow workers` shows); the first task to fail ends the round with its error."""
    deadline = time.monotonic() + seconds
    running = [asyncio.ensure_future(t) for t in tasks]
    try:
        while (left := deadline - time.monotonic()) > 0:
            done, _ = await asyncio.wait(
                running, timeout=min(HEARTBEAT_SECONDS, left), return_when=asyncio.FIRST_EXCEPTION
            )
            for task in done:
                task.result()  # raises the failure; a task never ends on its own otherwise
            activity.heartbeat([s.model_dump(mode="json") for s in shards()])
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return PushResult(shards=shards())
