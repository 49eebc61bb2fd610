"""Withdrawals end to end against the devnets: each asset lands exactly once."""

from __future__ import annotations

import asyncpg
import pytest
from solders.keypair import Keypair

from core.errors import UserError
from starter.client import withdrawals
from tests.support.ids import new_request_id
from tests.support.stack import Stack
from tests.support.withdrawals import (
    fresh_tron_address,
    ledger,
    sol_balance,
    trx_balance,
    usdt_balance,
    withdraw,
)


async def test_sol_withdrawal_lands_once(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id, result = await withdraw(stack, "solana", "SOL", to, "1.25")
    assert result is not None and result.status == "confirmed", result
    assert await sol_balance(stack, to) == 1_250_000_000
    assert await ledger(pool, request_id) == ["reserve", "debit"]
    row = await pool.fetchrow(
        "SELECT status, tx_id FROM withdrawals WHERE request_id = $1", request_id
    )
    assert row["status"] == "confirmed" and row["tx_id"] == result.tx_id


async def test_spl_withdrawal_creates_the_recipients_ata(stack: Stack) -> None:
    to = str(Keypair().pubkey())
    mint = stack.solana.info()["spl_mint"]
    _, result = await withdraw(stack, "solana", "USDC", to, "42.5")
    assert result is not None and result.status == "confirmed", result
    assert await sol_balance(stack, to, mint) == 42_500_000


async def test_trx_withdrawal_lands_once(stack: Stack) -> None:
    to = fresh_tron_address()
    _, result = await withdraw(stack, "tron", "TRX", to, "15")
    assert result is not None and result.status == "confirmed", result
    assert await trx_balance(stack, to) == 15_000_000


async def test_trc20_withdrawal_lands_once(stack: Stack) -> None:
    to = fresh_tron_address()
    _, result = await withdraw(stack, "tron", "USDT", to, "99.000001")
    assert result is not None and result.status == "confirmed", result
    assert await usdt_balance(stack, to) == 99_000_001


async def test_same_request_id_twice_is_one_withdrawal(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    request_id = new_request_id()
    _, first = await withdraw(stack, "solana", "SOL", to, "0.5", request_id=request_id)
    req = withdrawals.build_request(
        stack.settings,
        chain="solana",
        asset="SOL",
        to=to,
        amount="0.5",
        request_id=request_id,
        requested_by="cli:tester",
    )
    workflow_id, created = await withdrawals.start(stack.client, stack.settings, req)
    assert (workflow_id, created) == (f"withdrawal-{request_id}", False)
    assert first is not None and first.status == "confirmed"
    assert await sol_balance(stack, to) == 500_000_000  # once, not twice
    assert await ledger(pool, request_id) == ["reserve", "debit"]


@pytest.mark.parametrize(
    ("chain", "asset", "to", "amount", "error"),
    [
        ("solana", "SOL", "not-an-address", "1", "not a Solana address"),
        ("solana", "SOL", "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8", "1", "TRON address"),
        ("tron", "TRX", "TJRabPrwbZy45sbavfcjinPJC18kjpRTv9", "1", "checksum"),
        ("solana", "SOL", "11111111111111111111111111111111", "0", "greater than 0"),
        ("solana", "SOL", "11111111111111111111111111111111", "-2", "greater than 0"),
        ("solana", "USDC", "11111111111111111111111111111111", "1.0000001", "more than 6"),
        ("tron", "DOGE", "TJRabPrwbZy45sbavfcjinPJC18kjpRTv8", "1", "unknown asset"),
        ("eth", "ETH", "0xabc", "1", "unknown chain"),
    ],
)
async def test_invalid_input_is_refused_before_starting(
    stack: Stack, chain: str, asset: str, to: str, amount: str, error: str
) -> None:
    with pytest.raises(UserError, match=error):
        withdrawals.build_request(
            stack.settings,
            chain=chain,
            asset=asset,
            to=to,
            amount=amount,
            request_id=new_request_id(),
            requested_by="cli:tester",
        )


async def test_invalid_input_reaching_the_workflow_fails_fast_with_nothing_reserved(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    # Bypass the starter's checks: the workflow must refuse on its own.
    good = withdrawals.build_request(
        stack.settings,
        chain="tron",
        asset="TRX",
        to=fresh_tron_address(),
        amount="1",
        request_id=new_request_id(),
        requested_by="cli:tester",
    )
    for bad in (
        good.model_copy(update={"request_id": new_request_id(), "to": "T" + "1" * 33}),
        good.model_copy(update={"request_id": new_request_id(), "amount": "0"}),
        good.model_copy(update={"request_id": new_request_id(), "amount": "0.0000001"}),
        good.model_copy(update={"request_id": new_request_id(), "asset": "FAKE"}),
        good.model_copy(update={"request_id": new_request_id(), "amount": "10000000000"}),
    ):
        await withdrawals.start(stack.client, stack.settings, bad)
        result = await withdrawals.handle(stack.client, bad.request_id).result()
        assert result.status == "failed" and result.versions == [], result
        assert await ledger(pool, bad.request_id) == []
