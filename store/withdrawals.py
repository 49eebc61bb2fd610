"""Withdrawals, their signed versions and the ledger. Every write is idempotent by request id
(and version), because activities are retried and local activities may run twice."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import asyncpg

from core.models import LedgerChange, PreparedWithdrawal, SignedVersion, WithdrawalRequest

_LIMIT_LOCK = 0x77647261  # advisory lock namespace of the rolling limits


@dataclass(frozen=True)
class Limits:
    """Rolling caps on what is reserved and not released, in base units (None: no cap): per
    hot wallet and asset, and per requester and asset, over `window`."""

    hot_wallet: int | None = None
    requester: int | None = None
    window: timedelta = timedelta(hours=24)
    # In USD, over every asset: the hot wallet's (on its chain) and the requester's.
    usd_hot_wallet: Decimal | None = None
    usd_requester: Decimal | None = None

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (self.hot_wallet, self.requester, self.usd_hot_wallet, self.usd_requester)
        )


class LimitExceeded(Exception):
    pass


class Frozen(Exception):
    """The chain is frozen (`walletflow freeze`): nothing is reserved, signed or broadcast."""

    def __init__(self, chain: str) -> None:
        super().__init__(f"{chain} is frozen")


class ReservationClosed(Exception):
    """The request id's reservation was already released or debited: reserving again would
    let a second transfer run under a request id that names a finished withdrawal."""

    def __init__(self, request_id: str, kind: str) -> None:
        done = "released" if kind == "release" else "debited"
        super().__init__(f"request id {request_id} was used before: its reservation was {done}")


async def register(
    pool: asyncpg.Pool, req: WithdrawalRequest, prepared: PreparedWithdrawal
) -> str | None:
    """Insert the withdrawal's row once. Returns None if this call inserted it, else the status
    of the row already there: a retried attempt of this withdrawal, or (in a final state) an
    earlier withdrawal whose workflow Temporal no longer retains, which the caller refuses."""
    return await pool.fetchval(
        """WITH inserted AS (
               INSERT INTO withdrawals (request_id, chain, asset, to_address, amount, decimals,
                                        requested_by, status, kind, output_asset,
                                        from_address)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9, $10)
               ON CONFLICT (request_id) DO NOTHING)
           -- Sees the table as it was before this statement: no row if the insert made it.
           SELECT status FROM withdrawals WHERE request_id = $1""",
        req.request_id,
        req.chain,
        prepared.asset_id,
        prepared.to,
        prepared.amount,
        prepared.decimals,
        req.requested_by,
        prepared.kind,
        prepared.swap.output_id if prepared.swap is not None else None,
        prepared.hot_wallet if prepared.sweep is not None else None,  # where it leaves from
    )


async def set_status(
    conn: asyncpg.Pool | asyncpg.Connection,
    request_id: str,
    status: str,
    reason: str | None = None,
    tx_id: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE withdrawals SET status = $2, status_reason = COALESCE($3, status_reason),
               tx_id = COALESCE($4, tx_id), updated_at = now()
           WHERE request_id = $1""",
        request_id,
        status,
        reason,
        tx_id,
    )


_BY_HOT_WALLET = "r.chain = $1 AND r.hot_wallet = $2 AND r.asset = $3"
_BY_REQUESTER = "r.requested_by = $4 AND r.asset = $3"


_USD_USED = """(SELECT COALESCE(sum(r.usd_value), 0) FROM ledger_entries r
               WHERE r.kind = 'reserve' AND {key}
                 AND r.created_at > COALESCE($5::timestamptz, now()) - $4::interval
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                                 WHERE x.request_id = r.request_id AND x.kind = 'release'))"""


# USD reserved and not released in the `$4` before `$5` (NULL: now), over every asset: by
# the hot wallet ($1 chain, $2 address) and by the requester ($3).
_USD_USED_SQL = (
    f"SELECT {_USD_USED.format(key='r.chain = $1 AND r.hot_wallet = $2')} AS hot, "
    f"{_USD_USED.format(key='r.requested_by = $3')} AS requester"
)


async def usd_used(
    conn: asyncpg.Pool | asyncpg.Connection,
    req: WithdrawalRequest,
    prepared: PreparedWithdrawal,
    window: timedelta,
    at: datetime | None = None,
) -> tuple[Decimal, Decimal]:
    """USD reserved in the last `window` (before `at`, default now) and not released: (by the
    hot wallet, by the requester), over every asset."""
    row = await conn.fetchrow(
        _USD_USED_SQL, req.chain, prepared.hot_wallet, req.requested_by, window, at
    )
    assert row is not None
    return Decimal(row["hot"]), Decimal(row["requester"])


