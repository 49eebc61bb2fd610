"""Two (or three) RPC endpoints per chain, one of them failing every call, the real devnet
injecting a few faults of its own: monitors notify each transfer exactly once and withdrawals
land exactly once; the breaker keeps the dead endpoint's share of calls small; the chain task
queues carry the configured rate limit.

Solana: [an endpoint answering 503 to everything, the devnet]. TRON: [a closed port, the same
503 endpoint, the devnet]. The failing endpoints come first, so every call meets them until
their breakers open, and again at each half-open probe."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from solders.keypair import Keypair
from temporalio.api.enums.v1 import RateLimitSource, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.testing import WorkflowEnvironment
from tronpy.keys import PrivateKey

from activities import metrics
from starter.devstack import free_port
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    TRX,
    assert_exactly_once,
    delivery,
    sol_key,
    sol_send_many,
    sol_wait_finalized,
    tron_address,
    tron_key,
    tron_send_many,
    tron_wait_solid,
    watch,
)
from tests.support.stack import Devnets, Stack, eventually, running_stack, settled_messages
from tests.support.withdrawals import fresh_tron_address, ledger, sol_balance, trx_balance, withdraw

pytestmark = pytest.mark.slow

FUNDER = 12  # devnet account paying this module's transfers
RATE = 40.0  # activities per second on each chain queue
DEVNET_FAULTS = {"error_rate": 0.05, "rate_429": 0.05, "retry_after": 1}


class DeadEndpoint:
    """An RPC provider that is down: 503 to every request, counted."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        async def down(request: web.Request) -> web.Response:
            self.hits[request.path] += 1
            return web.json_response({"error": "Service Unavailable"}, status=503)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", down)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest_asyncio.fixture(scope="module")
async def dead() -> AsyncIterator[DeadEndpoint]:
    endpoint = DeadEndpoint()
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()


@pytest.fixture(scope="module")
def closed_port() -> int:
    return free_port()  # nothing listens there: connection refused


@pytest_asyncio.fixture(scope="module")
async def stack(
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    devnets: Devnets,
    dead: DeadEndpoint,
    closed_port: int,
) -> AsyncIterator[Stack]:
    settings = {
        "SOLANA_RPC_URL": f"{dead.url},{devnets.solana.url}",
        "TRON_API_URL": f"http://127.0.0.1:{closed_port},{dead.url},{devnets.tron.url}",
        "SOLANA_ACTIVITIES_PER_SECOND": RATE,
        "TRON_ACTIVITIES_PER_SECOND": RATE,
    }
    async with running_stack(temporal_env.client, pg_dsn, devnets, settings=settings) as s:
        yield s


