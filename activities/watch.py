"""What both chains' triggers share: poking monitor workflows, and the round loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities import metrics
from activities.failover import RpcUnavailable
from core.ids import monitor_id
from core.models import Poke

POKE_CONCURRENCY = 32


async def poke_wallets(
    client: Client, chain: str, changed: dict[str, int], *, signal: str = "poke"
) -> int:
    """Signal `poke` (final data changed) or `seen` (a push: early data changed) to each
    changed wallet's monitor; returns how many were reached."""
    gate = asyncio.Semaphore(POKE_CONCURRENCY)

    async def poke(wallet: str, block: int) -> bool:
        async with gate:
            try:
                await client.get_workflow_handle(monitor_id(chain, wallet)).signal(
                    signal, Poke(block=block)
                )
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False  # unwatched between the scan and the poke
                raise
            return True

    reached = sum(await asyncio.gather(*(poke(w, b) for w, b in changed.items())))
    (metrics.POKES if signal == "poke" else metrics.SEEN).labels(chain).inc(reached)
    return reached


async def run_round(
    seconds: float,
    step: Callable[[], Awaitable[float]],
    progress: Callable[[], tuple[Any, ...]] = tuple,
) -> None:
    """Call `step` until the round is over; `step` returns how long to sleep before the next.

    Heartbeats after every step with `progress()` as the details, so a dead worker is noticed
    within the heartbeat timeout and the round restarts elsewhere from the last reported
    position. (A heartbeat replaces the details of the one before: one without them would
    make the retry forget where the scan stood.)
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            pause = await step()
        except RpcUnavailable as exc:
            # A bad minute at the node: keep the round, and what it has seen, alive.
            activity.logger.warning("trigger step failed, retrying: %s", exc)
            pause = 1.0
        activity.heartbeat(*progress())
        await asyncio.sleep(max(0.0, min(pause, deadline - time.monotonic())))
