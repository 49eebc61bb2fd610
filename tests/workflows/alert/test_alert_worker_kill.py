"""Price alerts under SIGKILL: the worker running the price-watch loops and the alerts is killed
while crossings are being handled, and restarted. Every alert fires exactly once per crossing:
never twice, and none is lost (except a sendMessage in flight at a kill, which is recorded as
`unknown` and counted, as for wallet events)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from core.alerts import AlertStatus
from core.ids import price_watch_id
from starter.client import alerts
from starter.runtime.settings import PRICES_QUEUE, Settings
from tests.support.ids import chat_id
from tests.support.processes import WorkerProcess, killable_worker
from tests.support.stack import eventually, messages, stack_settings
from tests.workflows.alert.test_price_alerts import set_price
from workflows.alert import PriceAlertWorkflow

pytestmark = pytest.mark.slow

ALERTS_PER_TOKEN = 4
TOKENS = 3
CROSSINGS = 3


@pytest_asyncio.fixture
async def worker(
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    solana_devnet: Any,
    tron_devnet: Any,
    telegram_devnet: Any,
    tmp_path: Any,
) -> AsyncIterator[tuple[WorkerProcess, Settings]]:
    # The slow reconcile every 4 s: it runs through every kill too, and must not fire again.
    settings = stack_settings(
        pg_dsn, solana_devnet, tron_devnet, telegram_devnet,
        PRICE_POLL_SECONDS=0.5, JUPITER_REQUESTS_PER_SECOND=0, ALERT_RECONCILE_SECONDS=4,
    )  # fmt: skip
    loops = [
        price_watch_id(settings.task_queue(PRICES_QUEUE), name) for name in ("jupiter", "coingecko")
    ]
    log = tmp_path / "worker.log"
    async with killable_worker(temporal_env.client, settings, log, "prices,notify", loops) as w:
        yield w, settings


async def fired_counts(client: Client, ids: list[str]) -> list[int]:
    async def one(workflow_id: str) -> int:
        status: AlertStatus = await client.get_workflow_handle(workflow_id).query(
            # Past the killed worker's sticky queue timeout, and a loaded machine's replay.
            PriceAlertWorkflow.status,
            rpc_timeout=timedelta(seconds=15),
        )
        return status.fired

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def test_sigkill_while_alerts_fire_neither_repeats_nor_loses_a_crossing(
    worker: tuple[WorkerProcess, Settings],
    client: Client,
    pool: asyncpg.Pool,
    solana_devnet: Any,
    telegram_devnet: Any,
) -> None:
    process, settings = worker
    rng = random.Random(7)
    url = solana_devnet.info()["price_url"]
    mints = [str(Keypair().pubkey()) for _ in range(TOKENS)]
    for mint in mints:
        await set_price(url, mint, "100")
    chats: dict[str, int] = {}
    for mint in mints:
        for level in range(ALERTS_PER_TOKEN):
            chat = chat_id()
            workflow_id, _ = await alerts.add(
                client, settings, chat=chat, token=mint, condition=[">", str(110 + level)],
                repeat=True, hysteresis_pct="5", cooldown_seconds=0,
            )  # fmt: skip
            chats[workflow_id] = chat
    ids = list(chats)

    async def all_watched(op: str) -> bool:
        ops = await pool.fetch("SELECT op FROM price_watches WHERE watch_id = ANY($1::text[])", ids)
        return len(ops) == len(ids) and all(r["op"] == op for r in ops)

    await eventually(lambda: all_watched("ge"), timeout=60)
    for crossing in range(1, CROSSINGS + 1):
        for mint in mints:
            await set_price(url, mint, "120")  # above every threshold
        await asyncio.sleep(rng.uniform(0.3, 1.5))  # somewhere in the signals and messages
        process.kill()
        await asyncio.sleep(rng.uniform(0.5, 2))
        await process.start()
        # The killed worker's price loop is retried only after its heartbeat timeout (alone a
        # crossing takes about 7 s after the restart; under the full suite it took minutes).
        started, seen = time.monotonic(), list[Any]()
        try:
            await eventually(partial(_all_at, client, ids, crossing, seen), timeout=240)
        except AssertionError:
            tail = process.log.read_text()[-4000:]
            raise AssertionError(f"crossing {crossing}: fired counts {seen}\n{tail}") from None
        print(f"crossing {crossing}: {time.monotonic() - started:.1f}s after the restart")
        for mint in mints:
            await set_price(url, mint, "90")  # under every re-arm level (110 * 0.95)
        await eventually(lambda: all_watched("ge"), timeout=60)

    await asyncio.sleep(6)  # past a reconcile: it must not fire anything again

    async def none_in_flight() -> bool:  # a send cut by the last kill: its retry decides
        return not await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE status = 'sending' AND chat_id = ANY($1)",
            list(chats.values()),
        )

    await eventually(none_in_flight, timeout=90)
    assert await fired_counts(client, ids) == [CROSSINGS] * len(ids)
    assert process.kills == CROSSINGS
    for workflow_id, chat in chats.items():
        delivered = len(await messages(telegram_devnet, chat))
        rows = await pool.fetch("SELECT status FROM notifications WHERE chat_id = $1", chat)
        statuses = [r["status"] for r in rows]
        # One notification per crossing (its dedupe key counts the fires); each delivered at
        # most once: `sent` ones surely, `unknown` ones (in flight at a kill) perhaps.
        assert len(rows) == CROSSINGS, f"{workflow_id}: {statuses}"
        assert set(statuses) <= {"sent", "unknown"}, statuses
        sent = statuses.count("sent")
        assert sent <= delivered <= sent + statuses.count("unknown"), (workflow_id, delivered)


async def _all_at(client: Client, ids: list[str], count: int, seen: list[Any]) -> bool:
    """Whether every alert has fired `count` times; `seen` keeps the last counts for the
    failure message (a count past `count` is a repeat, one stuck under it a loss)."""
    try:
        seen[:] = await fired_counts(client, ids)
    except RPCError as e:  # a query to the killed worker's sticky queue times out: ask again
        seen[:] = [f"query failed: {e}"]
        return False
    return all(n == count for n in seen)
