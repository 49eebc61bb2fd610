"""Continue-as-new keeps the cursor, the subscribers and the pause state; a stop or a new
subscriber arriving during a check is never lost to it. Workflow logic only: the real
WalletMonitorWorkflow on the time-skipping test server, with stand-in activities (same names)
serving a scripted "chain" of events."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core.ids import monitor_id
from core.models import (
    FetchRequest,
    FetchResult,
    MonitorState,
    MonitorStatus,
    Notification,
    NotificationResult,
    Poke,
    Subscription,
    WalletEvent,
    WalletRef,
)
from tests.support.stack import eventually
from workflows.monitor import WalletMonitorWorkflow

WALLET = "So11111111111111111111111111111111111111112"
PAGE = 10


@dataclass
class FakeChain:
    """The monitor's activities over a list of events; the cursor is an index into it."""

    events: list[WalletEvent] = field(default_factory=list)
    sent: list[Notification] = field(default_factory=list)
    saved: list[WalletRef] = field(default_factory=list)
    forgotten: list[WalletRef] = field(default_factory=list)
    fetch_gate: asyncio.Event | None = None  # when set, fetches wait for it
    fetching: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, n: int) -> None:
        for _ in range(n):
            i = len(self.events)
            self.events.append(
                WalletEvent(
                    chain="solana",
                    wallet=WALLET,
                    tx_id=f"tx{i}",
                    index=0,
                    direction="in",
                    asset="SOL",
                    symbol="SOL",
                    decimals=9,
                    amount=10**9 + i,
                    block=100 + i,
                )
            )

    @activity.defn(name="start_watching")
    async def start_watching(self, ref: WalletRef) -> dict[str, Any]:
        self.saved.append(ref)
        return {"n": len(self.events)}

    @activity.defn(name="save_subscriptions")
    async def save_subscriptions(self, ref: WalletRef) -> None:
        self.saved.append(ref)

    @activity.defn(name="fetch_events")
    async def fetch_events(self, req: FetchRequest) -> FetchResult:
        assert req.cursor is not None
        self.fetching.set()
        if self.fetch_gate is not None:
            await self.fetch_gate.wait()
        n = int(req.cursor["n"])
        page = self.events[n : n + PAGE]
        return FetchResult(
            events=page,
            cursor={"n": n + len(page)},
            more=n + len(page) < len(self.events),
            final_block=100 + len(self.events),
        )

    @activity.defn(name="forget_wallet")
    async def forget_wallet(self, ref: WalletRef) -> None:
        self.forgotten.append(ref)

    @activity.defn(name="send_notification")
    async def send_notification(self, n: Notification) -> NotificationResult:
        self.sent.append(n)
        return NotificationResult(status="sent", message_id=len(self.sent))

    def tx_ids_sent(self) -> list[str]:
        """Every tx id named in a message (digests list theirs, up to ten)."""
        return [t for n in self.sent for t in _tx_ids(n.text)]


def _tx_ids(text: str) -> list[str]:
    import re

    return re.findall(r"/tx/(tx\d+)", text)


@dataclass
class Env:
    env: WorkflowEnvironment
    chain: FakeChain
    task_queue: str

    async def start(self, *subs: Subscription, history_limit: int) -> WorkflowHandle[Any, Any]:
        state = MonitorState(
            chain="solana",
            address=WALLET,
            notify_queue=self.task_queue,
            history_limit=history_limit,
        )
        workflow_id = f"{monitor_id('solana', WALLET)}-{uuid.uuid4().hex[:8]}"
        handle = await self.env.client.start_workflow(
            WalletMonitorWorkflow.run,
            state,
            id=workflow_id,
            task_queue=self.task_queue,
            start_signal="subscribe",
            start_signal_args=[subs[0]],
        )
        for sub in subs[1:]:
            await handle.signal(WalletMonitorWorkflow.subscribe, sub)
        await eventually(lambda: _has_cursor(handle))
        return handle


async def _has_cursor(handle: WorkflowHandle[Any, Any]) -> bool:
    return (await _status(handle)).cursor is not None


async def _status(handle: WorkflowHandle[Any, Any]) -> MonitorStatus:
    result: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
    return result


async def _run_id(handle: WorkflowHandle[Any, Any]) -> str:
    return (await handle.describe()).run_id


@pytest_asyncio.fixture
async def fake(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[Env]:
    chain = FakeChain()
    task_queue = f"can-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_skipping_env.client,
        task_queue=task_queue,
        workflows=[WalletMonitorWorkflow],
        activities=[
            chain.start_watching,
            chain.save_subscriptions,
            chain.fetch_events,
            chain.forget_wallet,
            chain.send_notification,
        ],
    ):
        yield Env(time_skipping_env, chain, task_queue)


