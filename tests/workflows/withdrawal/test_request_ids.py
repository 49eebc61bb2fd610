"""A request id names one withdrawal forever, also after Temporal dropped the first workflow.

Temporal refuses `withdrawal-{request_id}` twice only while it retains the closed workflow.
"After retention" is simulated by starting the real WithdrawalWorkflow again with the same
request under another workflow id: the database must refuse it, and nothing may be sent.
"""

from __future__ import annotations

from typing import Literal

import asyncpg
import pytest
from solders.keypair import Keypair

from core.models import (
    Decision,
    LedgerChange,
    PreparedWithdrawal,
    WithdrawalRequest,
    WithdrawalState,
    WithdrawalStatus,
    decision_params,
)
from starter.client import withdrawals
from store import withdrawals as repo
from tests.store.test_withdrawals import sample
from tests.support.ids import new_request_id
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import ledger, sol_balance, withdraw
from workflows.withdrawal import WithdrawalWorkflow

STACK = {"queues": ("solana", "notify"), "triggers": False}
APPROVE_PARAMS = decision_params()


async def start_again(stack: Stack, req: WithdrawalRequest) -> WithdrawalStatus:
    """The same request, as if its first workflow were past the namespace's retention."""
    workflow_id = f"withdrawal-{req.request_id}-again"
    operator = stack.signer("operator")
    req = req.model_copy(
        update={
            "requested_by": operator.identity,
            "intent": operator.statement("withdraw", workflow_id, req.withdraw_params()),
        }
    )
    handle = await stack.client.start_workflow(
        WithdrawalWorkflow.run,
        req,
        id=workflow_id,
        task_queue=stack.settings.task_queue(req.chain),
    )

    async def settled() -> WithdrawalStatus | None:
        current = await handle.query(WithdrawalWorkflow.status)
        return None if current.status in ("requested", "approved", "reserved") else current

    if (await eventually(settled)).status == "awaiting_approval":
        # An approver who never saw the first withdrawal would approve this one.
        approver = stack.signer("approver")
        decision = Decision(intent=approver.statement("approve", workflow_id, APPROVE_PARAMS))
        await handle.execute_update(WithdrawalWorkflow.approve, decision)
    return await handle.result()


def request(stack: Stack, to: str, amount: str, request_id: str) -> WithdrawalRequest:
    return withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount=amount,
        request_id=request_id,
        requested_by="cli:tester",
    )


async def row_status(pool: asyncpg.Pool, request_id: str) -> str:
    return str(
        await pool.fetchval("SELECT status FROM withdrawals WHERE request_id = $1", request_id)
    )


async def test_a_confirmed_request_id_is_refused_after_retention(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    to = str(Keypair().pubkey())
    request_id, first = await withdraw(stack, "solana", "SOL", to, "0.5")
    assert first is not None and first.status == "confirmed", first

    second = await start_again(stack, request(stack, to, "0.5", request_id))
    assert second.status == "failed", second
    assert f"request id {request_id} was used before" in (second.reason or ""), second
    assert second.versions == []
    assert await sol_balance(stack, to) == 500_000_000  # once
    assert await ledger(pool, request_id) == ["reserve", "debit"]
    assert await row_status(pool, request_id) == "confirmed"


async def test_a_cancelled_request_id_is_refused_after_retention(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    to = str(Keypair().pubkey())
    req = request(stack, to, "11", new_request_id())  # above the 10 SOL approval threshold
    await withdrawals.start(stack.client, stack.settings, req)

    async def waiting() -> bool:
        return (await withdrawals.status(stack.client, req.request_id)).status == (
            "awaiting_approval"
        )

    await eventually(waiting)
    operator = stack.signer("operator")
    await withdrawals.decide(stack.client, req.request_id, "cancel", operator, "typo")
    first = await withdrawals.handle(stack.client, req.request_id).result()
    assert first.status == "cancelled", first

    second = await start_again(stack, req)
    assert second.status == "failed", second
    assert "was used before: that withdrawal is cancelled" in (second.reason or ""), second
    assert await sol_balance(stack, to) == 0
    assert await ledger(pool, req.request_id) == []
    assert await row_status(pool, req.request_id) == "cancelled"


# ---- the store on its own ---------------------------------------------------------------------


async def reserved(pool: asyncpg.Pool, uid: str) -> tuple[WithdrawalRequest, PreparedWithdrawal]:
    req, prepared = sample(f"ids-{uid}", requested_by=f"alice-{uid}")
    assert await repo.register(pool, req, prepared) is None  # inserted now
    assert await repo.register(pool, req, prepared) == "requested"  # a retry: not final
    await repo.reserve(pool, req, prepared)
    await repo.reserve(pool, req, prepared)  # a retry: idempotent
    await repo.reserve(pool, req, prepared, repo.Limits(requester=10**9))  # either branch
    return req, prepared


@pytest.mark.parametrize(("kind", "status"), [("release", "cancelled"), ("debit", "confirmed")])
@pytest.mark.parametrize(
    "limits",
    [repo.Limits(), repo.Limits(requester=10**9), repo.Limits(hot_wallet=10**9)],
    ids=["none", "requester", "hot-wallet"],
)
async def test_reserve_refuses_a_closed_reservation(
    pool: asyncpg.Pool,
    uid: str,
    kind: Literal["release", "debit"],
    status: WithdrawalState,
    limits: repo.Limits,
) -> None:
    req, prepared = await reserved(pool, uid)
    change = LedgerChange(request_id=req.request_id, chain="solana", kind=kind, status=status)
    await repo.record(pool, change)
    assert await repo.register(pool, req, prepared) == status

    with pytest.raises(repo.ReservationClosed, match="was used before"):
        await repo.reserve(pool, req, prepared, limits)
    assert await ledger(pool, req.request_id) == ["reserve", kind]
    assert await row_status(pool, req.request_id) == status
