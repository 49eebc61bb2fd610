"""The allowlist with its cooling-off, the hot wallet's rolling limit, and the commands that
show and change them (`walletflow allowlist`, `policy show`, `freeze`, `intent`), run as a
user runs them: subprocesses on the stack's settings, signed with the dev keys."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from starter.cli import exits
from tests.support.cli import walletflow
from tests.support.stack import Stack, stack_cli_env
from tests.support.withdrawals import fresh_tron_address, ledger, trx_balance, withdraw

COOLING_OFF_S = 4
STACK = {
    "queues": ("tron", "notify"),
    "triggers": False,
    "settings": {
        "WITHDRAWAL_ALLOWLIST": "on",
        "WITHDRAWAL_ALLOWLIST_COOLING_OFF_HOURS": COOLING_OFF_S / 3600,
        "WITHDRAWAL_HOT_WALLET_LIMITS": "TRX:30",
        "WITHDRAWAL_DAILY_LIMITS": "TRX:20",
    },
}


@pytest.fixture
def env(stack: Stack, tmp_path: Path) -> dict[str, str]:
    return stack_cli_env(stack, tmp_path)


async def test_a_new_destination_counts_after_its_cooling_off(
    stack: Stack, pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    to = fresh_tron_address()
    _, unlisted = await withdraw(stack, "tron", "TRX", to, "1")
    assert unlisted is not None and unlisted.status == "failed"
    assert f"destination {to} is not on the allowlist" == unlisted.reason

    # Only an admin's key may add it (the approver's is refused, exit 3, nothing listed).
    approver = str(stack.settings.signing_key().parent / "approver.json")
    r = await walletflow(env, "allowlist", "add", "tron", to, "--key", approver)
    assert r.code == exits.REFUSED and "admin" in r.err, r
    r = await walletflow(env, "allowlist", "add", "tron", to, "--note", "treasury", "--json")
    assert r.code == 0, r.err
    added = json.loads(r.out)
    assert added["outcome"] == "accepted" and added["changed"] is True

    request_id, cooling = await withdraw(stack, "tron", "TRX", to, "1")
    assert cooling is not None and cooling.status == "failed"
    assert "cooling off until" in (cooling.reason or ""), cooling.reason
    assert await ledger(pool, request_id) == []
    r = await walletflow(env, "allowlist", "list", "--json")
    [entry] = json.loads(r.out)
    assert entry["address"] == to and entry["active"] is False and entry["note"] == "treasury"

    await asyncio.sleep(COOLING_OFF_S + 0.5)
    _, allowed = await withdraw(stack, "tron", "TRX", to, "1")
    assert allowed is not None and allowed.status == "confirmed", allowed
    assert await trx_balance(stack, to) == 1_000_000

    r = await walletflow(env, "allowlist", "rm", "tron", to)
    assert r.code == 0 and "removed" in r.out, r
    _, removed = await withdraw(stack, "tron", "TRX", to, "1")
    assert removed is not None and removed.status == "failed"
    assert await trx_balance(stack, to) == 1_000_000
    actions = await pool.fetch(
        "SELECT action, outcome FROM audit_log WHERE action LIKE 'policy.%' ORDER BY id"
    )
    assert [(a["action"], a["outcome"]) for a in actions] == [
        ("policy.allow", "refused"),
        ("policy.allow", "changed"),
        ("policy.disallow", "changed"),
    ]


async def test_the_hot_wallet_limit_is_shared_by_every_requester(
    stack: Stack, pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    r = await walletflow(
        env, "allowlist", "add", "tron", to := fresh_tron_address(), "--json"
    )  # fmt: skip
    assert r.code == 0, r.err
    await asyncio.sleep(COOLING_OFF_S + 0.5)
    before = await hot_wallet_used(env)  # what earlier tests of this module sent
    assert before <= 1
    operator, user = stack.signer("operator"), stack.signer("bot").acting_for("tg:1001")
    _, first = await withdraw(stack, "tron", "TRX", to, "18", by=operator)
    _, second = await withdraw(stack, "tron", "TRX", to, "11", by=user)
    assert first is not None and first.status == "confirmed", first
    assert second is not None and second.status == "confirmed", second  # 29 of 30
    third_id, third = await withdraw(stack, "tron", "TRX", to, "2", by=user)
    assert third is not None and third.status == "failed"
    assert "the hot wallet's rolling 24h limit" in (third.reason or ""), third.reason
    assert await ledger(pool, third_id) == []
    assert await trx_balance(stack, to) == 29_000_000

    assert await hot_wallet_used(env) == before + 29


async def hot_wallet_used(env: dict[str, str]) -> Decimal:
    """TRX the hot wallet used of its rolling limit, as `walletflow policy show` prints it."""
    r = await walletflow(env, "policy", "show", "tron", "--json")
    assert r.code == 0, r.err
    [shown] = json.loads(r.out)
    trx = next(row for row in shown["limits"] if row["asset"] == "TRX")
    assert (trx["hot_wallet_24h"], trx["requester_24h"]) == ("30", "20")
    assert shown["allowlist"]["enforced"] is True and shown["frozen"] is False
    return Decimal(trx["hot_wallet_used_24h"])


async def test_freeze_and_unfreeze_from_the_cli(
    stack: Stack, pool: asyncpg.Pool, env: dict[str, str]
) -> None:
    r = await walletflow(env, "freeze", "tron", "--reason", "incident 42")
    assert r.code == 0 and "tron: frozen" in r.out, r
    r = await walletflow(env, "policy", "show", "--json")
    tron = next(doc for doc in json.loads(r.out) if doc["chain"] == "tron")
    assert tron["frozen"] is True and tron["frozen_reason"] == "incident 42"
    assert tron["changed_by"] == "operator"
    r = await walletflow(env, "freeze", "tron")
    assert r.code == 0 and "was frozen already" in r.out, r
    # The printed statement is what a `temporal` CLI user pastes; it verifies the same way.
    r = await walletflow(env, "intent", "unfreeze", "tron")
    assert r.code == 0, r.err
    statement = json.loads(r.out)
    assert statement["intent"]["intent"]["workflow_id"] == (
        f"policy-{stack.settings.task_queue('tron')}"
    )
    r = await walletflow(env, "intent", "freeze", "tron", "--address", fresh_tron_address())
    assert r.code == exits.ERROR and "--address belongs to allow and disallow" in r.err
    r = await walletflow(env, "unfreeze", "tron", "--json")
    assert r.code == 0 and json.loads(r.out)["changed"] is True, r
    assert not await pool.fetchval("SELECT frozen FROM chain_policy WHERE chain = 'tron'")
    r = await walletflow(env, "freeze", "nochain")
    assert r.code == exits.ERROR and "unknown chain 'nochain'" in r.err, r