ALICE = Subscription(chat_id=1, label="alice", min_amount=Decimal("0.5"), direction="in")
BOB = Subscription(chat_id=2, assets=["SOL"])


async def test_continue_as_new_keeps_cursor_subscribers_and_pause(fake: Env) -> None:
    chain = fake.chain
    handle = await fake.start(ALICE, BOB, history_limit=25)
    first_run = await _run_id(handle)

    # Pokes until the history passes the limit and the monitor continues as new.
    for _ in range(10):
        chain.add(2)
        await handle.signal(WalletMonitorWorkflow.poke, Poke(block=100 + len(chain.events)))
        expected = 2 * len(chain.events)  # two chats, one message per event
        await eventually(lambda: _sent_at_least(chain, expected))  # noqa: B023
        if await _run_id(handle) != first_run:
            break
    second_run = await _run_id(handle)
    assert second_run != first_run, "the monitor never continued as new"
    status = await _status(handle)
    assert status.cursor == {"n": len(chain.events)}
    assert status.subscribers == [ALICE, BOB]
    assert status.counters.events == len(chain.events)
    assert status.state == "running"

    # Paused: a poke wakes nothing; the hourly reconcile passes, the history is long again,
    # and the monitor continues as new while paused.
    await handle.signal(WalletMonitorWorkflow.pause)
    sent_before = len(chain.sent)
    chain.add(5)
    for _ in range(6):
        await handle.signal(WalletMonitorWorkflow.poke, Poke(block=100 + len(chain.events)))
    await fake.env.sleep(3700)
    await eventually(lambda: _run_changed(handle, second_run))
    status = await _status(handle)
    assert status.state == "paused"
    assert status.cursor == {"n": len(chain.events) - 5}, "nothing may be read while paused"
    assert status.subscribers == [ALICE, BOB]
    assert len(chain.sent) == sent_before, "sent while paused"

    # Resume in the new run: the five events that happened while paused arrive once, as a
    # digest per chat.
    await handle.signal(WalletMonitorWorkflow.resume)
    await eventually(lambda: _sent_at_least(chain, sent_before + 2))
    await asyncio.sleep(0.5)
    new = chain.sent[sent_before:]
    assert sorted(n.chat_id for n in new) == [1, 2]
    assert all("5 transfers:" in n.text for n in new)
    assert (await _status(handle)).cursor == {"n": len(chain.events)}
    per_chat = [t for n in chain.sent if n.chat_id == 1 for t in _tx_ids(n.text)]
    assert sorted(per_chat) == sorted({e.tx_id for e in chain.events}), "missed or repeated"
    await handle.signal(WalletMonitorWorkflow.stop)
    await handle.result()


async def _sent_at_least(chain: FakeChain, n: int) -> bool:
    return len(chain.sent) >= n


async def _run_changed(handle: WorkflowHandle[Any, Any], run_id: str) -> bool:
    return await _run_id(handle) != run_id


@pytest.mark.parametrize("signal", ["stop", "subscribe"])
async def test_a_signal_during_a_check_is_not_lost_to_continue_as_new(
    fake: Env, signal: str
) -> None:
    chain = fake.chain
    handle = await fake.start(ALICE, history_limit=10)  # any check makes the history "long"
    first_run = await _run_id(handle)
    chain.fetch_gate = asyncio.Event()
    chain.add(1)
    await handle.signal(WalletMonitorWorkflow.poke, Poke(block=101))
    await asyncio.wait_for(chain.fetching.wait(), 10)
    if signal == "stop":
        await handle.signal(WalletMonitorWorkflow.stop)
    else:
        await handle.signal(WalletMonitorWorkflow.subscribe, BOB)
    await asyncio.sleep(0.5)  # the signal is in the history before the fetch completes
    chain.fetch_gate.set()

    if signal == "stop":
        # The stop must end this very run, not vanish into a new one.
        result = await asyncio.wait_for(handle.result(follow_runs=False), 20)
        assert result.state == "stopping"
        assert [r.address for r in chain.forgotten] == [WALLET]
    else:
        await eventually(lambda: _saved_with(chain, 2))
        await eventually(lambda: _run_changed(handle, first_run))
        assert (await _status(handle)).subscribers == [ALICE, BOB]
        await handle.signal(WalletMonitorWorkflow.stop)
        await handle.result()


async def _saved_with(chain: FakeChain, n: int) -> bool:
    return any(len(ref.subscribers) == n for ref in chain.saved)
