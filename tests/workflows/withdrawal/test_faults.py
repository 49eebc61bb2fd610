"""Withdrawals when the network misbehaves: a lost response, a version that never lands."""

from __future__ import annotations

import asyncpg
from solders.keypair import Keypair

from starter.client import withdrawals
from tests.support.stack import Stack, eventually
from tests.support.withdrawals import fresh_tron_address, ledger, sol_balance, trx_balance, withdraw


async def test_lost_broadcast_response_sends_once_solana(stack: Stack, pool: asyncpg.Pool) -> None:
    to = str(Keypair().pubkey())
    # Every sendTransaction is executed, then its connection dropped: the client never hears.
    stack.solana.faults.update({"lost_response_rate": 1.0, "only_methods": ["sendTransaction"]})
    request_id, result = await withdraw(stack, "solana", "SOL", to, "0.75")
    assert result is not None and result.status == "confirmed", result
    assert [v.version for v in result.versions] == [1]  # never re-signed: it had landed
    assert await sol_balance(stack, to) == 750_000_000
    assert await ledger(pool, request_id) == ["reserve", "debit"]


async def test_lost_broadcast_response_sends_once_tron(stack: Stack) -> None:
    to = fresh_tron_address()
    stack.tron.faults.update({"lost_response_rate": 1.0, "only_methods": ["broadcasttransaction"]})
    _, result = await withdraw(stack, "tron", "TRX", to, "2.5")
    assert result is not None and result.status == "confirmed", result
    assert [v.version for v in result.versions] == [1]
    assert await trx_balance(stack, to) == 2_500_000


async def test_a_version_that_expires_unlanded_is_resigned_once(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    to = str(Keypair().pubkey())
    # No broadcast reaches the chain until version 1 has provably expired.
    stack.solana.faults.update({"error_rate": 1.0, "only_methods": ["sendTransaction"]})
    request_id, _ = await withdraw(stack, "solana", "SOL", to, "0.3", wait=False)

    async def resigned() -> bool:
        status = await withdrawals.status(stack.client, request_id)
        return len(status.versions) == 2

    await eventually(resigned, timeout=60)
    stack.solana.faults.update({"error_rate": 0.0})
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "confirmed", result
    assert [(v.version, v.state) for v in result.versions] == [(1, "expired"), (2, "confirmed")]
    assert result.tx_id == result.versions[1].tx_id
    assert await sol_balance(stack, to) == 300_000_000  # one transfer, not two
    rows = await pool.fetch(
        "SELECT version, status FROM withdrawal_versions WHERE request_id = $1 ORDER BY version",
        request_id,
    )
    assert [(r["version"], r["status"]) for r in rows] == [(1, "expired"), (2, "confirmed")]
    assert await ledger(pool, request_id) == ["reserve", "debit"]


async def test_tron_version_that_expires_unlanded_is_resigned_once(stack: Stack) -> None:
    to = fresh_tron_address()
    stack.tron.faults.update({"error_rate": 1.0, "only_methods": ["broadcasttransaction"]})
    request_id, _ = await withdraw(stack, "tron", "TRX", to, "1.5", wait=False)

    async def resigned() -> bool:
        return len((await withdrawals.status(stack.client, request_id)).versions) == 2

    await eventually(resigned, timeout=180)
    stack.tron.faults.update({"error_rate": 0.0})
    result = await withdrawals.handle(stack.client, request_id).result()
    assert result.status == "confirmed", result
    assert [v.state for v in result.versions] == ["expired", "confirmed"]
    assert await trx_balance(stack, to) == 1_500_000