def over_usd_limit(
    limits: Limits, usd: Decimal | None, hot_used: Decimal, requester_used: Decimal
) -> str | None:
    """Which USD limit `usd` would pass on top of what is used; None if it fits (or the move
    has no USD value: its approvers decided, see the USD policy)."""
    hours = f"{limits.window.total_seconds() / 3600:g}h"
    if usd is None:
        return None
    if limits.usd_hot_wallet is not None and hot_used + usd > limits.usd_hot_wallet:
        return f"the hot wallet's rolling {hours} USD limit"
    if limits.usd_requester is not None and requester_used + usd > limits.usd_requester:
        return f"the requester's rolling {hours} USD limit"
    return None


def _used_sql(at: str) -> str:
    """What the hot wallet ($1 chain, $2 address, $3 asset) and the requester ($4) have
    reserved and not had released in the `$5` before `at`."""
    used = """(SELECT COALESCE(sum(r.amount), 0) FROM ledger_entries r
               WHERE r.kind = 'reserve' AND {key} AND r.created_at > {at} - $5::interval
                 AND r.request_id NOT LIKE 'sweep-%'  -- sweeps fill the hot wallet
                 AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                                 WHERE x.request_id = r.request_id AND x.kind = 'release'))"""
    return (
        f"SELECT {used.format(key=_BY_HOT_WALLET, at=at)} AS hot, "
        f"{used.format(key=_BY_REQUESTER, at=at)} AS requester"
    )


async def used(
    conn: asyncpg.Pool | asyncpg.Connection,
    req: WithdrawalRequest,
    prepared: PreparedWithdrawal,
    window: timedelta,
) -> tuple[int, int]:
    """Base units reserved in the last `window` and not released: (by the hot wallet, by the
    requester), in `prepared.asset_id`."""
    row = await conn.fetchrow(
        _used_sql("now()"),
        req.chain,
        prepared.hot_wallet,
        prepared.asset_id,
        req.requested_by,
        window,
    )
    assert row is not None
    return int(row["hot"]), int(row["requester"])


