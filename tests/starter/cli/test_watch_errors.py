"""`walletflow watch` with a bad address or an unknown chain: one clear line on stderr, exit
status 1, and no workflow started. The command runs as a user runs it, in a subprocess."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from tronpy.keys import PrivateKey

from core.ids import monitor_id

SOLANA_ADDRESS = str(Keypair().pubkey())
TRON_ADDRESS = PrivateKey.random().public_key.to_base58check_address()
BAD_CHECKSUM = TRON_ADDRESS[:-1] + ("1" if TRON_ADDRESS[-1] != "1" else "2")


async def walletflow(client: Client, cwd: Path, prefix: str, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WALLETFLOW_"))}
    env.update(
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=client.namespace,
        WALLETFLOW_TASK_QUEUE_PREFIX=prefix,  # no worker polls these queues
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "starter",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def started_since(client: Client, since: datetime) -> list[str]:
    query = f"WorkflowType = 'WalletMonitorWorkflow' AND StartTime > '{since.isoformat()}'"
    return [w.id async for w in client.list_workflows(query)]


async def exists(client: Client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.mark.parametrize(
    ("chain", "address", "says"),
    [
        ("solana", "not-an-address", "is not a Solana address: not base58"),
        ("solana", TRON_ADDRESS, "that looks like a TRON address"),
        ("tron", SOLANA_ADDRESS, "that looks like a Solana address"),
        ("tron", BAD_CHECKSUM, "checksum mismatch"),
        ("ethereum", "0x52908400098527886E0F7030069857D2E4169EE7", "unknown chain 'ethereum'"),
        ("", SOLANA_ADDRESS, "unknown chain ''"),
    ],
    ids=["not-base58", "tron-on-solana", "solana-on-tron", "checksum", "ethereum", "no-chain"],
)
async def test_bad_watch_is_one_clear_error_and_starts_nothing(
    client: Client, tmp_path: Path, chain: str, address: str, says: str
) -> None:
    since = datetime.now(UTC)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    code, out, err = await walletflow(
        client, tmp_path, prefix, "watch", chain, address, "--chat", "42"
    )
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and says in lines[0], lines[0]
    assert "Traceback" not in err
    assert not await exists(client, monitor_id(chain, address))
    assert not await exists(client, monitor_id(chain.strip().lower(), address.strip()))
    assert await started_since(client, since) == []


async def test_a_valid_watch_does_start_one(client: Client, tmp_path: Path) -> None:
    """The control: the same command and the same check do see a started monitor."""
    since = datetime.now(UTC)
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    code, out, err = await walletflow(
        client, tmp_path, prefix, "watch", "solana", SOLANA_ADDRESS, "--chat", "42"
    )
    assert code == 0, err
    workflow_id = monitor_id("solana", SOLANA_ADDRESS)
    assert workflow_id in out
    try:

        async def listed() -> list[str]:
            return await started_since(client, since)

        for _ in range(40):  # visibility is eventually consistent
            if await listed():
                break
            await asyncio.sleep(0.25)
        assert await listed() == [workflow_id]
    finally:
        await client.get_workflow_handle(workflow_id).terminate("test over")
