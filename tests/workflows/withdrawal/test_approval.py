"""The approval flow, on the time-skipping server: a day-long deadline passes in a moment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.testing import WorkflowEnvironment

from core.errors import UserError
from core.models import Actor, WithdrawalStatus
from starter.client import withdrawals
from tests.support.ids import new_request_id
from tests.support.stack import Devnets, Stack, eventually, running_stack
from tests.support.withdrawals import ledger, sol_balance

REQUESTER = "tg:1001"
APPROVER = "tg:2002"


@pytest_asyncio.fixture(scope="module")
async def stack(
    time_skipping_env: WorkflowEnvironment, pg_dsn: str, devnets: Devnets
) -> AsyncIterator[Stack]:
    # No chain triggers: their endless activity would stop the server from skipping time.
    async with running_stack(
        time_skipping_env.client, pg_dsn, devnets, queues=("solana", "notify"), triggers=False
    ) as s:
        yield s


async def request_big(stack: Stack, to: str) -> str:
    """11 SOL: above the 10 SOL approval threshold."""
    req = withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount="11",
        request_id=new_request_id(),
        requested_by=REQUESTER,
    )
    await withdrawals.start(stack.client, stack.settings, req)

    async def waiting() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, req.request_id)
        return current if current.status == "awaiting_approval" else None

    await eventually(waiting)
    return req.request_id


async def test_approved_by_someone_else_lands(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request_big(stack, to)
    assert await ledger(pool, request_id) == []  # nothing reserved while waiting
    await withdrawals.decide(stack.client, request_id, "approve", APPROVER)
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "confirmed" and result.approved_by == [APPROVER], result
    assert await sol_balance(stack, to) == 11 * 10**9
    assert await ledger(pool, request_id) == ["reserve", "debit"]


async def test_self_approval_is_refused(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request_big(stack, to)
    with pytest.raises(UserError, match="your own withdrawal"):
        await withdrawals.decide(stack.client, request_id, "approve", REQUESTER)
    # Straight to the workflow, past the starter's check: refused there too.
    await withdrawals.handle(stack.client, request_id).signal("approve", Actor(by=REQUESTER))

    async def refused() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, request_id)
        return current if current.refused else None

    current = await eventually(refused)
    assert current.status == "awaiting_approval" and current.refused == [
        f"self-approval by {REQUESTER}"
    ]
    await withdrawals.decide(stack.client, request_id, "reject", APPROVER, "not today")
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "rejected" and "not today" in (result.reason or "")
    assert await sol_balance(stack, to) == 0
    assert await ledger(pool, request_id) == []


async def test_deadline_expires_with_nothing_reserved(
    stack: Stack, pool: asyncpg.Pool, time_skipping_env: WorkflowEnvironment
) -> None:
    to = str(Keypair().pubkey())
    request_id = await request_big(stack, to)
    await time_skipping_env.sleep(timedelta(hours=24, minutes=1))  # past the deadline
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "expired", result
    assert await ledger(pool, request_id) == []
    row = await pool.fetchrow("SELECT status FROM withdrawals WHERE request_id = $1", request_id)
    assert row["status"] == "expired"


async def test_cancel_while_awaiting_approval(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request_big(stack, to)
    await withdrawals.decide(stack.client, request_id, "cancel", REQUESTER, "typo")
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "cancelled" and "typo" in (result.reason or "")
    assert await ledger(pool, request_id) == []
    with pytest.raises(UserError, match="too late to cancel"):
        await withdrawals.decide(stack.client, request_id, "cancel", REQUESTER)