async def test_monitors_notify_every_transfer_once_past_a_dead_endpoint(
    stack: Stack, pool: asyncpg.Pool, solana: Any, tron: Any, dead: DeadEndpoint
) -> None:
    sol_wallet, tron_wallet = str(Keypair().pubkey()), tron_address(PrivateKey.random())
    sol_chat, tron_chat = chat_id(), chat_id()
    await watch(stack.client, stack.settings, "solana", sol_wallet, sol_chat)
    await watch(stack.client, stack.settings, "tron", tron_wallet, tron_chat)
    solana.faults.update(DEVNET_FAULTS)
    tron.faults.update(DEVNET_FAULTS)

    sol_sent: list[str] = []
    tron_sent: list[str] = []
    for round_ in range(3):
        sol_sent += await sol_send_many(
            solana.url,
            sol_key(solana, FUNDER),
            sol_wallet,
            [(round_ * 3 + i + 1) * SOL // 100 for i in range(3)],
        )
        tron_sent += await tron_send_many(
            tron.url,
            tron_key(tron, FUNDER),
            tron_wallet,
            [(round_ * 3 + i + 1) * TRX for i in range(3)],
        )
        await asyncio.sleep(1)
    await asyncio.gather(
        sol_wait_finalized(solana.url, sol_sent, timeout=90),
        tron_wait_solid(tron.url, tron_sent, timeout=90),
    )

    for chain, wallet, chat, sent in (
        ("solana", sol_wallet, sol_chat, sol_sent),
        ("tron", tron_wallet, tron_chat, tron_sent),
    ):

        async def notified(
            chain: str = chain, wallet: str = wallet, chat: int = chat, sent: list[str] = sent
        ) -> bool:
            d = await delivery(pool, stack.telegram, chain, wallet, chat)
            return d.delivered_events >= len(sent)

        await eventually(notified, timeout=90, interval=0.5)
        await settled_messages(stack.telegram, chat, 1, quiet=2)
        d = await delivery(pool, stack.telegram, chain, wallet, chat)
        assert_exactly_once(d, sent)
        assert d.unknown_events == 0
    assert sum(dead.hits.values()) > 0, "the dead endpoint was never tried"


async def test_withdrawals_land_once_past_a_dead_endpoint(
    stack: Stack, pool: asyncpg.Pool, solana: Any, tron: Any
) -> None:
    solana.faults.update(DEVNET_FAULTS)
    tron.faults.update(DEVNET_FAULTS)
    sol_to, tron_to = str(Keypair().pubkey()), fresh_tron_address()
    (sol_id, sol_result), (tron_id, tron_result) = await asyncio.gather(
        withdraw(stack, "solana", "SOL", sol_to, "0.3"),
        withdraw(stack, "tron", "TRX", tron_to, "7"),
    )
    assert sol_result is not None and sol_result.status == "confirmed", sol_result
    assert tron_result is not None and tron_result.status == "confirmed", tron_result
    solana.faults.update({"error_rate": 0, "rate_429": 0})
    tron.faults.update({"error_rate": 0, "rate_429": 0})
    assert await sol_balance(stack, sol_to) == 300_000_000
    assert await trx_balance(stack, tron_to) == 7_000_000
    assert await ledger(pool, sol_id) == ["reserve", "debit"]
    assert await ledger(pool, tron_id) == ["reserve", "debit"]


def sample_sum(metric: Any, **labels: str) -> float:
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count")) and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                total += sample.value
    return total


async def test_breakers_keep_the_dead_endpoints_share_small(
    stack: Stack, dead: DeadEndpoint, closed_port: int
) -> None:
    """By now both chains made hundreds of calls; the failing endpoints, tried first by every
    call, got only the calls before their breakers opened and one probe per cooldown."""
    dead_label = metrics.endpoint_label(dead.url)
    closed_label = metrics.endpoint_label(f"http://127.0.0.1:{closed_port}")
    for chain, real_url, failing in (
        ("solana", stack.solana.url, [dead_label]),
        ("tron", stack.tron.url, [closed_label, dead_label]),
    ):
        answered = sample_sum(
            metrics.RPC_LATENCY, chain=chain, endpoint=metrics.endpoint_label(real_url)
        )
        for label in failing:
            errors = sample_sum(metrics.RPC_ERRORS, chain=chain, endpoint=label)
            print(
                f"{chain}: {answered:.0f} calls answered by the devnet, {errors:.0f} failed on "
                f"{label}"
            )
            assert errors > 0, f"{label} was never tried on {chain}"
            assert errors < answered / 5, (chain, label, errors, answered)


async def test_chain_queues_carry_the_rate_limit(stack: Stack) -> None:
    for chain in ("solana", "tron"):
        resp = await stack.client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=stack.client.namespace,
                task_queue=TaskQueue(name=stack.settings.task_queue(chain)),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                report_config=True,
            )
        )
        limit = resp.effective_rate_limit
        assert limit.requests_per_second == pytest.approx(RATE), (chain, limit)
        assert limit.rate_limit_source == RateLimitSource.RATE_LIMIT_SOURCE_WORKER
