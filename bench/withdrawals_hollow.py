"""A hollow withdrawal for bench/withdrawals.py --hollow: the real WithdrawalWorkflow, its
activities answering at once.

The activities keep the real ones' names and return payloads of the real ones' kind and size
(a prepared withdrawal, a signed version of a Solana transfer's length, "confirmed"), but touch
no chain and no database. Measured beside the bare workflow and the real withdrawal, it splits
the difference between them in two: what walletflow's workflow costs on Temporal (search
attributes, payloads, its code in the sandbox) and what the real work costs (RPC, PostgreSQL,
signing, waiting for finality). A benchmark instrument only, never a worker of walletflow.

    python bench/withdrawals_hollow.py --task-queue Q --keys DIR [--ready-file F]

The roster it serves is the dev principals' (their keys in DIR, `walletflow dev`'s), so the
withdrawals' signed statements, and the approvals' ones, verify as they do on the real worker.
`prepare` asks the worker's approval policy (WITHDRAWAL_APPROVAL_THRESHOLDS and
WITHDRAWAL_APPROVAL_TIERS, as the real worker reads them) how many approvers a request's amount
needs, so the bench's 2-of-N share awaits its approvals here too.

Its own module, so that bench.withdrawals_baseline (whose module the sandbox re-imports for
every bare run) does not import walletflow's workflow code.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import activity
from withdrawals_baseline import serve  # bench/withdrawals_baseline.py, beside this script

from activities.withdraw import Policy
from core import activity_names as act
from core.intents import Principal, Roster
from core.models import (
    AuditEntry,
    LedgerChange,
    PreparedWithdrawal,
    SendOutcome,
    SignedVersion,
    SignRequest,
    WithdrawalRequest,
)
from starter.devstack.principals import BOT_USERS, DEV_PRINCIPALS, dev_key
from starter.runtime.settings import load_settings
from workflows.withdrawal import WithdrawalWorkflow

SIGNED_BYTES = 300  # about a Solana token transfer with its recipient's account creation


class Preparer:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    @activity.defn(name="prepare_withdrawal")
    async def prepare(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        approvals, why = self.policy.approvals(req.asset, Decimal(req.amount))  # as the real one
        return PreparedWithdrawal(
            asset_id=req.asset,
            symbol=req.asset,
            decimals=9,
            to=req.to,
            amount=1_000_000,
            hot_wallet=req.to,
            approval_required=approvals > 0,
            approval_reason=why,
            approvals_required=max(approvals, 1),
        )


@activity.defn(name="reserve_withdrawal")
async def reserve(req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
    return None


@activity.defn(name="sign_withdrawal")
async def sign(req: SignRequest) -> SignedVersion:
    digest = hashlib.sha512(f"{req.request_id}/{req.version}".encode()).digest()
    return SignedVersion(
        request_id=req.request_id,
        chain=req.chain,
        version=req.version,
        tx_id=base64.b64encode(digest).decode()[:88],  # a signature's length in base58
        raw=base64.b64encode((digest * (SIGNED_BYTES // len(digest) + 1))[:SIGNED_BYTES]).decode(),
        expiry=1,
    )


@activity.defn(name="send_and_confirm")
async def send_and_confirm(signed: SignedVersion) -> SendOutcome:
    return SendOutcome(result="confirmed")


@activity.defn(name="record_withdrawal")
async def record(change: LedgerChange) -> None:
    return None


class Authority:
    def __init__(self, keys: Path) -> None:
        self.roster = Roster(
            principals=[
                Principal(
                    id=name,
                    public_key=dev_key(keys, name).public_key,
                    roles=roles,
                    users=BOT_USERS if name == "bot" else {},
                )
                for name, roles in DEV_PRINCIPALS.items()
            ]
        )

    @activity.defn(name=act.LOAD_ROSTER)
    async def load_roster(self) -> Roster:
        return self.roster

    @activity.defn(name=act.AUDIT)
    async def audit(self, entry: AuditEntry) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--keys", type=Path, required=True, help="the dev principals' keys")
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    settings = load_settings()
    policy = Policy(
        approval_thresholds=settings.amounts("approval_thresholds"), approval_tiers=settings.tiers()
    )
    prepare = Preparer(policy).prepare
    authority = Authority(args.keys)
    activities: list[Callable[..., Any]] = [
        prepare, reserve, sign, send_and_confirm, record, authority.load_roster, authority.audit
    ]  # fmt: skip
    asyncio.run(serve(args.task_queue, args.ready_file, [WithdrawalWorkflow], activities, "hollow"))


if __name__ == "__main__":
    main()
