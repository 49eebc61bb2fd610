"""A cancel that arrives while the version is being signed: the signed bytes exist, so the
reservation is released only once the chain proves they can't land (or debited if they did).

Workflow logic, so the activities are stand-ins (the real prove_dead reads the chain through
the same `check` as send_and_confirm, tested against the devnets).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, WorkflowUpdateStage
from temporalio.worker import Worker

from core import activity_names as act
from core.ids import withdrawal_id
from core.models import (
    Decision,
    LedgerChange,
    PreparedWithdrawal,
    SendOutcome,
    SignedVersion,
    SignRequest,
    WithdrawalRequest,
    decision_params,
)
from starter.client.withdrawals import signed
from tests.support.authority import MemoryRoster
from tests.support.stack import eventually
from workflows.withdrawal import WithdrawalWorkflow


class SlowSigner:
    """Signing waits for `release`, so a cancel can arrive meanwhile; nothing is broadcast."""

    def __init__(self, fate: str, block_in: str = "sign") -> None:
        self.fate = fate
        self.block_in = block_in
        self.signatures = 0
        self.signing = asyncio.Event()
        self.release = asyncio.Event()
        self.broadcasts = 0
        self.proofs = 0
        self.recorded: list[tuple[str, str | None]] = []

    @activity.defn(name=act.PREPARE_WITHDRAWAL)
    async def prepare(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        return PreparedWithdrawal(
            asset_id="SOL", symbol="SOL", decimals=9, to=req.to, amount=1, hot_wallet="hot",
            approval_required=False,
        )  # fmt: skip

    @activity.defn(name=act.RESERVE_WITHDRAWAL)
    async def reserve(self, req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
        if self.block_in == "reserve":
            self.signing.set()
            await self.release.wait()

    @activity.defn(name=act.SIGN_WITHDRAWAL)
    async def sign(self, req: SignRequest) -> SignedVersion:
        self.signatures += 1
        if self.block_in == "sign":
            self.signing.set()
            await self.release.wait()
        return SignedVersion(
            request_id=req.request_id, chain=req.chain, version=req.version, tx_id="t1",
            raw="AAAA", expiry=1,
        )  # fmt: skip

    @activity.defn(name=act.SEND_AND_CONFIRM)
    async def send_and_confirm(self, version: SignedVersion) -> SendOutcome:
        self.broadcasts += 1
        return SendOutcome(result="confirmed")

    @activity.defn(name=act.PROVE_DEAD)
    async def prove_dead(self, version: SignedVersion) -> SendOutcome:
        self.proofs += 1
        return SendOutcome(result=self.fate)

    @activity.defn(name=act.RECORD_WITHDRAWAL)
    async def record(self, change: LedgerChange) -> None:
        self.recorded.append((change.status, change.kind))

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare, self.reserve, self.sign, self.send_and_confirm, self.prove_dead,
                self.record]  # fmt: skip


async def cancel_while_blocked(
    client: Client, task_queue: str, chain: SlowSigner
) -> tuple[str, str | None]:
    """Start, cancel (signed by the requester) while `chain` blocks, then let it go on."""
    people = MemoryRoster(alice=["requester"])
    req = WithdrawalRequest(
        request_id=f"cs-{uuid.uuid4().hex[:8]}", chain="solana", asset="SOL", to="somewhere",
        amount="0.000000001", requested_by="alice", notify_queue=task_queue,
    )  # fmt: skip
    req = signed(req, people.signers["alice"])
    workflow_id = withdrawal_id(req.request_id)
    activities: list[Callable[..., Any]] = [*chain.all(), people.load_roster, people.audit]
    async with Worker(client, task_queue=task_queue, workflows=[WithdrawalWorkflow],
                      activities=activities):  # fmt: skip
        handle = await client.start_workflow(
            WithdrawalWorkflow.run, req, id=workflow_id, task_queue=task_queue
        )
        await asyncio.wait_for(chain.signing.wait(), 10)
        statement = people.signers["alice"].statement("cancel", workflow_id, decision_params())
        # Accepted while the blocked step runs (its workflow task heartbeats, and the update
        # is delivered with the next one). The step goes on once the cancel is decided.
        update = await handle.start_update(
            "cancel", Decision(intent=statement), wait_for_stage=WorkflowUpdateStage.ACCEPTED
        )

        async def decided() -> bool:
            return any(e.action == "withdrawal.cancel" for e in people.audited)

        await eventually(decided)
        await asyncio.sleep(0.5)  # the audit's result reaches the workflow
        chain.release.set()
        assert (await update.result())["outcome"] == "accepted"
        result = await asyncio.wait_for(handle.result(), 10)
    assert chain.broadcasts == 0  # a cancelled withdrawal is never sent
    return result.status, chain.recorded[-1][1]


@pytest.mark.parametrize(
    ("fate", "status", "ledger"),
    [("expired", "cancelled", "release"), ("confirmed", "confirmed", "debit")],
)
async def test_a_cancel_during_signing_waits_for_the_version_to_die(
    client: Client, task_queue: str, fate: str, status: str, ledger: str
) -> None:
    chain = SlowSigner(fate)
    assert await cancel_while_blocked(client, task_queue, chain) == (status, ledger)
    assert chain.proofs == 1  # its death (or landing) proven before the ledger moves


async def test_a_cancel_before_signing_signs_nothing(client: Client, task_queue: str) -> None:
    chain = SlowSigner("expired", block_in="reserve")
    assert await cancel_while_blocked(client, task_queue, chain) == ("cancelled", "release")
    assert chain.signatures == 0 and chain.proofs == 0
