"""Record WithdrawalWorkflow histories for tests/workflows/test_replay.py.

Replay needs only a history, so each scenario runs the workflow on a throwaway Temporal dev
server with stand-in activities registered under the real activity names
(`core.activity_names`); no devnet, no Postgres. Each history is written to
`tests/workflows/histories/withdrawal-<scenario>[<suffix>].json` and committed: from then on,
any change to the workflow code that would break a running withdrawal of that shape fails
`pytest tests/workflows/test_replay.py` with a non-determinism error.

When a workflow changes:
- A change that is meant to keep running workflows working (the usual case, behind
  `workflow.patched`): record the affected scenario(s) with the NEW code under a new name
  (`--suffix=-v2`, or a new scenario) and keep the old files. The old histories prove the
  unpatched branch still replays, the new ones the patched branch.
- To record from an OLDER version of a workflow (e.g. the code before a patch), copy it out
  of git into a file outside the repo, adapt its imports, keep `@workflow.defn(name=...)`, and
  pass it with `--workflow-file` (its `WithdrawalWorkflow` class is used), e.g.:
      git show e2960b1^:workflows/withdrawal.py > /tmp/old_withdrawal.py   # then edit imports
      .venv/bin/python -m tests.workflows.record_histories \
          --workflow-file /tmp/old_withdrawal.py --suffix=-prepatch manual-review
- Never re-record a committed history just to make the replay test pass: a failure there
  means running workflows would break.

The policy workflow's history (`policy-solana`) comes from `--policy`.

Monitor and chain-watch histories (`solana-monitor-*`, `tron-monitor-*`, `*-watch-*`) come
from a scenario against the real stack instead:
    WALLETFLOW_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_replay.py

Usage (from the repo root):
    .venv/bin/python -m tests.workflows.record_histories            # every scenario
    .venv/bin/python -m tests.workflows.record_histories approved   # some of them
    .venv/bin/python -m tests.workflows.record_histories --list
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib
import logging
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from core import activity_names as act
from core import search_attributes
from core.intents import Action
from core.models import (
    Actor,
    Decision,
    DecisionOutcome,
    Fill,
    LedgerChange,
    Notification,
    NotificationResult,
    PolicyAction,
    PolicyChange,
    PolicyOutcome,
    PolicyState,
    PolicyWrite,
    PreparedSwap,
    PreparedWithdrawal,
    Resolution,
    SendOutcome,
    SignedVersion,
    SignRequest,
    SwapOrder,
    WithdrawalRequest,
    WithdrawalStatus,
    decision_params,
    policy_params,
)
from starter.client.withdrawals import signed
from starter.runtime.codec import KeyRing, with_codec
from tests.support.authority import MemoryRoster
from workflows.policy import PolicyWorkflow

HISTORIES = Path(__file__).parent / "histories"
REQUESTER, APPROVER, OPERATOR = "tg:1001", "tg:2002", "ops"


class StandIns:
    """The withdrawal and notification activities, scripted per scenario.

    `outcomes` are what successive send_and_confirm calls return (None: no answer from the
    chain, which the workflow reads as undecided). From `hold_from` on, a send waits for
    `release` before answering, so a scenario can signal while it runs."""

    def __init__(
        self,
        *,
        approval: bool = False,
        approvers: int = 1,
        outcomes: list[str | None] | None = None,
        hold_from: int | None = None,
        frozen: tuple[str, ...] = (),
        searchable: bool = True,
        venue_refuses: int = 0,
    ) -> None:
        self.approval = approval
        self.searchable = searchable  # False: as a worker with WALLETFLOW_CODEC_KEYS prepares
        # Steps refused once each as if the chain were frozen: "reserve", "sign", "broadcast".
        self.frozen = set(frozen)
        self.approvers = approvers
        # The roster of the signed-intents scenarios (load_roster, audit).
        self.people = MemoryRoster(
            alice=["requester"], bob=["approver"], carol=["approver"], ops=["admin"]
        )
        self.outcomes = list(outcomes or ["confirmed"])
        self.hold_from = hold_from
        self.sends = 0
        self.holding = asyncio.Event()
        self.release = asyncio.Event()
        self.venue_refuses = venue_refuses  # trades: sign_trade refused from this version on

    @activity.defn(name=act.PREPARE_WITHDRAWAL)
    async def prepare(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        return PreparedWithdrawal(
            asset_id="SOL",
            symbol="SOL",
            decimals=9,
            to=req.to,
            amount=11 * 10**9 if self.approval else 10**9,
            hot_wallet="hot",
            approval_required=self.approval,
            approval_reason="above 10 SOL" if self.approval else None,
            approvals_required=self.approvers,
            searchable_destination=self.searchable,
        )

    @activity.defn(name=act.PREPARE_TRADE)
    async def prepare_trade(self, req: WithdrawalRequest) -> PreparedWithdrawal:
        prepared = await self.prepare(req)
        swap = PreparedSwap(
            output_id="Mint111111111111111111111111111111111111111",
            output_symbol="USDC",
            output_decimals=6,
            slippage_bps=50,
            max_price_impact="0.05",
            priority_fee=10_000,
        )
        return prepared.model_copy(update={"to": "hot", "swap": swap})

    @activity.defn(name=act.SIGN_TRADE)
    async def sign_trade(self, req: SignRequest) -> SignedVersion:
        if self.venue_refuses and req.version >= self.venue_refuses:
            raise ApplicationError(
                "Slippage tolerance exceeded", type="VenueRefused", non_retryable=True
            )
        return await self.sign(req)

    @activity.defn(name=act.TRADE_FILL)
    async def trade_fill(self, tx_id: str) -> Fill:
        return Fill(input_id="SOL", input_amount=10**9, output_id="Mint", output_amount=149 * 10**6)

    def _frozen_once(self, step: str) -> None:
        if step in self.frozen:
            self.frozen.discard(step)
            raise ApplicationError("solana is frozen", type="Frozen", non_retryable=True)

    @activity.defn(name=act.RESERVE_WITHDRAWAL)
    async def reserve(self, req: WithdrawalRequest, prepared: PreparedWithdrawal) -> None:
        self._frozen_once("reserve")

    @activity.defn(name=act.SIGN_WITHDRAWAL)
    async def sign(self, req: SignRequest) -> SignedVersion:
        self._frozen_once("sign")
        return SignedVersion(
            request_id=req.request_id, chain=req.chain, version=req.version,
            tx_id=f"tx{req.version}", raw="AAAA", expiry=1000 * req.version,
        )  # fmt: skip

    @activity.defn(name=act.SEND_AND_CONFIRM)
    async def send_and_confirm(self, signed: SignedVersion) -> SendOutcome:
        self.sends += 1
        if self.hold_from is not None and self.sends >= self.hold_from:
            self.holding.set()
            await self.release.wait()
        result = self.outcomes.pop(0) if self.outcomes else None
        if result is None:
            raise ApplicationError("the chain could not be read", non_retryable=True)
        return SendOutcome(result=result, block=42 if result == "confirmed" else None)

    @activity.defn(name=act.PROVE_DEAD)
    async def prove_dead(self, signed: SignedVersion) -> SendOutcome:
        return SendOutcome(result="expired")

    @activity.defn(name=act.RECORD_WITHDRAWAL)
    async def record(self, change: LedgerChange) -> None:
        if change.status == "broadcast":
            self._frozen_once("broadcast")

    @activity.defn(name=act.SEND_NOTIFICATION)
    async def notify(self, n: Notification) -> NotificationResult:
        return NotificationResult(status="sent", message_id=1)

    def all(self) -> list[Callable[..., Any]]:
        return [self.prepare, self.reserve, self.sign, self.send_and_confirm, self.prove_dead,
                self.record, self.notify, self.people.load_roster, self.people.audit,
                self.prepare_trade, self.sign_trade, self.trade_fill]  # fmt: skip


async def status_is(handle: WorkflowHandle[Any, Any], wanted: str) -> None:
    for _ in range(200):
        if (await handle.query("status", result_type=WithdrawalStatus)).status == wanted:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} never reached {wanted}")


async def activity_failures_done(handle: WorkflowHandle[Any, Any], count: int) -> None:
    """Until `count` activity failures are in history and a workflow task ran after the last."""
    for _ in range(200):
        events = (await handle.fetch_history()).events
        failed = [
            i for i, e in enumerate(events) if e.HasField("activity_task_failed_event_attributes")
        ]
        if len(failed) >= count and any(
            e.HasField("workflow_task_completed_event_attributes") for e in events[failed[-1] :]
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id}: fewer than {count} activity failures")


# Each scenario: (stand-ins, request overrides, what to do once started, expected final status).
Drive = Callable[[WorkflowHandle[Any, Any], StandIns], Awaitable[None]]


async def nothing(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    return None


async def approve(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    await status_is(handle, "awaiting_approval")
    await handle.signal("approve", Actor(by=REQUESTER))  # self-approval: refused, recorded
    await handle.signal("approve", Actor(by=APPROVER))


async def reject(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    await status_is(handle, "awaiting_approval")
    await handle.signal("reject", Actor(by=APPROVER, reason="unknown address"))


async def cancel(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    await status_is(handle, "awaiting_approval")
    await handle.signal("cancel", Actor(by=REQUESTER, reason="typo in the address"))


async def manual_review(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    """Undecided, a recheck, a settle sent while the recheck runs, the recheck undecided too.
    With the `manual-review-keeps-decisions` patch the settle is kept and ends it; before the
    patch it was dropped, and a second settle (sent once the recheck came back) ends it."""
    await status_is(handle, "manual_review")
    await handle.signal("resolve", Resolution(by=OPERATOR, action="recheck"))
    await asyncio.wait_for(chain.holding.wait(), 10)
    settle = Resolution(by=OPERATOR, action="settle", reason="seen on an explorer", tx_id="tx1")
    await handle.signal("resolve", settle)
    await handle.query("status")  # the signal is in before the recheck ends
    chain.release.set()
    await activity_failures_done(handle, 2)
    if (
        await handle.query("status", result_type=WithdrawalStatus)
    ).status == "manual_review":  # the settle was dropped
        await handle.signal("resolve", settle)


async def decide(
    handle: WorkflowHandle[Any, Any],
    chain: StandIns,
    who: str,
    update: Action,
    expected: str,
    **fields: Any,
) -> Decision:
    """A signed decision as an update; asserts the workflow's answer."""
    params = decision_params(fields.get("reason"), fields.get("action"), fields.get("tx_id"))
    decision = Decision(
        intent=chain.people.signers[who].statement(update, handle.id, params), **fields
    )
    outcome = await handle.execute_update(update, decision, result_type=DecisionOutcome)
    if outcome.outcome != expected:
        raise AssertionError(f"{update} by {who}: {outcome}, expected {expected}")
    return decision


