"""Policy and on-chain failure: daily limits, the allowlist, and OUT_OF_ENERGY."""

from __future__ import annotations

import asyncpg

from tests.support.stack import Stack
from tests.support.withdrawals import (
    fresh_tron_address,
    ledger,
    trx_balance,
    usdt_balance,
    withdraw,
)

ALLOWED = [fresh_tron_address() for _ in range(3)]


STACK = {
    "queues": ("tron", "notify"),
    "triggers": False,
    "settings": {
        "WITHDRAWAL_DAILY_LIMITS": "TRX:20",
        "WITHDRAWAL_ALLOWLIST": ",".join(ALLOWED),
        "TRON_MAX_FEE_LIMIT": 1_000_000,  # 1 TRX: too little energy for a TRC20 transfer
    },
}


async def test_daily_limit_per_requester(stack: Stack, pool: asyncpg.Pool) -> None:
    by = stack.signer("operator")
    _, first = await withdraw(stack, "tron", "TRX", ALLOWED[0], "15", by=by)
    assert first is not None and first.status == "confirmed", first
    second_id, second = await withdraw(stack, "tron", "TRX", ALLOWED[0], "6", by=by)
    assert second is not None and second.status == "failed", second
    assert "requester's rolling 24h limit" in (second.reason or ""), second.reason
    assert await ledger(pool, second_id) == []  # refused before anything was reserved
    # Someone else still has their own limit.
    other_requester = stack.signer("bot").acting_for("tg:1001")
    _, other = await withdraw(stack, "tron", "TRX", ALLOWED[0], "6", by=other_requester)
    assert other is not None and other.status == "confirmed"
    assert await trx_balance(stack, ALLOWED[0]) == 21_000_000


async def test_destination_outside_the_allowlist_is_refused(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    outsider = fresh_tron_address()
    request_id, result = await withdraw(stack, "tron", "TRX", outsider, "1")
    assert result is not None and result.status == "failed"
    assert "allowlist" in (result.reason or "")
    assert await ledger(pool, request_id) == []
    assert await trx_balance(stack, outsider) == 0


async def test_out_of_energy_fails_and_releases_the_reservation(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    to = ALLOWED[1]
    request_id, result = await withdraw(stack, "tron", "USDT", to, "5")
    assert result is not None and result.status == "failed", result
    assert "OUT_OF_ENERGY" in (result.reason or "")
    assert [v.state for v in result.versions] == ["failed"]  # final: never re-signed
    assert await usdt_balance(stack, to) == 0
    assert await ledger(pool, request_id) == ["reserve", "release"]
