"""Manual review, as workflow logic: the chain undecidable, then an operator's decisions.

A unit test of the workflow's rules, so its activities are stand-ins (the real ones are
covered against the devnets elsewhere): send_and_confirm fails for good, which the workflow
reads as "no decision from the chain" and hands to an operator.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any, Literal

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core.ids import withdrawal_id
from core.models import (
    Decision,
    DecisionOutcome,
    LedgerChange,
    PreparedWithdrawal,
    SendOutcome,
    SignedVersion,
    SignRequest,
    WithdrawalRequest,
    decision_params,
)
from starter.client.signer import Signer
from starter.client.withdrawals import signed
from tests.support.authority import MemoryRoster
from tests.support.stack import eventually
from workflows.withdrawal import WithdrawalWorkflow


def resolution(
    by: Signer,
    workflow_id: str,
    action: Literal["recheck", "release", "settle"],
    reason: str | None = None,
    tx_id: str | None = None,
) -> Decision:
    statement = by.statement("resolve", workflow_id, decision_params(reason, action, tx_id))
    return Decision(intent=statement, action=action, reason=reason, tx_id=tx_id)


class UndecidableChain:
    """The withdrawal's activities; every send_and_confirm ends without an answer. A recheck
    (the second send) waits for `release`, so a test can act while it runs."""

    def __init__(self) -> None:
        self.sends = 0
        self.rechecking = asyncio.Event()
        self.release = asyncio.Event()
        self.recorded: list[tuple[str, str | None]] = []

    @activity.defn(name="prepare_withdrawal")
    async def prepare(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        return PreparedWithdrawal(
            asset_id="SOL",
            symbol="SOL",
            decimals=9,
            to=req.to,
            amount=1,
            hot_wallet="hot",
            approval_required=False,
        )

    @activity.defn(name="reserve_withdrawal")
    async def reserve(self, req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
        return None

    @activity.defn(name="sign_withdrawal")
    async def sign(self, req: SignRequest) -> SignedVersion:
        return SignedVersion(
            request_id=req.request_id, chain=req.chain, version=req.version, tx_id="t1",
            raw="", expiry=1,
        )  # fmt: skip

    @activity.defn(name="send_and_confirm")
    async def send_and_confirm(self, signed: SignedVersion) -> SendOutcome:
        self.sends += 1
        if self.sends > 1:
            self.rechecking.set()
            await self.release.wait()
        raise ApplicationError("the chain could not be read", non_retryable=True)

    @activity.defn(name="record_withdrawal")
    async def record(self, change: LedgerChange) -> None:
        self.recorded.append((change.status, change.kind))


async def test_a_decision_sent_during_a_recheck_is_kept(client: Client, task_queue: str) -> None:
    chain = UndecidableChain()
    people = MemoryRoster(alice=["requester"], ops=["admin"])
    req = WithdrawalRequest(
        request_id=f"mr-{uuid.uuid4().hex[:8]}",
        chain="solana",
        asset="SOL",
        to="somewhere",
        amount="0.000000001",
        requested_by="cli:alice",
        notify_queue=task_queue,
    )
    req = signed(req, people.signers["alice"])
    workflow_id = withdrawal_id(req.request_id)
    ops = people.signers["ops"]
    activities: list[Callable[..., Any]] = [
        chain.prepare,
        chain.reserve,
        chain.sign,
        chain.send_and_confirm,
        chain.record,
        people.load_roster,
        people.audit,
    ]
    async with Worker(
        client, task_queue=task_queue, workflows=[WithdrawalWorkflow], activities=activities
    ):
        handle = await client.start_workflow(
            WithdrawalWorkflow.run, req, id=workflow_id, task_queue=task_queue
        )

        async def in_review() -> bool:
            return (await handle.query(WithdrawalWorkflow.status)).status == "manual_review"

        await eventually(in_review)
        recheck = resolution(ops, workflow_id, "recheck")
        accepted = await handle.execute_update(WithdrawalWorkflow.resolve, recheck)
        assert accepted == DecisionOutcome(outcome="accepted")
        await asyncio.wait_for(chain.rechecking.wait(), 10)
        # While the recheck runs, the operator decides: it landed after all.
        settle = resolution(ops, workflow_id, "settle", reason="seen on an explorer", tx_id="t1")
        await handle.execute_update(WithdrawalWorkflow.resolve, settle)
        chain.release.set()  # the recheck, too, ends without an answer
        result = await asyncio.wait_for(handle.result(), 10)
    assert result.status == "confirmed", result
    assert result.reason == "settled by ops: seen on an explorer"
    assert result.tx_id == "t1"
    assert chain.recorded[-1] == ("confirmed", "debit")
    assert chain.sends == 2  # the first send, the one recheck: no further one
