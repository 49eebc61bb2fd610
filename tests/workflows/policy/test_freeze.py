"""Freeze: after `freeze`, no signature is made and nothing is broadcast; versions signed
before it are held until proven dead; after `unfreeze` every withdrawal finishes, once."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg
from solders.keypair import Keypair

from core.models import PolicyAction, WithdrawalRequest
from starter.client import policy, withdrawals
from tests.support.ids import new_request_id
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import ledger, sol_balance

STACK = {"queues": ("solana", "notify"), "triggers": False}
BURST = 100
AMOUNT = "0.001"


async def freeze(stack: Stack, action: PolicyAction = "freeze") -> None:
    outcome = await policy.change(
        stack.client, stack.settings, "solana", action, stack.signer("operator"), "test"
    )
    assert outcome.outcome == "accepted", outcome


def sol_request(stack: Stack, to: str, request_id: str | None = None) -> WithdrawalRequest:
    """A small SOL withdrawal request, to be signed by the start."""
    return withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount=AMOUNT,
        request_id=request_id or new_request_id(),
        requested_by="signed",
    )


async def frozen_at(pool: asyncpg.Pool) -> datetime:
    row = await pool.fetchrow("SELECT frozen, changed_at FROM chain_policy WHERE chain = 'solana'")
    assert row is not None and row["frozen"]
    changed: datetime = row["changed_at"]
    return changed


async def test_freeze_during_a_burst_of_100(stack: Stack, pool: asyncpg.Pool) -> None:
    by = stack.signer("operator")
    recipients = [str(Keypair().pubkey()) for _ in range(BURST)]
    ids = [new_request_id() for _ in range(BURST)]
    for request_id, to in zip(ids, recipients, strict=True):
        req = sol_request(stack, to, request_id)
        await withdrawals.start(stack.client, stack.settings, req, by)
        if request_id == ids[BURST // 3]:
            await freeze(stack)  # a third in: some are signed, some sent, some not started
    since = await frozen_at(pool)

    # Frozen: let the chain run on for a while; not one version is signed meanwhile.
    await asyncio.sleep(8)
    late = await pool.fetchval(
        "SELECT count(*) FROM withdrawal_versions WHERE created_at > $1", since
    )
    assert late == 0, f"{late} versions were signed after the freeze"
    waiting = await pool.fetchval(
        "SELECT count(*) FROM withdrawals WHERE request_id = ANY($1) AND status <> 'confirmed'",
        ids,
    )
    assert waiting > 0, "the freeze came too late to hold anything: the test proves nothing"
    sent_after = await pool.fetchval(
        """SELECT count(*) FROM audit_log
           WHERE actor = 'workflow' AND action = 'broadcast' AND at > $1""",
        since,
    )
    assert sent_after == 0, f"{sent_after} versions were broadcast after the freeze"

    await freeze(stack, "unfreeze")
    results = await asyncio.gather(*(withdrawals.handle(stack.client, rid).result() for rid in ids))
    assert [r.status for r in results] == ["confirmed"] * BURST, [
        (r.request_id, r.status, r.reason) for r in results if r.status != "confirmed"
    ]
    # Ledger = chain: one debit each, each recipient paid exactly once.
    for request_id, to in zip(ids, recipients, strict=True):
        assert await ledger(pool, request_id) == ["reserve", "debit"], request_id
        assert await sol_balance(stack, to) == 1_000_000, to
    # Versions held by the freeze were proven dead, then a new one was signed after it.
    held = [r for r in results if len(r.versions) > 1]
    print(f"waiting at the freeze: {waiting}; held then re-signed: {len(held)}")
    for r in held:
        assert [v.state for v in r.versions[:-1]] == ["expired"] * (len(r.versions) - 1), r


async def test_a_frozen_withdrawal_fails_at_its_deadline(stack: Stack, pool: asyncpg.Pool) -> None:
    await freeze(stack)
    try:
        req = sol_request(stack, str(Keypair().pubkey())).model_copy(
            update={"approval_timeout_seconds": 4}
        )
        await withdrawals.start(stack.client, stack.settings, req, stack.signer("operator"))
        result = await withdrawals.handle(stack.client, req.request_id).result()
    finally:
        await freeze(stack, "unfreeze")
    assert result.status == "failed", result
    assert "stayed frozen past the request's deadline" in (result.reason or "")
    assert await ledger(pool, req.request_id) == []  # nothing was reserved
    assert result.versions == []


async def test_a_cancel_ends_the_wait_for_an_unfreeze(stack: Stack, pool: asyncpg.Pool) -> None:
    await freeze(stack)
    try:
        req = sol_request(stack, str(Keypair().pubkey()))
        await withdrawals.start(stack.client, stack.settings, req, stack.signer("operator"))

        async def waiting() -> bool:
            current = await withdrawals.status(stack.client, req.request_id)
            return current.reason == "waiting: solana is frozen"

        await eventually(waiting)
        await withdrawals.decide(
            stack.client, req.request_id, "cancel", stack.signer("operator"), "not needed"
        )
        result = await withdrawals.handle(stack.client, req.request_id).result()
    finally:
        await freeze(stack, "unfreeze")
    assert result.status == "cancelled", result
    assert result.reason == "cancelled by operator: not needed"
    assert await ledger(pool, req.request_id) == []  # never reserved