async def signed_approve(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    """Two of N: a self-approval, a replayed statement and a second approval by the same key
    are refused and audited; then two distinct approvers."""
    await status_is(handle, "awaiting_approval")
    await decide(handle, chain, "alice", "approve", "refused")  # alice is no approver
    first = await decide(handle, chain, "bob", "approve", "accepted")
    again = await handle.execute_update("approve", first, result_type=DecisionOutcome)
    assert again.outcome == "refused", again  # the same statement, replayed
    await decide(handle, chain, "bob", "approve", "refused")  # one principal counts once
    await handle.signal("approve", Actor(by="anyone"))  # unsigned: refused, recorded
    await decide(handle, chain, "carol", "approve", "accepted")


async def signed_reject(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    await status_is(handle, "awaiting_approval")
    await decide(handle, chain, "bob", "reject", "accepted", reason="unknown address")


async def signed_cancel(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    await status_is(handle, "awaiting_approval")
    await decide(handle, chain, "bob", "cancel", "refused")  # not the requester, no admin
    await decide(handle, chain, "alice", "cancel", "accepted", reason="typo in the address")


async def signed_manual_review(handle: WorkflowHandle[Any, Any], chain: StandIns) -> None:
    """As `manual_review`, by signed `resolve` updates; a non-admin's resolve is refused."""
    await status_is(handle, "manual_review")
    await decide(handle, chain, "bob", "resolve", "refused", action="release")
    await decide(handle, chain, "ops", "resolve", "accepted", action="recheck")
    await asyncio.wait_for(chain.holding.wait(), 10)
    await decide(
        handle, chain, "ops", "resolve", "accepted",
        action="settle", reason="seen on an explorer", tx_id="tx1",
    )  # fmt: skip
    chain.release.set()


SCENARIOS: dict[str, tuple[Callable[[], StandIns], dict[str, Any], Drive, str]] = {
    "confirmed": (lambda: StandIns(), {"notify_chat": 7}, nothing, "confirmed"),
    "resigned": (  # version 1 expires unlanded, version 2 confirms
        lambda: StandIns(outcomes=["expired", "confirmed"]),
        {"notify_chat": 7},
        nothing,
        "confirmed",
    ),
    "approved": (
        lambda: StandIns(approval=True),
        {"notify_chat": 7, "approver_chats": [8, 9]},
        approve,
        "confirmed",
    ),
    "rejected": (
        lambda: StandIns(approval=True),
        {"notify_chat": 7, "approver_chats": [8]},
        reject,
        "rejected",
    ),
    "cancelled": (
        lambda: StandIns(approval=True),
        {"notify_chat": 7, "approver_chats": [8]},
        cancel,
        "cancelled",
    ),
    "manual-review": (
        lambda: StandIns(outcomes=[None, None], hold_from=2),
        {"notify_chat": 7},
        manual_review,
        "confirmed",
    ),
    # Signed intents (the `signed-intents` patch): the request is signed by alice.
    "signed-confirmed": (lambda: StandIns(), {"notify_chat": 7}, nothing, "confirmed"),
    "signed-unsigned": (lambda: StandIns(), {"intent": None}, nothing, "rejected"),
    "signed-approved": (
        lambda: StandIns(approval=True, approvers=2),
        {"notify_chat": 7, "approver_chats": [8, 9]},
        signed_approve,
        "confirmed",
    ),
    "signed-rejected": (
        lambda: StandIns(approval=True),
        {"notify_chat": 7, "approver_chats": [8]},
        signed_reject,
        "rejected",
    ),
    "signed-cancelled": (
        lambda: StandIns(approval=True),
        {"notify_chat": 7, "approver_chats": [8]},
        signed_cancel,
        "cancelled",
    ),
    "signed-manual-review": (
        lambda: StandIns(outcomes=[None, None], hold_from=2),
        {"notify_chat": 7},
        signed_manual_review,
        "confirmed",
    ),
    # A freeze (the hot-wallet policy): reserving waits, then signing waits, then version 1
    # is held at broadcast and proven dead; version 2 goes out after the unfreeze.
    "signed-frozen": (
        lambda: StandIns(frozen=("reserve", "sign", "broadcast")),
        {"notify_chat": 7},
        nothing,
        "confirmed",
    ),
    # With the payload codec on: every payload encrypted with HISTORY_KEYS (the replay test
    # decrypts with them), and the destination kept out of the search attributes.
    "signed-encrypted": (
        lambda: StandIns(searchable=False),
        {"notify_chat": 7},
        nothing,
        "confirmed",
    ),
    # Trades (TradeWorkflow, `trade-<id>`): a signed `trade` statement, a fill read after
    # confirmation; a re-quote after version 1 expired; the venue refusing the second quote.
    "trade-confirmed": (lambda: StandIns(), {"notify_chat": 7}, nothing, "confirmed"),
    "trade-requoted": (
        lambda: StandIns(outcomes=["expired", "confirmed"]),
        {"notify_chat": 7},
        nothing,
        "confirmed",
    ),
    "trade-venue-refused": (
        lambda: StandIns(outcomes=["expired"], venue_refuses=2),
        {"notify_chat": 7},
        nothing,
        "failed",
    ),
}
# The test-only key ring the `encrypted` histories are written with: committed, never used
# for anything but replaying those histories.
HISTORY_KEYS = "history:" + base64.b64encode(bytes(range(32))).decode()
ENCRYPTED = with_codec(pydantic_data_converter, KeyRing.parse(HISTORY_KEYS))


async def record(client: Client, workflow: type, scenario: str, suffix: str) -> Path:
    make, overrides, drive, expected = SCENARIOS[scenario]
    chain = make()
    task_queue = f"record-{uuid.uuid4().hex[:8]}"
    req = WithdrawalRequest(
        # The workflow id is the history file's name, which replay uses as the workflow id:
        # signed statements name their workflow, so it must be the same.
        request_id=f"{scenario.removeprefix('trade-')}{suffix}",
        chain="solana",
        asset="SOL",
        to="Recipient1111111111111111111111111111111111",
        amount="11" if chain.approval else "1",
        requested_by=REQUESTER,
        notify_queue=task_queue,
    )
    trade = scenario.startswith("trade-")
    if trade:
        req = req.model_copy(update={"to": "", "swap": SwapOrder(output="USDC")})
    if scenario.startswith(("signed-", "trade-")):
        req = signed(req, chain.people.signers["alice"])
    req = req.model_copy(update=overrides)
    kind, workflow_type = (
        ("trade", "TradeWorkflow") if trade else ("withdrawal", "WithdrawalWorkflow")
    )
    if trade:
        from workflows.withdrawal import TradeWorkflow

        workflow = TradeWorkflow
    if "encrypted" in scenario:
        config = client.config()
        config["data_converter"] = ENCRYPTED
        client = Client(**config)
    async with Worker(client, task_queue=task_queue, workflows=[workflow], activities=chain.all()):
        handle = await client.start_workflow(
            workflow_type, req, id=f"{kind}-{req.request_id}", task_queue=task_queue
        )
        await drive(handle, chain)
        result = await asyncio.wait_for(handle.result(), 30)
    if result["status"] != expected:
        raise AssertionError(f"{scenario}: ended {result['status']}, expected {expected}")
    history = await handle.fetch_history()
    path = HISTORIES / f"{handle.id}.json"  # replay takes the file's name for the workflow id
    path.write_text(history.to_json() + "\n")
    return path


class PolicyStandIns:
    """The policy workflow's write, scripted: what a freeze or allowlist change returns."""

    def __init__(self) -> None:
        self.people = MemoryRoster(ops=["admin"], bob=["approver"])
        self.frozen = False

    @activity.defn(name=act.SET_POLICY)
    async def set_policy(self, write: PolicyWrite) -> PolicyOutcome:
        changed = write.action in ("allow", "disallow") or self.frozen != (write.action == "freeze")
        self.frozen = (
            write.action == "freeze" if write.action in ("freeze", "unfreeze") else self.frozen
        )
        return PolicyOutcome(outcome="accepted", changed=changed)


async def record_policy(client: Client) -> Path:
    """`policy-solana`: a non-admin's freeze refused, an admin's freeze, a replay of it
    refused, an allowlist entry, an unfreeze. Ends terminated: the workflow never ends."""
    stand_ins = PolicyStandIns()
    task_queue = f"record-{uuid.uuid4().hex[:8]}"
    workflow_id = "policy-solana"

    async def change(who: str, action: PolicyAction, address: str | None = None) -> PolicyChange:
        intent = stand_ins.people.signers[who].statement(
            action, workflow_id, policy_params(None, address)
        )
        return PolicyChange(intent=intent, address=address)

    async def expect(action: PolicyAction, arg: PolicyChange, outcome: str) -> None:
        got = await handle.execute_update(action, arg, result_type=PolicyOutcome)
        if got.outcome != outcome:
            raise AssertionError(f"{action}: {got}, expected {outcome}")

    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[PolicyWorkflow],
        activities=[stand_ins.set_policy, stand_ins.people.load_roster, stand_ins.people.audit],
    ):
        handle = await client.start_workflow(
            "PolicyWorkflow", PolicyState(chain="solana"), id=workflow_id, task_queue=task_queue
        )
        await expect("freeze", await change("bob", "freeze"), "refused")
        freeze = await change("ops", "freeze")
        await expect("freeze", freeze, "accepted")
        await expect("freeze", freeze, "refused")  # replayed
        allow = await change("ops", "allow", "Recipient1111111111111111111111111111111111")
        await expect("allow", allow, "accepted")
        await expect("unfreeze", await change("ops", "unfreeze"), "accepted")
        await handle.terminate("recorded")
    history = await handle.fetch_history()
    path = HISTORIES / "policy-solana.json"
    path.write_text(history.to_json() + "\n")
    return path


def load_workflow(path: str | None) -> type:
    if path is None:
        from workflows.withdrawal import WithdrawalWorkflow

        return WithdrawalWorkflow
    # By its own name from its own folder: the workflow sandbox re-imports it by name.
    file = Path(path).resolve()
    sys.path.insert(0, str(file.parent))
    module = importlib.import_module(file.stem)
    return module.WithdrawalWorkflow


def temporal_binary() -> str:
    beside = Path(sys.executable).parent / "temporal"
    path = str(beside) if beside.exists() else shutil.which("temporal")
    if path is None:
        raise SystemExit("the `temporal` CLI is not installed; run `make install`")
    return path


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help=f"default: all of {', '.join(SCENARIOS)}")
    parser.add_argument("--workflow-file", help="record with this file's WithdrawalWorkflow")
    parser.add_argument("--suffix", default="", help="appended to the history file names")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--policy", action="store_true", help="record the policy history only")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(SCENARIOS))
        return
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    workflow = load_workflow(args.workflow_file)
    # The stand-ins fail sends on purpose; the SDK would log each with a traceback.
    logging.getLogger("temporalio.activity").setLevel(logging.CRITICAL)
    HISTORIES.mkdir(exist_ok=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_log_level="error",
        # The SDK waits 5 s by default: too short on 2 busy cores (xdist, the other stacks).
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        if args.policy:
            print(await record_policy(env.client))
            return
        for scenario in args.scenarios or list(SCENARIOS):
            print(await record(env.client, workflow, scenario, args.suffix))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
