"""Red team: someone with full Temporal access but no principal's key tries to move money.

Everything here goes through raw Temporal access, never walletflow's client: `Client.connect`
with Temporal's default JSON converter, and the `temporal` CLI. Each attempt must leave the
chain unchanged and its refusal in the audit log.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from core.intents import Intent, params_hash, sign
from core.models import decision_params
from starter.client.signer import Signer
from tests.support.cli import temporal as temporal_cli
from tests.support.ids import new_request_id
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import ledger, sol_balance

STACK = {"queues": ("solana", "notify"), "triggers": False, "settings": {
    "WITHDRAWAL_APPROVAL_TIERS": "SOL:20:2",
}}  # fmt: skip


@pytest_asyncio.fixture
async def raw(temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    """A plain Temporal client, as anyone with network access to the frontend would have."""
    yield await Client.connect(temporal_env.client.service_client.config.target_host)


def request(stack: Stack, to: str, amount: str, request_id: str) -> dict[str, Any]:
    """A withdrawal request as raw JSON, the way a hand-made `temporal workflow start` has it."""
    return {
        "request_id": request_id,
        "chain": "solana",
        "asset": "SOL",
        "to": to,
        "amount": amount,
        "requested_by": "operator",
        "notify_queue": stack.settings.task_queue("notify"),
    }


def statement(
    by: Signer, action: str, workflow_id: str, params: dict[str, object], **changes: Any
) -> dict[str, Any]:
    now = int(time.time())
    fields: dict[str, Any] = {
        "action": action,
        "workflow_id": workflow_id,
        "params": params_hash(params),
        "issued_at": now,
        "expires_at": now + 600,
        "nonce": secrets.token_hex(16),
        "principal": by.principal,
        **changes,
    }
    return sign(Intent(**fields), by.private_key).model_dump(mode="json")


def decision(by: Signer, action: str, workflow_id: str, **changes: Any) -> dict[str, Any]:
    return {"intent": statement(by, action, workflow_id, decision_params(), **changes)}


async def start(raw: Client, stack: Stack, req: dict[str, Any]) -> WorkflowHandle[Any, Any]:
    return await raw.start_workflow(
        "WithdrawalWorkflow",
        req,
        id=f"withdrawal-{req['request_id']}",
        task_queue=stack.settings.task_queue("solana"),
    )


async def refusals(pool: asyncpg.Pool, request_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT reason FROM audit_log WHERE subject = $1 AND outcome = 'refused' ORDER BY id",
        f"withdrawal:{request_id}",
    )
    return [r["reason"] for r in rows]


async def awaiting(raw: Client, stack: Stack, amount: str) -> tuple[str, str, Any]:
    """A properly signed withdrawal above the threshold, waiting for approval."""
    to = str(Keypair().pubkey())
    req = request(stack, to, amount, new_request_id())
    workflow_id = f"withdrawal-{req['request_id']}"
    params = {k: req[k] for k in ("request_id", "chain", "asset", "to", "amount")}
    req["intent"] = statement(stack.signer("operator"), "withdraw", workflow_id, params)
    handle = await start(raw, stack, req)

    async def waiting() -> bool:
        return bool((await handle.query("status"))["status"] == "awaiting_approval")

    await eventually(waiting)
    return req["request_id"], to, handle


async def test_a_withdrawal_without_a_valid_statement_never_starts(
    stack: Stack, raw: Client, pool: asyncpg.Pool
) -> None:
    to = str(Keypair().pubkey())
    unsigned = request(stack, to, "1", new_request_id())
    forged = request(stack, to, "1", new_request_id())
    mallory = Signer("operator", secrets.token_bytes(32))  # claims to be the operator
    params = {k: forged[k] for k in ("request_id", "chain", "asset", "to", "amount")}
    forged["intent"] = statement(mallory, "withdraw", f"withdrawal-{forged['request_id']}", params)
    # A real statement, but for another amount: its parameters don't match.
    altered = request(stack, to, "1", new_request_id())
    real = dict(params, request_id=altered["request_id"], amount="0.001")
    altered["intent"] = statement(
        stack.signer("operator"), "withdraw", f"withdrawal-{altered['request_id']}", real
    )
    results = [await (await start(raw, stack, r)).result() for r in (unsigned, forged, altered)]
    assert [r["status"] for r in results] == ["rejected"] * 3, results
    assert [r["reason"] for r in results] == [
        "no signed withdraw statement",
        "bad signature for principal 'operator'",
        "the statement's parameters differ from the command's",
    ]
    for r in (unsigned, forged, altered):
        assert await ledger(pool, r["request_id"]) == []
        assert len(await refusals(pool, r["request_id"])) == 1
    assert await sol_balance(stack, to) == 0


async def test_forged_expired_replayed_and_foreign_approvals_are_refused(
    stack: Stack, raw: Client, pool: asyncpg.Pool
) -> None:
    request_id, to, handle = await awaiting(raw, stack, "11")
    workflow_id = f"withdrawal-{request_id}"
    approver = stack.signer("approver")
    mallory = Signer("approver", secrets.token_bytes(32))
    now = int(time.time())
    good = decision(approver, "approve", workflow_id)
    attempts = {
        "forged": decision(mallory, "approve", workflow_id),
        "expired": decision(approver, "approve", workflow_id, issued_at=now - 700,
                            expires_at=now - 100),
        "foreign": decision(approver, "approve", "withdrawal-someone-else"),
        "wrong action": decision(approver, "reject", workflow_id),
        "unlisted user": decision(stack.signer("bot"), "approve", workflow_id,
                                  on_behalf_of="tg:666"),
    }  # fmt: skip
    outcomes = {name: await handle.execute_update("approve", d) for name, d in attempts.items()}
    assert {name: o["outcome"] for name, o in outcomes.items()} == dict.fromkeys(
        attempts, "refused"
    ), outcomes
    assert "bad signature" in outcomes["forged"]["reason"]
    assert "expired" in outcomes["expired"]["reason"]
    assert "withdrawal-someone-else" in outcomes["foreign"]["reason"]
    assert "may not sign for 'tg:666'" in outcomes["unlisted user"]["reason"]
    status = await handle.query("status")
    assert status["status"] == "awaiting_approval" and status["approved_by"] == []
    assert len(await refusals(pool, request_id)) == len(attempts)
    # The one valid statement among them moves the money, once.
    assert (await handle.execute_update("approve", good))["outcome"] == "accepted"
    result = await handle.result()
    assert result["status"] == "confirmed" and result["approved_by"] == ["approver"]
    assert await ledger(pool, request_id) == ["reserve", "debit"]
    assert await sol_balance(stack, to) == 11 * 10**9


async def test_a_statement_is_used_once(stack: Stack, raw: Client, pool: asyncpg.Pool) -> None:
    request_id, to, handle = await awaiting(raw, stack, "21")  # two approvers needed
    workflow_id = f"withdrawal-{request_id}"
    first = decision(stack.signer("approver"), "approve", workflow_id)
    assert (await handle.execute_update("approve", first))["outcome"] == "accepted"
    again = await handle.execute_update("approve", first)  # the very same statement
    assert again == {
        "outcome": "refused",
        "reason": "the statement was used before (replayed nonce)",
    }
    # A fresh statement by the same key: one principal counts once.
    twice = await handle.execute_update(
        "approve", decision(stack.signer("approver"), "approve", workflow_id)
    )
    assert twice["outcome"] == "refused" and "counts once" in twice["reason"]
    status = await handle.query("status")
    assert status["status"] == "awaiting_approval" and status["approved_by"] == ["approver"]
    assert len(await refusals(pool, request_id)) == 2
    cancel = decision(stack.signer("operator"), "cancel", workflow_id)
    assert (await handle.execute_update("cancel", cancel))["outcome"] == "accepted"
    assert (await handle.result())["status"] == "cancelled"
    assert await ledger(pool, request_id) == [] and await sol_balance(stack, to) == 0


async def test_the_temporal_cli_cannot_approve_without_a_key(
    stack: Stack, raw: Client, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    request_id, to, handle = await awaiting(raw, stack, "11")
    workflow_id = f"withdrawal-{request_id}"
    address = temporal_env.client.service_client.config.target_host

    async def temporal(*args: str) -> subprocess.CompletedProcess[str]:
        return await temporal_cli(address, *args, "--workflow-id", workflow_id)

    # The old way: a signal with a free-text name. Recorded as refused, approves nothing.
    signalled = await temporal(
        "workflow", "signal", "--name", "approve", "--input", '{"by": "anyone"}'
    )
    assert signalled.returncode == 0, signalled.stderr
    # An update with the same free text: malformed, refused before the workflow sees it.
    malformed = await temporal(
        "workflow", "update", "execute", "--name", "approve", "--input", '{"by": "anyone"}'
    )
    assert malformed.returncode != 0
    # A well-formed statement signed with a key the roster doesn't have: refused.
    mallory = Signer("approver", secrets.token_bytes(32))
    forged = json.dumps(decision(mallory, "approve", workflow_id))
    answered = await temporal(
        "workflow", "update", "execute", "--name", "approve", "--input", forged
    )
    assert answered.returncode == 0 and "refused" in answered.stdout, answered
    # And `resolve`, which needs an admin, while the withdrawal is not even in review.
    resolve = await temporal("workflow", "update", "execute", "--name", "resolve", "--input",
                       json.dumps({**decision(mallory, "resolve", workflow_id),
                                   "action": "release"}))  # fmt: skip
    assert resolve.returncode != 0

    async def signal_refused() -> list[str]:
        refused: list[str] = (await handle.query("status"))["refused"]
        return [r for r in refused if "unsigned approve signal" in r]

    await eventually(signal_refused)
    status = await handle.query("status")
    assert status["status"] == "awaiting_approval" and status["approved_by"] == []
    assert any("bad signature" in r for r in await refusals(pool, request_id))
    await asyncio.sleep(0.5)
    assert await ledger(pool, request_id) == [] and await sol_balance(stack, to) == 0
    cancel = decision(stack.signer("operator"), "cancel", workflow_id)
    assert (await handle.execute_update("cancel", cancel))["outcome"] == "accepted"
