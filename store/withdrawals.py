"""Withdrawals, their signed versions and the ledger. Every write is idempotent by request id
(and version), because activities are retried and local activities may run twice."""

from __future__ import annotations

import base64

import asyncpg

from core.models import LedgerChange, PreparedWithdrawal, SignedVersion, WithdrawalRequest

_LIMIT_LOCK = 0x77647261  # advisory lock namespace for per-requester limit checks


class LimitExceeded(Exception):
    pass


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
                                        requested_by, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, 'requested')
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


async def reserved_today(
    conn: asyncpg.Pool | asyncpg.Connection, requested_by: str, asset: str
) -> int:
    """Base units this requester has reserved today (UTC) and not had released."""
    total = await conn.fetchval(
        """SELECT COALESCE(sum(r.amount), 0) FROM ledger_entries r
           WHERE r.kind = 'reserve' AND r.requested_by = $1 AND r.asset = $2
             AND r.created_at >= date_trunc('day', now() AT TIME ZONE 'utc') AT TIME ZONE 'utc'
             AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                             WHERE x.request_id = r.request_id AND x.kind = 'release')""",
        requested_by,
        asset,
    )
    return int(total)


async def reserve(
    pool: asyncpg.Pool,
    req: WithdrawalRequest,
    prepared: PreparedWithdrawal,
    daily_limit: int | None,
) -> None:
    """Reserve the amount, once per request; refuse it if the daily limit would be passed, or
    if the reservation was already closed (ReservationClosed: never reserve twice).

    The requester's advisory lock makes check-and-insert atomic, so two withdrawals racing
    each other can't both fit under the limit. Without a limit there is nothing to check: the
    unique (request_id, kind) makes the insert idempotent on its own, in one statement.
    """
    if daily_limit is None:
        closed = await pool.fetchval(
            """WITH closed AS (
                   SELECT kind FROM ledger_entries
                   WHERE request_id = $1 AND kind IN ('release', 'debit')),
               reserved AS (
                   INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount)
                   SELECT $1, $2, $3, $4, 'reserve', $5 WHERE NOT EXISTS (SELECT 1 FROM closed)
                   ON CONFLICT (request_id, kind) DO NOTHING
                   RETURNING request_id),
               marked AS (
                   UPDATE withdrawals SET status = 'reserved', updated_at = now()
                   WHERE request_id IN (SELECT request_id FROM reserved))
               SELECT kind FROM closed""",
            req.request_id,
            req.chain,
            prepared.asset_id,
            req.requested_by,
            prepared.amount,
        )
        if closed is not None:
            raise ReservationClosed(req.request_id, closed)
        return
    async with pool.acquire() as conn, conn.transaction():
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
        if daily_limit is not None:
            used = await reserved_today(conn, req.requested_by, prepared.asset_id)
            if used + prepared.amount > daily_limit:
                raise LimitExceeded(
                    f"daily limit of {req.requested_by} for {prepared.symbol} would be exceeded"
                )
        await conn.execute(
            """INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount)
               VALUES ($1, $2, $3, $4, 'reserve', $5)""",
            req.request_id,
            req.chain,
            prepared.asset_id,
            req.requested_by,
            prepared.amount,
        )
        await set_status(conn, req.request_id, "reserved")


async def record(pool: asyncpg.Pool, change: LedgerChange) -> None:
    """Move the row to `change.status` with everything that goes with it, as one statement
    (all of it happens or none, in one round trip): the reservation debited or released
    (`change.kind`), the version about to be broadcast marked so (`change.version`), and
    an audit row."""
    await pool.execute(
        """WITH reserved AS (
               SELECT chain, asset, requested_by, amount FROM ledger_entries
               WHERE request_id = $1 AND kind = 'reserve' AND $2::text IS NOT NULL),
           closed AS (
               INSERT INTO ledger_entries (request_id, chain, asset, requested_by, kind, amount)
               SELECT $1, chain, asset, requested_by, $2, amount FROM reserved
               ON CONFLICT DO NOTHING),
           version AS (
               UPDATE withdrawal_versions SET status = $3, updated_at = now()
               WHERE request_id = $1 AND version = $6),
           audited AS (
               INSERT INTO audit_log (actor, action, subject, details)
               VALUES ('workflow', $3, 'withdrawal:' || $1, $7::jsonb))
           UPDATE withdrawals SET status = $3, status_reason = COALESCE($4, status_reason),
               tx_id = COALESCE($5, tx_id), updated_at = now()
           WHERE request_id = $1""",
        change.request_id,
        change.kind,
        change.status,
        change.reason,
        change.tx_id,
        change.version,
        change.model_dump_json(include={"reason", "tx_id", "kind", "version"}),
    )


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
    and return it, so a version number never names two different transactions."""
    row = await pool.fetchrow(
        """WITH saved AS (
               INSERT INTO withdrawal_versions (request_id, version, tx_id, signed_tx, expiry)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, version) DO NOTHING
               RETURNING tx_id, signed_tx, expiry),
           marked AS (
               UPDATE withdrawals SET status = 'signed', updated_at = now()
               WHERE request_id = $1)
           SELECT tx_id, signed_tx, expiry FROM saved
           UNION ALL
           SELECT tx_id, signed_tx, expiry FROM withdrawal_versions
           WHERE request_id = $1 AND version = $2""",
        signed.request_id,
        signed.version,
        signed.tx_id,
        raw,
        signed.expiry,
    )
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