async def reserve(
    pool: asyncpg.Pool,
    req: WithdrawalRequest,
    prepared: PreparedWithdrawal,
    limits: Limits = Limits(),
) -> None:
    """Reserve the amount, once per request. Refused (nothing reserved) when the chain is
    frozen (Frozen), a rolling limit would be passed (LimitExceeded), or the reservation was
    already closed (ReservationClosed: never reserve twice).

    With limits, check-and-insert runs under the advisory locks of the hot wallet's asset and
    of the requester (always in that order), so two withdrawals racing each other can't both
    fit under a limit only one fits. Without, the unique (request_id, kind) makes the insert
    idempotent on its own, in one statement.
    """
    if not limits.any:
        row = await pool.fetchrow(
            """WITH closed AS (
                   SELECT kind FROM ledger_entries
                   WHERE request_id = $1 AND kind IN ('release', 'debit')),
               earlier AS (
                   SELECT 1 FROM ledger_entries WHERE request_id = $1 AND kind = 'reserve'),
               frozen AS (
                   SELECT 1 FROM chain_policy WHERE chain = $2 AND frozen
                   AND NOT EXISTS (SELECT 1 FROM earlier)),
               reserved AS (
                   INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind,
                                               amount, hot_wallet, usd_value)
                   SELECT $1, $2, $3, $4, 'reserve', $5, $6, $7::numeric
                   WHERE NOT EXISTS (SELECT 1 FROM closed) AND NOT EXISTS (SELECT 1 FROM frozen)
                   ON CONFLICT (request_id, kind) DO NOTHING
                   RETURNING request_id),
               marked AS (
                   UPDATE withdrawals SET status = 'reserved', updated_at = now()
                   WHERE request_id IN (SELECT request_id FROM reserved))
               SELECT (SELECT kind FROM closed LIMIT 1) AS closed,
                      EXISTS (SELECT 1 FROM frozen) AS frozen""",
            req.request_id,
            req.chain,
            prepared.asset_id,
            req.requested_by,
            prepared.amount,
            prepared.hot_wallet,
            prepared.usd_value,
        )
        assert row is not None
        if row["closed"] is not None:
            raise ReservationClosed(req.request_id, row["closed"])
        if row["frozen"]:
            raise Frozen(req.chain)
        return
    async with pool.acquire() as conn, conn.transaction():
        if limits.hot_wallet is not None:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                _LIMIT_LOCK,
                f"{req.chain}:{prepared.hot_wallet}:{prepared.asset_id}",
            )
        if limits.usd_hot_wallet is not None:  # every asset of the hot wallet, in USD
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                _LIMIT_LOCK,
                f"{req.chain}:{prepared.hot_wallet}:USD",
            )
        if limits.requester is not None or limits.usd_requester is not None:
            await conn.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LIMIT_LOCK, req.requested_by
            )
        kinds = {
            row["kind"]
            for row in await conn.fetch(
                "SELECT kind FROM ledger_entries WHERE request_id = $1", req.request_id
            )
        }
        closed_kinds = kinds & {"release", "debit"}
        if closed_kinds:
            raise ReservationClosed(req.request_id, closed_kinds.pop())
        if "reserve" in kinds:
            return
        if await conn.fetchval("SELECT frozen FROM chain_policy WHERE chain = $1", req.chain):
            raise Frozen(req.chain)
        # The clock of now, not of the transaction's start: the window ends where the lock
        # was granted, and the new row is stamped with the same instant.
        at = await conn.fetchval("SELECT clock_timestamp()")
        row = await conn.fetchrow(
            _used_sql("$6::timestamptz"),
            req.chain,
            prepared.hot_wallet,
            prepared.asset_id,
            req.requested_by,
            limits.window,
            at,
        )
        assert row is not None
        over = over_limit(limits, prepared.amount, int(row["hot"]), int(row["requester"]))
        if over is not None:
            raise LimitExceeded(f"{over} for {prepared.symbol} would be exceeded")
        usd = Decimal(prepared.usd_value) if prepared.usd_value is not None else None
        if limits.usd_hot_wallet is not None or limits.usd_requester is not None:
            hot_usd, requester_usd = await usd_used(conn, req, prepared, limits.window, at)
            over = over_usd_limit(limits, usd, hot_usd, requester_usd)
            if over is not None:
                raise LimitExceeded(f"{over} would be exceeded")
        await conn.execute(
            """INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount,
                                           hot_wallet, created_at, usd_value)
               VALUES ($1, $2, $3, $4, 'reserve', $5, $6, $7, $8::numeric)""",
            req.request_id,
            req.chain,
            prepared.asset_id,
            req.requested_by,
            prepared.amount,
            prepared.hot_wallet,
            at,
            prepared.usd_value,
        )
        await set_status(conn, req.request_id, "reserved")


def over_limit(limits: Limits, amount: int, hot_used: int, requester_used: int) -> str | None:
    """Which limit `amount` would pass on top of what is used; None if it fits both."""
    hours = f"{limits.window.total_seconds() / 3600:g}h"
    if limits.hot_wallet is not None and hot_used + amount > limits.hot_wallet:
        return f"the hot wallet's rolling {hours} limit"
    if limits.requester is not None and requester_used + amount > limits.requester:
        return f"the requester's rolling {hours} limit"
    return None


async def record(pool: asyncpg.Pool, change: LedgerChange) -> None:
    """Move the row to `change.status` with everything that goes with it, as one statement
    (all of it happens or none, in one round trip): the reservation debited or released
    (`change.kind`), a trade's fill with its debit, the version about to be broadcast marked
    so (`change.version`), and an audit row. A version is not marked "broadcast" while its
    chain is frozen (Frozen, nothing written): it is held, under the same share lock a freeze
    waits for."""
    held = await pool.fetchval(
        """WITH policy AS (
               SELECT frozen FROM chain_policy WHERE chain = $8 AND $3 = 'broadcast' FOR SHARE),
           held AS (SELECT 1 FROM policy WHERE frozen),
           reserved AS (
               SELECT chain, asset, requested_by, amount FROM ledger_entries
               WHERE request_id = $1 AND kind = 'reserve' AND $2::text IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM held)),
           closed AS (
               INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount)
               SELECT $1, chain, asset, requested_by, $2, amount FROM reserved
               ON CONFLICT DO NOTHING),
           filled AS (
               INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount)
               SELECT $1, chain, $9::text, requested_by, 'fill', $10::numeric FROM reserved
               WHERE $2 = 'debit' AND $10::numeric > 0
               ON CONFLICT DO NOTHING),
           version AS (
               UPDATE withdrawal_versions SET status = $3, updated_at = now()
               WHERE request_id = $1 AND version = $6 AND NOT EXISTS (SELECT 1 FROM held)),
           audited AS (
               INSERT INTO audit_log (actor, action, subject, details)
               SELECT 'workflow', $3, w.kind || ':' || $1, $7::jsonb
               FROM withdrawals w WHERE w.request_id = $1 AND NOT EXISTS (SELECT 1 FROM held)),
           moved AS (
               UPDATE withdrawals SET status = $3, status_reason = COALESCE($4, status_reason),
                   tx_id = COALESCE($5, tx_id), updated_at = now()
               WHERE request_id = $1 AND NOT EXISTS (SELECT 1 FROM held))
           SELECT EXISTS (SELECT 1 FROM held)""",
        change.request_id,
        change.kind,
        change.status,
        change.reason,
        change.tx_id,
        change.version,
        change.model_dump_json(
            include={"reason", "tx_id", "kind", "version"} | ({"fill"} if change.fill else set())
        ),
        change.chain,
        change.fill.output_id if change.fill is not None else None,
        change.fill.output_amount if change.fill is not None else 0,
    )
    if held:
        raise Frozen(change.chain)


