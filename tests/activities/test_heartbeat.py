"""heartbeating(): quiet while the work is quick, a heartbeat per interval while it waits."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.testing import ActivityEnvironment

from activities import heartbeat
from activities.heartbeat import heartbeating


def environment() -> tuple[ActivityEnvironment, list[tuple[object, ...]]]:
    beats: list[tuple[object, ...]] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)
    return env, beats


async def test_quick_work_sends_no_heartbeat() -> None:
    env, beats = environment()

    async def quick() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert await env.run(heartbeating, quick()) == "done"
    assert beats == []


async def test_slow_work_heartbeats_every_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.05)
    env, beats = environment()

    async def slow() -> int:
        await asyncio.sleep(0.32)
        return 7

    assert await env.run(heartbeating, slow()) == 7
    assert 4 <= len(beats) <= 7  # one per 0.05 s of the 0.32 s, give or take the scheduler


async def test_a_failure_of_the_work_is_raised() -> None:
    env, _ = environment()

    async def failing() -> None:
        raise RuntimeError("node said no")

    with pytest.raises(RuntimeError, match="node said no"):
        await env.run(heartbeating, failing())


async def test_cancelling_the_activity_cancels_the_work() -> None:
    """A cancelled activity (worker shutdown) must not leave its send loop running unseen."""
    env, _ = environment()
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def endless() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    outer = asyncio.create_task(env.run(heartbeating, endless()))
    await asyncio.wait_for(started.wait(), 5)
    outer.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)
