"""Heartbeats for activities that wait on the network."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

HEARTBEAT_SECONDS = 5.0  # well inside the heartbeat timeouts the workflows set (15 s and more)

T = TypeVar("T")


async def heartbeating(work: Awaitable[T]) -> T:
    """Await `work`, heartbeating every HEARTBEAT_SECONDS meanwhile: a worker that dies
    mid-call is then noticed within the heartbeat timeout, not only after the (long)
    start-to-close timeout. Work done within HEARTBEAT_SECONDS sends no heartbeat at all:
    each one is a write on the Temporal server."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_SECONDS)
            if done:
                return task.result()
            activity.heartbeat()
    finally:
        task.cancel()
