"""A worker process as docker-compose runs it (`python -m worker_main`, settings from the
environment): /healthz, /readyz, one /metrics with the Temporal SDK's and walletflow's
metrics, JSON log lines with workflow and activity fields, `walletflow workers`, and
readiness dropping at SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from core.ids import monitor_id, watch_id
from core.models import MonitorStatus, Subscription
from starter.client import inspect, monitors
from starter.runtime.settings import Settings
from tests.support.chain_tx import sol_account, sol_send
from tests.support.ids import chat_id
from tests.support.processes import ROOT, Process, metric_value, process_env, start_process
from tests.support.stack import eventually, settled_messages
from workflows.monitor import WalletMonitorWorkflow

FUNDER = 11  # devnet account paying this module's transfers
SOL = 10**9


SETTINGS = {"SOLANA_ACTIVITIES_PER_SECOND": 30}


@pytest_asyncio.fixture(scope="module")
async def worker(
    settings: Settings, client: Client, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Process]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = await start_process(["-m", "worker_main"], settings, log)
    try:
        started = time.monotonic()
        await process.wait_ready()
        print(f"worker ready in {time.monotonic() - started:.1f}s")
        yield process
    finally:
        await process.stop()
        for chain in ("solana", "tron"):
            with contextlib.suppress(Exception):
                await client.get_workflow_handle(watch_id(settings.task_queue(chain))).terminate()


@pytest.fixture(scope="module")
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


async def test_healthz_and_readyz(worker: Process) -> None:
    alive = await worker.get("/healthz")
    assert alive.status_code == 200
    ready = await worker.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"workers": "ok", "postgres": "ok", "temporal": "ok"}


async def test_a_detected_transfer_shows_in_metrics_and_json_logs(
    worker: Process, settings: Settings, client: Client, solana_devnet: Any, telegram_devnet: Any
) -> None:
    funder, wallet, chat = sol_account(solana_devnet, FUNDER), Keypair(), chat_id()
    address = str(wallet.pubkey())
    await monitors.watch(
        client, settings, "solana", address, Subscription(chat_id=chat, label="ops")
    )
    handle = client.get_workflow_handle(monitor_id("solana", address))

    async def watching() -> bool:
        status: MonitorStatus = await handle.query(WalletMonitorWorkflow.status)
        return status.cursor is not None

    await eventually(watching, timeout=60)
    native = settings.tokens("solana").native
    await sol_send(solana_devnet.url, funder, address, native, 3 * SOL)
    [message] = await settled_messages(telegram_devnet, chat, 1)
    assert "Received 3 SOL" in message["plain_text"]

    # One endpoint, both sources: the Temporal SDK's runtime metrics and walletflow's own.
    text = await worker.scrape()
    solana_queue = settings.task_queue("solana")
    assert (
        metric_value(text, "temporal_worker_task_slots_available", task_queue=solana_queue)
        is not None
    ), "no SDK worker metrics"
    assert metric_value(text, "temporal_num_pollers", task_queue=solana_queue)
    assert (
        metric_value(text, "walletflow_events_detected_total", chain="solana", asset="SOL") or 0
    ) >= 1
    assert (metric_value(text, "walletflow_notifications_total", outcome="sent") or 0) >= 1
    endpoint = solana_devnet.url.split("//", 1)[1].rstrip("/")
    assert (
        metric_value(
            text,
            "walletflow_rpc_latency_seconds_count",
            chain="solana",
            endpoint=endpoint,
            method="getSlot",
        )
        or 0
    ) >= 1
    # The transfer reached its monitor by the trigger's poke or by push (whichever saw it
    # first: once the monitor has read it, the trigger finds nothing changed to poke).
    told = [
        metric_value(text, name, chain="solana") or 0
        for name in ("walletflow_trigger_pokes_total", "walletflow_push_signals_total")
    ]
    assert sum(told) >= 1, told

    # Every line is one JSON object; the notification's line names its workflow and activity.
    docs = [json.loads(line) for line in worker.lines()]
    assert all({"time", "level", "logger", "message"} <= d.keys() for d in docs)
    desc = await handle.describe()
    sent = [
        d
        for d in docs
        if d.get("activity_type") == "send_notification" and d.get("workflow_id") == handle.id
    ]
    assert sent, "no log line from the notification activity"
    line = sent[0]
    assert line["run_id"] == desc.run_id
    assert line["task_queue"] == settings.task_queue("notify")
    assert line["workflow_type"] == "WalletMonitorWorkflow"
    assert line["level"] == "INFO" and "sent" in line["message"]
    assert "({" not in line["message"], "activity details belong in fields, not the message"
    datetime.fromisoformat(line["time"])
    await handle.signal(WalletMonitorWorkflow.stop)


async def test_walletflow_workers_lists_the_pollers(
    worker: Process, settings: Settings, client: Client
) -> None:
    queues = await inspect.workers(client, settings)
    assert {(q.queue, q.kind) for q in queues} == {
        (settings.task_queue(name), kind)
        for name in ("solana", "tron", "notify", "prices")
        for kind in ("workflow", "activity")
    }
    now = datetime.now(UTC).replace(tzinfo=None)
    for q in queues:  # the notify queue's workflows: each webhook endpoint's delivery loop
        identities = [identity for identity, _ in q.pollers]
        assert any(i.startswith(f"{worker.proc.pid}@") for i in identities), (q, identities)
        last = max(t for _, t in q.pollers if t)
        assert now - last < timedelta(minutes=2), (q.queue, last)
        assert q.backlog >= 0
    limits = {(q.queue, q.kind): q.rate_limit for q in queues}
    assert limits[(settings.task_queue("solana"), "activity")] == 30
    assert limits[(settings.task_queue("notify"), "activity")] == 25
    assert limits[(settings.task_queue("tron"), "activity")] is None

    # The CLI prints the same: one row per queue and kind, this worker's identity, a time.
    env = process_env(settings, COLUMNS="250")
    cli = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "starter", "workers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    pollers, _, push = cli.stdout.partition("\npush")
    rows = [line for line in pollers.splitlines() if settings.task_queue_prefix in line]
    assert len(rows) == 8, cli.stdout  # 4 queues x (workflow, activity)
    # Then the push followers, one block per chain queue, their shards as they last reported.
    for chain in ("solana", "tron"):
        assert settings.task_queue(chain) in push, cli.stdout
    for row in rows:
        assert f"{worker.proc.pid}@" in row, row
        if settings.task_queue("solana") in row and "activity" in row:
            assert row.rstrip(" │|").endswith("30"), row


async def test_readiness_follows_postgres(worker: Process, pg_server: Any, pg_dsn: str) -> None:
    """PostgreSQL refusing the worker's database: /readyz turns 503 naming postgres, and 200
    again once it is back (the pool reconnects; the process never restarted)."""
    database = pg_dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_server.dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )

        async def postgres_down() -> dict[str, Any] | None:
            resp = await worker.get("/readyz")
            body: dict[str, Any] = resp.json()
            return body if resp.status_code == 503 else None

        down = await eventually(postgres_down, timeout=20)
        assert down["checks"]["postgres"] != "ok" and down["checks"]["workers"] == "ok", down
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()

    async def back() -> bool:
        return (await worker.get("/readyz")).status_code == 200

    await eventually(back, timeout=30)
    assert worker.proc.returncode is None


async def test_sigterm_turns_readiness_off_before_the_workers_stop(worker: Process) -> None:
    assert (await worker.get("/readyz")).status_code == 200
    started = time.monotonic()
    worker.proc.send_signal(15)
    seen: list[int] = []
    while worker.proc.returncode is None and time.monotonic() - started < 30:
        try:
            seen.append((await worker.get("/readyz")).status_code)
        except Exception:
            seen.append(0)  # the server is already closed
        await asyncio.sleep(0.05)
    code = await asyncio.wait_for(worker.proc.wait(), 30)
    print(f"worker stopped in {time.monotonic() - started:.1f}s; /readyz answers {set(seen)}")
    assert code == 0, Path(worker.log).read_text()[-3000:]
    assert 200 not in seen, seen
    assert 503 in seen, seen
    # The shutdown's own lines (Core's and the SDK's included) are JSON too.
    for line in worker.lines():
        json.loads(line)
