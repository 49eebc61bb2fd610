"""The approval flow, on the time-skipping server: a day-long deadline passes in a moment.

Every decision is a statement signed by a principal of the roster (tests/support: the dev
principals `operator`, a requester and admin, `approver`, and the `bot` signing for Telegram
users); the workflow verifies it, answers accepted or refused, and audits it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
import pytest_asyncio
from solders.keypair import Keypair
from temporalio.testing import WorkflowEnvironment

from core.intents import Principal
from core.models import WithdrawalStatus
from starter.client import withdrawals
from starter.client.errors import Refused
from starter.client.signer import Signer, new_key
from store import authority
from tests.support.ids import new_request_id
from tests.support.stack import Devnets, Stack, eventually, running_stack
from tests.support.withdrawals import ledger, sol_balance


@pytest_asyncio.fixture(scope="module")
async def stack(
    time_skipping_env: WorkflowEnvironment, pg_dsn: str, devnets: Devnets
) -> AsyncIterator[Stack]:
    # No chain triggers: their endless activity would stop the server from skipping time.
    # Above 10 SOL one approver, above 20 SOL two distinct approvers.
    async with running_stack(
        time_skipping_env.client,
        pg_dsn,
        devnets,
        queues=("solana", "notify"),
        triggers=False,
        settings={"WITHDRAWAL_APPROVAL_TIERS": "SOL:20:2"},
    ) as s:
        yield s


async def request(stack: Stack, to: str, amount: str = "11", by: Signer | None = None) -> str:
    """A withdrawal of `amount` SOL (above the 10 SOL threshold), awaiting approval."""
    req = withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount=amount,
        request_id=new_request_id(),
        requested_by="ignored: the signature says who",
    )
    await withdrawals.start(stack.client, stack.settings, req, by)

    async def waiting() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, req.request_id)
        return current if current.status == "awaiting_approval" else None

    await eventually(waiting)
    return req.request_id


async def audited(pool: asyncpg.Pool, request_id: str) -> list[tuple[str, str, str]]:
    rows = await pool.fetch(
        "SELECT action, actor, outcome FROM audit_log WHERE subject = $1 AND outcome IS NOT NULL "
        "ORDER BY id",
        f"withdrawal:{request_id}",
    )
    return [(r["action"], r["actor"], r["outcome"]) for r in rows]


async def test_approved_by_someone_else_lands(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request(stack, to)
    assert await ledger(pool, request_id) == []  # nothing reserved while waiting
    outcome = await withdrawals.decide(
        stack.client, request_id, "approve", stack.signer("approver")
    )
    assert outcome.outcome == "accepted"
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "confirmed" and result.approved_by == ["approver"], result
    assert result.requested_by == "operator"  # the verified identity, not what the request said
    assert await sol_balance(stack, to) == 11 * 10**9
    assert await ledger(pool, request_id) == ["reserve", "debit"]
    assert await audited(pool, request_id) == [
        ("withdrawal.withdraw", "operator", "accepted"),
        ("withdrawal.approve", "approver", "accepted"),
    ]


async def test_self_approval_is_refused_and_audited(stack: Stack, pool: asyncpg.Pool) -> None:
    # A principal who may both request and approve still never approves their own.
    both = new_key(stack.settings.signing_key().parent / f"both-{new_request_id()}.json", "")
    both = Signer(f"both-{both.public_key[:8]}", both.private_key)
    await authority.add_principal(
        pool,
        Principal(id=both.principal, public_key=both.public_key, roles=["requester", "approver"]),
        by="test",
    )
    to = str(Keypair().pubkey())
    request_id = await request(stack, to, by=both)
    with pytest.raises(Refused, match="self-approval"):
        await withdrawals.decide(stack.client, request_id, "approve", both)
    current = await withdrawals.status(stack.client, request_id)
    assert current.status == "awaiting_approval" and current.approved_by == []
    await withdrawals.decide(
        stack.client, request_id, "reject", stack.signer("approver"), "not today"
    )
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "rejected" and "not today" in (result.reason or "")
    assert await sol_balance(stack, to) == 0
    assert await ledger(pool, request_id) == []
    assert ("withdrawal.approve", both.principal, "refused") in await audited(pool, request_id)


async def test_two_distinct_approvers_above_the_tier(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request(stack, to, amount="21")
    approver = stack.signer("approver")
    await withdrawals.decide(stack.client, request_id, "approve", approver)
    current = await withdrawals.status(stack.client, request_id)
    assert current.status == "awaiting_approval" and current.approvals_required == 2
    # The same key again counts once.
    with pytest.raises(Refused, match="one principal counts once"):
        await withdrawals.decide(stack.client, request_id, "approve", approver)
    # The bot, for a Telegram user the roster lists as an approver: the second person.
    await withdrawals.decide(
        stack.client, request_id, "approve", stack.signer("bot").acting_for("tg:1002")
    )
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "confirmed" and result.approved_by == ["approver", "tg:1002"], result
    assert await sol_balance(stack, to) == 21 * 10**9


async def test_a_revoked_approver_stops_counting(stack: Stack, pool: asyncpg.Pool) -> None:
    keys = stack.settings.signing_key().parent
    name = f"temp-{new_request_id()}"
    temp = new_key(keys / f"{name}.json", name)
    await authority.add_principal(
        pool, Principal(id=name, public_key=temp.public_key, roles=["approver"]), by="test"
    )
    to = str(Keypair().pubkey())
    request_id = await request(stack, to, amount="21")
    await withdrawals.decide(stack.client, request_id, "approve", temp)
    await authority.revoke_principal(pool, name, by="test")
    # The second approval makes two, but the roster is read again before signing.
    await withdrawals.decide(stack.client, request_id, "approve", stack.signer("approver"))

    async def dropped() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, request_id)
        return current if any("no longer counts" in r for r in current.refused) else None

    current = await eventually(dropped)
    assert current.status == "awaiting_approval"
    assert await ledger(pool, request_id) == [] and await sol_balance(stack, to) == 0
    # A revoked key is refused outright from now on.
    with pytest.raises(Refused, match="revoked"):
        await withdrawals.decide(stack.client, request_id, "reject", temp)
    await withdrawals.decide(stack.client, request_id, "cancel", stack.signer("operator"))
    assert (await withdrawals.handle(stack.client, request_id).result()).status == "cancelled"


async def test_cancel_while_awaiting_approval(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = await request(stack, to)
    operator = stack.signer("operator")
    await withdrawals.decide(stack.client, request_id, "cancel", operator, "typo")
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "cancelled" and "typo" in (result.reason or "")
    assert await ledger(pool, request_id) == []
    with pytest.raises(Refused, match="too late to cancel"):
        await withdrawals.decide(stack.client, request_id, "cancel", operator)


async def test_a_requester_revoked_while_waiting_gets_nothing(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    name = f"req-{new_request_id()}"
    requester = new_key(stack.settings.signing_key().parent / f"{name}.json", name)
    await authority.add_principal(
        pool, Principal(id=name, public_key=requester.public_key, roles=["requester"]), by="test"
    )
    to = str(Keypair().pubkey())
    request_id = await request(stack, to, by=requester)
    await authority.revoke_principal(pool, name, by="test")
    # An approval still arrives; the roster is read again before anything is reserved.
    await withdrawals.decide(stack.client, request_id, "approve", stack.signer("approver"))
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "rejected" and "may no longer request withdraw moves" in (
        result.reason or ""
    )
    assert await ledger(pool, request_id) == [] and await sol_balance(stack, to) == 0


# Last: the server's clock is a day ahead afterwards, past every statement's expiry.
async def test_deadline_expires_with_nothing_reserved(
    stack: Stack, pool: asyncpg.Pool, time_skipping_env: WorkflowEnvironment
) -> None:
    to = str(Keypair().pubkey())
    request_id = await request(stack, to)
    await time_skipping_env.sleep(timedelta(hours=24, minutes=1))  # past the deadline
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "expired", result
    assert await ledger(pool, request_id) == []
    row = await pool.fetchrow("SELECT status FROM withdrawals WHERE request_id = $1", request_id)
    assert row["status"] == "expired"