async def frozen(pool: asyncpg.Pool, chain: str) -> bool:
    return bool(await pool.fetchval("SELECT frozen FROM chain_policy WHERE chain = $1", chain))


async def saved_version(pool: asyncpg.Pool, request_id: str, version: int) -> SignedVersion | None:
    row = await pool.fetchrow(
        """SELECT w.chain, v.tx_id, v.signed_tx, v.expiry FROM withdrawal_versions v
           JOIN withdrawals w USING (request_id) WHERE v.request_id = $1 AND v.version = $2""",
        request_id,
        version,
    )
    if row is None:
        return None
    return SignedVersion(
        request_id=request_id,
        chain=row["chain"],
        version=version,
        tx_id=row["tx_id"],
        raw=base64.b64encode(row["signed_tx"]).decode(),
        expiry=row["expiry"],
    )


async def save_version(pool: asyncpg.Pool, signed: SignedVersion, raw: bytes) -> SignedVersion:
    """Persist a signed version; if one was saved already (a retried activity), keep that one
    and return it, so a version number never names two different transactions. A new version
    is refused (Frozen: the bytes are dropped unsaved, so they can never be sent) while the
    chain is frozen; the share lock on the chain's row orders this against a freeze."""
    rows = await pool.fetch(
        """WITH policy AS (
               SELECT frozen FROM chain_policy WHERE chain = $6 FOR SHARE),
           saved AS (
               INSERT INTO withdrawal_versions (request_id, version, tx_id, signed_tx, expiry)
               SELECT $1, $2, $3, $4, $5
               WHERE NOT EXISTS (SELECT 1 FROM policy WHERE frozen)
               ON CONFLICT (request_id, version) DO NOTHING
               RETURNING tx_id, signed_tx, expiry),
           marked AS (
               UPDATE withdrawals SET status = 'signed', updated_at = now()
               WHERE request_id = $1 AND EXISTS (SELECT 1 FROM saved))
           SELECT tx_id, signed_tx, expiry FROM saved
           UNION ALL
           SELECT tx_id, signed_tx, expiry FROM withdrawal_versions
           WHERE request_id = $1 AND version = $2
           UNION ALL
           SELECT NULL, NULL, NULL FROM policy WHERE frozen""",
        signed.request_id,
        signed.version,
        signed.tx_id,
        raw,
        signed.expiry,
        signed.chain,
    )
    row = next((r for r in rows if r["tx_id"] is not None), None)
    if row is None and rows:
        raise Frozen(signed.chain)
    if row is None:
        # The version was inserted by a concurrent attempt that committed after this
        # statement's snapshot (the conflict waited for it): read it in a new one.
        kept = await saved_version(pool, signed.request_id, signed.version)
        assert kept is not None
        return kept
    return signed.model_copy(
        update={
            "tx_id": row["tx_id"],
            "raw": base64.b64encode(row["signed_tx"]).decode(),
            "expiry": row["expiry"],
        }
    )


async def set_version_state(pool: asyncpg.Pool, request_id: str, version: int, state: str) -> None:
    await pool.execute(
        """UPDATE withdrawal_versions SET status = $3, updated_at = now()
           WHERE request_id = $1 AND version = $2""",
        request_id,
        version,
        state,
    )
