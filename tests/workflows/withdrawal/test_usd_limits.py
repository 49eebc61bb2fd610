"""USD rolling limits (`USD:AMOUNT` in WITHDRAWAL_DAILY_LIMITS): reservations keep their USD
value and are summed over every asset, per requester; a move past the limit is refused with
nothing reserved, and one whose USD value is unconfirmed waits for an approver."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
from solders.keypair import Keypair

from chains.solana import SOL_MINT
from tests.support.stack import Stack
from tests.support.withdrawals import ledger, withdraw
from tests.workflows.withdrawal.test_usd_policy import (  # noqa: F401 - sol_at_150: autouse
    nothing_left,
    prices,
    sol_at_150,
    waiting,
)

STACK = {
    "queues": ("solana", "notify"),
    "triggers": False,
    "settings": {
        "WITHDRAWAL_APPROVAL_THRESHOLDS": "SOL:1000",  # no approvals by amount
        "WITHDRAWAL_DAILY_LIMITS": "USD:400",
        "JUPITER_REQUESTS_PER_SECOND": 0,
        "COINGECKO_REQUESTS_PER_SECOND": 0,
    },
}


async def test_a_requester_is_held_to_its_usd_limit_across_moves(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    for _ in range(2):  # $150 each: $300 of $400
        _, done = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1")
        assert done is not None and done.status == "confirmed", done
    rows = await pool.fetch(
        "SELECT usd_value FROM ledger_entries WHERE kind = 'reserve' AND requested_by = $1",
        "operator",
    )
    assert [r["usd_value"] for r in rows] == [Decimal(150), Decimal(150)]
    request_id, third = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1")
    assert third is not None and third.status == "failed", third
    assert "the requester's rolling 24h USD limit" in (third.reason or ""), third.reason
    assert await ledger(pool, request_id) == []  # refused before anything was reserved
    # Someone else has a limit of their own.
    other = stack.signer("bot").acting_for("tg:1001")
    _, theirs = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1", by=other)
    assert theirs is not None and theirs.status == "confirmed", theirs


async def test_an_unconfirmed_value_under_a_usd_limit_waits_for_an_approver(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    await prices(stack, {"prices": {SOL_MINT: "160"}})  # 6.7% apart: unconfirmed
    other = stack.signer("bot").acting_for("tg:1001")
    request_id, _ = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "0.1",
                                   by=other, wait=False)  # fmt: skip
    current = await waiting(stack, request_id)
    assert current.approvals_required == 1
    assert "USD value unconfirmed" in (current.reason or ""), current
    await nothing_left(stack, pool, request_id)


async def test_concurrent_moves_never_pass_the_usd_limit_together(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    """Five moves at once, each of which alone fits what is left of the limit but no two of
    them together: the limit's advisory lock lets exactly one reserve."""
    requester = stack.signer("bot").acting_for("tg:1001")
    used = await pool.fetchval(  # what the tests before spent of its limit
        """SELECT coalesce(sum(r.usd_value), 0) FROM ledger_entries r
           WHERE r.kind = 'reserve' AND r.requested_by = 'tg:1001'
             AND r.created_at > now() - interval '24 hours'
             AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                             WHERE x.request_id = r.request_id AND x.kind = 'release')"""
    )
    left = Decimal(400) - used
    sol = (left * Decimal("0.6") / 150).quantize(Decimal("0.001"))  # 60% of what is left
    started = await asyncio.gather(
        *(withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), str(sol), by=requester)
          for _ in range(5))
    )  # fmt: skip
    outcomes = sorted(done.status for _, done in started if done is not None)
    assert outcomes == ["confirmed", "failed", "failed", "failed", "failed"], outcomes
    reserved = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE kind = 'reserve' AND request_id = ANY($1)",
        [request_id for request_id, _ in started],
    )
    assert reserved == 1
