"""USD approval tiers (`USD:AMOUNT:COUNT`) fail closed: a move whose USD value is not confirmed
(a stale price, providers that disagree) waits for the top tier's approvers, even when its
value would be small, and nothing leaves the hot wallet meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from solders.keypair import Keypair

from chains.solana import SOL_MINT
from core.models import WithdrawalStatus
from starter.client import withdrawals
from starter.client.withdrawals import TRADE
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import ledger, withdraw
from tests.workflows.trade.test_trades import request as trade_request

STACK = {
    "queues": ("solana", "notify"),
    "triggers": False,
    "settings": {
        "WITHDRAWAL_APPROVAL_THRESHOLDS": "SOL:1000",  # the SOL tiers never ask here
        "WITHDRAWAL_APPROVAL_TIERS": "USD:1000:1,USD:50000:2",
        "JUPITER_REQUESTS_PER_SECOND": 0,
        "COINGECKO_REQUESTS_PER_SECOND": 0,
    },
}


async def prices(stack: Stack, body: dict[str, Any]) -> None:
    url = stack.devnets["solana"]["price_url"]
    async with httpx.AsyncClient() as http:
        (await http.post(f"{url}/_devnet/prices", json=body)).raise_for_status()


@pytest_asyncio.fixture(autouse=True)
async def sol_at_150(stack: Stack) -> AsyncIterator[None]:
    """Both providers at $150 for SOL, and back to that afterwards (the devnet is shared)."""
    await prices(stack, {"prices": {"solana": "150", SOL_MINT: None}, "stale": None})
    yield
    await prices(stack, {"prices": {"solana": "150", SOL_MINT: None}, "stale": None})


async def waiting(stack: Stack, request_id: str) -> WithdrawalStatus:
    async def check() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, request_id)
        return current if current.status == "awaiting_approval" else None

    found: WithdrawalStatus = await eventually(check)
    return found


async def nothing_left(stack: Stack, pool: asyncpg.Pool, request_id: str) -> None:
    await asyncio.sleep(1)
    assert (await withdrawals.status(stack.client, request_id)).status == "awaiting_approval"
    assert await ledger(pool, request_id) == []  # not even reserved


async def test_a_confirmed_small_value_needs_no_approval(stack: Stack) -> None:
    _, result = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1")  # $150
    assert result is not None and result.status == "confirmed", result


async def test_a_confirmed_value_above_a_usd_tier_needs_its_approvers(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    to = str(Keypair().pubkey())
    request_id, _ = await withdraw(stack, "solana", "SOL", to, "10", wait=False)  # $1,500
    current = await waiting(stack, request_id)
    assert current.approvals_required == 1
    assert "≈ $1,500.00, above $1000" in (current.reason or ""), current
    await nothing_left(stack, pool, request_id)


async def test_providers_that_disagree_send_even_a_small_move_to_approval(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    await prices(stack, {"prices": {SOL_MINT: "160"}})  # Jupiter 160, CoinGecko 150: 6.7%
    request_id, _ = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1",
                                   wait=False)  # fmt: skip
    current = await waiting(stack, request_id)
    assert current.approvals_required == 2  # the top USD tier: the value is unknown
    assert "disagree on SOL by 6.7%" in (current.reason or ""), current
    await nothing_left(stack, pool, request_id)


async def test_a_stale_price_sends_even_a_small_move_to_approval(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    # CoinGecko's SOL price last updated 5 minutes ago (its bound: 2 minutes).
    await prices(stack, {"stale": "solana", "stale_age_s": 300})
    request_id, _ = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "1",
                                   wait=False)  # fmt: skip
    current = await waiting(stack, request_id)
    assert current.approvals_required == 2
    assert "coingecko price of SOL is stale" in (current.reason or ""), current
    await nothing_left(stack, pool, request_id)


async def test_a_trade_is_held_to_the_usd_tiers_too(stack: Stack, pool: asyncpg.Pool) -> None:
    """A buy spending 1 SOL ($150) while the providers disagree waits like a withdrawal."""
    await prices(stack, {"prices": {SOL_MINT: "160"}})
    req = trade_request(stack, "buy", "1")
    await withdrawals.start(stack.client, stack.settings, req, stack.signer("operator"))

    async def check() -> WithdrawalStatus | None:
        current = await withdrawals.status(stack.client, req.request_id, TRADE)
        return current if current.status == "awaiting_approval" else None

    current: WithdrawalStatus = await eventually(check)
    assert current.approvals_required == 2 and "disagree on SOL" in (current.reason or "")
    assert await ledger(pool, req.request_id) == []
