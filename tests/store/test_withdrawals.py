"""store.withdrawals.record: a status change and everything it implies, in one statement."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.models import LedgerChange, PreparedWithdrawal, SignedVersion, WithdrawalRequest
from store import withdrawals as repo


def sample(
    request_id: str, requested_by: str = "alice"
) -> tuple[WithdrawalRequest, PreparedWithdrawal]:
    """A 0.5 SOL withdrawal request and its prepared form, for the store alone."""
    req = WithdrawalRequest(
        request_id=request_id,
        chain="solana",
        asset="SOL",
        to="x",
        amount="0.5",
        requested_by=requested_by,
        notify_queue="notify",
    )
    prepared = PreparedWithdrawal(
        asset_id="SOL",
        symbol="SOL",
        decimals=9,
        to="x",
        amount=500_000_000,
        hot_wallet="h",
        approval_required=False,
    )
    return req, prepared


async def registered(pool: asyncpg.Pool, uid: str) -> WithdrawalRequest:
    """A reserved SOL withdrawal with one signed version, as the workflow leaves it."""
    req, prepared = sample(f"store-{uid}")
    await repo.register(pool, req, prepared)
    await repo.reserve(pool, req, prepared)
    signed = SignedVersion(
        request_id=req.request_id, chain="solana", version=1, tx_id=f"tx-{uid}", raw="", expiry=9
    )
    await repo.save_version(pool, signed, b"signed bytes")
    return req


async def state(pool: asyncpg.Pool, request_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, status_reason, tx_id FROM withdrawals WHERE request_id = $1", request_id
    )
    versions = await pool.fetch(
        "SELECT status FROM withdrawal_versions WHERE request_id = $1 ORDER BY version",
        request_id,
    )
    ledger = await pool.fetch(
        "SELECT kind, amount FROM ledger_entries WHERE request_id = $1 ORDER BY id", request_id
    )
    audit = await pool.fetch(
        "SELECT actor, action, details FROM audit_log WHERE subject = $1 ORDER BY id",
        f"withdrawal:{request_id}",
    )
    assert row is not None
    return {
        "row": dict(row),
        "versions": [v["status"] for v in versions],
        "ledger": [(e["kind"], int(e["amount"])) for e in ledger],
        "audit": [(a["actor"], a["action"], json.loads(a["details"])) for a in audit],
    }


async def test_broadcast_marks_the_version_and_leaves_the_ledger(
    pool: asyncpg.Pool, uid: str
) -> None:
    req = await registered(pool, uid)
    change = LedgerChange(request_id=req.request_id, chain="solana", status="broadcast", version=1)
    await repo.record(pool, change)
    after = await state(pool, req.request_id)
    assert after["row"] == {"status": "broadcast", "status_reason": None, "tx_id": None}
    assert after["versions"] == ["broadcast"]
    assert after["ledger"] == [("reserve", 500_000_000)]
    assert after["audit"] == [
        ("workflow", "broadcast", {"reason": None, "tx_id": None, "kind": None, "version": 1})
    ]


async def test_confirmed_debits_once_and_release_can_not_follow(
    pool: asyncpg.Pool, uid: str
) -> None:
    req = await registered(pool, uid)
    debit = LedgerChange(
        request_id=req.request_id, chain="solana", status="confirmed", kind="debit", tx_id="t1"
    )
    await repo.record(pool, debit)
    await repo.record(pool, debit)  # a local activity may run twice
    late = LedgerChange(
        request_id=req.request_id, chain="solana", status="failed", kind="release", reason="?"
    )
    await repo.record(pool, late)  # never both: the ledger keeps the debit
    after = await state(pool, req.request_id)
    assert after["ledger"] == [("reserve", 500_000_000), ("debit", 500_000_000)]
    assert after["versions"] == ["signed"]  # no version given: versions untouched
    assert [a[1] for a in after["audit"]] == ["confirmed", "confirmed", "failed"]


async def test_release_gives_the_reservation_back_with_the_reason(
    pool: asyncpg.Pool, uid: str
) -> None:
    req = await registered(pool, uid)
    release = LedgerChange(
        request_id=req.request_id,
        chain="solana",
        status="failed",
        kind="release",
        reason="expired unlanded",
    )
    await repo.record(pool, release)
    after = await state(pool, req.request_id)
    assert after["row"] == {"status": "failed", "status_reason": "expired unlanded", "tx_id": None}
    assert after["ledger"] == [("reserve", 500_000_000), ("release", 500_000_000)]
    assert after["audit"][0][2]["reason"] == "expired unlanded"
