"""Shared fixtures, a pytest plugin that tests/conftest.py lists: a real Temporal dev server,
the time-skipping test server, an embedded PostgreSQL with a fresh database per test module,
the devnets, the end-to-end `stack`, and unique task queues and ids per test."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core import search_attributes
from devnet.faults import Faults
from starter.devstack.postgres import EmbeddedPostgres
from starter.runtime import telemetry
from store.db import migrate
from tests.support.stack import Devnets, Stack, running_stack


def _binary(name: str) -> str:
    beside = Path(sys.executable).parent / name  # the venv's bin, even when not on PATH
    path = str(beside) if beside.exists() else shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed; run `make test`, which installs it")
    return path


@pytest_asyncio.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        # The SDK waits 5 s by default: too short on 2 busy cores (xdist, the other stacks).
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


# One per module: skipping time moves the server's clock ahead of the real one for good, and
# a signed statement (issued by the real clock) would look expired to a later module.
@pytest_asyncio.fixture(scope="module")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # The time-skipping server cannot list search attributes, but adds them.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in search_attributes.ALL
            },
        )
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def pg_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedPostgres]:
    from starter.devstack import free_port

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg") / "data", free_port(), durable=False)
    await server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(scope="module")
async def pg_dsn(pg_server: EmbeddedPostgres, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database for each test module."""
    name = f"t_{request.module.__name__.rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:8]}".lower()
    dsn = await pg_server.create_database(name)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    try:
        await migrate(pool)
    finally:
        await pool.close()
    return dsn


@pytest_asyncio.fixture(scope="module")
async def pool(pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=20)
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def uid() -> str:
    """A short unique suffix for workflow ids, request ids and chat ids in one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    path.mkdir()
    yield path


# ---- devnets (in-process, shared by the session; tests use their own accounts and chats) ----


RUNNING_DEVNETS: list[Any] = []
CALM = Faults().model_dump(exclude={"seed"})  # every knob off


@pytest.fixture(autouse=True)
def calm_devnets() -> Iterator[None]:
    """Whatever faults a test turned on, the next test starts without them."""
    yield
    for devnet in RUNNING_DEVNETS:
        devnet.faults.update(CALM)


async def serve(devnet: Any) -> AsyncIterator[Any]:
    """Run a devnet for the session; its faults are reset after every test (calm_devnets)."""
    RUNNING_DEVNETS.append(devnet)
    await devnet.start()
    try:
        yield devnet
    finally:
        await devnet.stop()


@pytest_asyncio.fixture(scope="session")
async def telegram_devnet() -> AsyncIterator[Any]:
    from devnet.telegram import TelegramDevnet, TelegramDevnetConfig

    async for devnet in serve(TelegramDevnet(TelegramDevnetConfig())):
        yield devnet


@pytest_asyncio.fixture(scope="session")
async def solana_devnet() -> AsyncIterator[Any]:
    from devnet.solana import SolanaDevnet, SolanaDevnetConfig

    async for devnet in serve(
        SolanaDevnet(SolanaDevnetConfig(slot_ms=50, finalized_lag=4, accounts=20))
    ):
        yield devnet


@pytest_asyncio.fixture(scope="session")
async def tron_devnet() -> AsyncIterator[Any]:
    from devnet.tron import TronDevnet, TronDevnetConfig

    async for devnet in serve(TronDevnet(TronDevnetConfig(block_ms=200, solid_lag=2, accounts=20))):
        yield devnet


# Short names for the session's devnets inside a test.
telegram = pytest.fixture(lambda telegram_devnet: telegram_devnet, name="telegram")
solana = pytest.fixture(lambda solana_devnet: solana_devnet, name="solana")
tron = pytest.fixture(lambda tron_devnet: tron_devnet, name="tron")


@pytest.fixture(scope="session")
def devnets(solana_devnet: Any, tron_devnet: Any, telegram_devnet: Any) -> Devnets:
    return Devnets(solana_devnet, tron_devnet, telegram_devnet)


@pytest_asyncio.fixture(scope="module")
async def stack(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    devnets: Devnets,
) -> AsyncIterator[Stack]:
    """walletflow's workers against the devnets for one test module. A module tunes it with a
    `STACK` dict of `running_stack` options (queues, triggers, settings)."""
    options = getattr(request.module, "STACK", {})
    async with running_stack(temporal_env.client, pg_dsn, devnets, **options) as s:
        yield s


# Traces in memory: every process-wide tracer provider (runtime.telemetry) exports here.
@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    monkeypatch.setattr(telemetry, "_provider", provider)
    monkeypatch.setattr(telemetry, "_provider_decided", True)
    yield memory
    provider.shutdown()
