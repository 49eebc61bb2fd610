"""A worker SIGKILLed at every step of a withdrawal, then restarted: exactly one transfer."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from solders.keypair import Keypair

from starter.client import withdrawals
from tests.support.stack import Stack, eventually, settings_env
from tests.support.withdrawals import ledger, sol_balance, withdraw

pytestmark = pytest.mark.slow


STACK: dict[str, Any] = {"queues": ()}  # the workers are subprocesses, killed and restarted


def start_worker(stack: Stack) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "worker_main", "--queues", "solana,notify"],
        env=settings_env(stack.settings)
        | {"TEMPORAL_ADDRESS": stack.client.service_client.config.target_host},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def row_status(pool: asyncpg.Pool, request_id: str) -> str | None:
    return await pool.fetchval("SELECT status FROM withdrawals WHERE request_id = $1", request_id)


async def version_status(pool: asyncpg.Pool, request_id: str) -> str | None:
    return await pool.fetchval(
        "SELECT status FROM withdrawal_versions WHERE request_id = $1 AND version = 1", request_id
    )


Step = Callable[[asyncpg.Pool, str], Awaitable[bool]]


async def preparing(pool: asyncpg.Pool, request_id: str) -> bool:
    await asyncio.sleep(1.0)  # inside prepare's (slow) balance checks
    return True


async def reserved(pool: asyncpg.Pool, request_id: str) -> bool:
    return await row_status(pool, request_id) == "reserved"  # signing is under way


async def signed(pool: asyncpg.Pool, request_id: str) -> bool:
    return await version_status(pool, request_id) is not None  # persisted, not yet sent


async def broadcasting(pool: asyncpg.Pool, request_id: str) -> bool:
    return await version_status(pool, request_id) == "broadcast"  # sent, awaiting the chain


async def confirmed(pool: asyncpg.Pool, request_id: str) -> bool:
    return await version_status(pool, request_id) == "confirmed"  # settling the ledger


@pytest.mark.parametrize(
    "step", [preparing, reserved, signed, broadcasting, confirmed], ids=lambda s: s.__name__
)
async def test_sigkill_at_each_step_sends_once(
    stack: Stack, pool: asyncpg.Pool, step: Step
) -> None:
    to = str(Keypair().pubkey())
    # Slow RPC stretches every step so that the kill lands inside it.
    stack.solana.faults.update({"latency_ms": 700})
    worker = start_worker(stack)
    try:
        request_id, _ = await withdraw(stack, "solana", "SOL", to, "0.2", wait=False)
        await eventually(lambda: step(pool, request_id), timeout=60, interval=0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        stack.solana.faults.update({"latency_ms": 0})
        worker = start_worker(stack)
        result = await asyncio.wait_for(
            withdrawals.handle(stack.client, request_id).result(), timeout=120
        )
    finally:
        stack.solana.faults.update({"latency_ms": 0})
        worker.kill()
        worker.wait()
    assert result.status == "confirmed", result
    # The persisted version is reused; a new one only if it expired unsent while the worker
    # was down (the devnet's blockhashes live 150 fast slots, about 8 s).
    states = [v.state for v in result.versions]
    assert states[-1] == "confirmed" and set(states[:-1]) <= {"expired"}, states
    assert await sol_balance(stack, to) == 200_000_000  # exactly one transfer
    assert await ledger(pool, request_id) == ["reserve", "debit"]
