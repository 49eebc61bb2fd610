"""Red team on the hot-wallet policy: with full Temporal access but no admin's key, nobody can
freeze, unfreeze or change the allowlist; every attempt is refused and audited.

Raw Temporal access only: `Client.connect` with the default JSON converter, and the `temporal`
CLI. The truth is the flag in Postgres, so even a policy workflow started by hand with a
made-up state changes nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from core.ids import policy_id
from core.intents import Intent, params_hash, sign
from core.models import policy_params
from starter.client.signer import Signer
from tests.support.cli import temporal
from tests.support.stack import Stack

STACK = {"queues": ("solana",), "triggers": False}


@pytest_asyncio.fixture
async def raw(temporal_env: WorkflowEnvironment) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_env.client.service_client.config.target_host)


def change(by: Signer, action: str, workflow_id: str, address: str | None = None) -> dict[str, Any]:
    now = int(time.time())
    intent = Intent(
        action=action,
        workflow_id=workflow_id,
        params=params_hash(policy_params(None, address)),
        issued_at=now,
        expires_at=now + 600,
        nonce=secrets.token_hex(16),
        principal=by.principal,
    )
    return {"intent": sign(intent, by.private_key).model_dump(mode="json"), "address": address}


async def policy(raw: Client, stack: Stack, state: dict[str, Any]) -> WorkflowHandle[Any, Any]:
    return await raw.start_workflow(
        "PolicyWorkflow",
        state,
        id=policy_id(stack.settings.task_queue("solana")),
        task_queue=stack.settings.task_queue("solana"),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def frozen(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT frozen FROM chain_policy WHERE chain = 'solana'"))


async def refused(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(
        "SELECT reason FROM audit_log WHERE action LIKE 'policy.%' AND outcome = 'refused' "
        "ORDER BY id"
    )
    return [r["reason"] for r in rows]


async def test_only_an_admins_statement_changes_the_policy(
    stack: Stack, raw: Client, pool: asyncpg.Pool, temporal_env: WorkflowEnvironment
) -> None:
    handle = await policy(raw, stack, {"chain": "solana"})
    workflow_id = handle.id
    mallory = Signer("operator", secrets.token_bytes(32))  # claims to be the admin
    approver = stack.signer("approver")  # a real key, but not an admin's
    outsider = str(Keypair().pubkey())
    attempts = {
        "forged": ("freeze", change(mallory, "freeze", workflow_id)),
        "not an admin": ("freeze", change(approver, "freeze", workflow_id)),
        "other chain": ("freeze", change(stack.signer(), "freeze", "policy-elsewhere")),
        "allow, forged": ("allow", change(mallory, "allow", workflow_id, outsider)),
    }
    outcomes = {
        name: await handle.execute_update(action, arg) for name, (action, arg) in attempts.items()
    }
    assert {n: o["outcome"] for n, o in outcomes.items()} == dict.fromkeys(attempts, "refused")
    assert "bad signature" in outcomes["forged"]["reason"]
    assert "admin" in outcomes["not an admin"]["reason"]
    assert "policy-elsewhere" in outcomes["other chain"]["reason"]
    assert len(await refused(pool)) == len(attempts)
    assert not await frozen(pool)
    assert await pool.fetchval("SELECT count(*) FROM allowlist") == 0

    # The `temporal` CLI: free text is malformed (the validator refuses it, nothing recorded),
    # a statement by the wrong key is refused.
    address = temporal_env.client.service_client.config.target_host
    update = ("workflow", "update", "execute", "--workflow-id", workflow_id)
    malformed = await temporal(address, *update, "--name", "freeze", "--input", '{"by": 1}')
    assert malformed.returncode != 0
    wrong = json.dumps(change(approver, "unfreeze", workflow_id))
    answered = await temporal(address, *update, "--name", "unfreeze", "--input", wrong)
    assert answered.returncode == 0 and "refused" in answered.stdout, answered

    # The admin freezes; the very same statement can't be replayed, nor turned into an unfreeze.
    good = change(stack.signer("operator"), "freeze", workflow_id)
    assert (await handle.execute_update("freeze", good))["outcome"] == "accepted"
    assert await frozen(pool)
    assert (await handle.execute_update("freeze", good))["reason"] == (
        "the statement was used before (replayed nonce)"
    )
    assert (await handle.execute_update("unfreeze", good))["outcome"] == "refused"
    assert await frozen(pool)

    # A policy workflow started by hand with a made-up state unfreezes nothing: the flag in
    # Postgres is the truth, and only a verified statement writes it.
    await handle.terminate("red team")
    forged_state = await policy(raw, stack, {"chain": "solana", "frozen": False, "nonces": {}})
    assert (await forged_state.query("status"))["frozen"] is False
    assert await frozen(pool)
    unfreeze = change(stack.signer("operator"), "unfreeze", forged_state.id)
    assert (await forged_state.execute_update("unfreeze", unfreeze))["outcome"] == "accepted"
    assert not await frozen(pool)
