"""The hot-wallet policy a chain's `policy-{chain}` workflow writes: the freeze flag and the
destination allowlist. Each change is written together with its audit row, in one statement.

Reserving, signing and broadcasting read the flag (store/withdrawals.py); signing and
broadcasting under a share lock on the chain's row, so that a freeze waits for the ones in
flight and every one after it sees the flag.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import asyncpg

from core.models import AllowlistEntry, AuditEntry, ChainPolicy

_AUDITED = """audited AS (
               INSERT INTO audit_log (actor, principal, action, subject, outcome, reason, key,
                                      details)
               VALUES ($3, $4, $5, $6, 'changed', $7, $8, $9::jsonb)
               ON CONFLICT (key) DO NOTHING)"""


def _audit_args(entry: AuditEntry) -> tuple[object, ...]:
    return (
        entry.actor,
        entry.principal,
        entry.action,
        entry.subject,
        entry.reason,
        entry.key,
        json.dumps(entry.details),
    )


async def ensure_chain(pool: asyncpg.Pool, chain: str) -> None:
    """The chain's row, unfrozen unless it exists: the share locks need a row to lock."""
    await pool.execute(
        "INSERT INTO chain_policy (chain) VALUES ($1) ON CONFLICT (chain) DO NOTHING", chain
    )


async def set_frozen(pool: asyncpg.Pool, chain: str, frozen: bool, entry: AuditEntry) -> bool:
    """Freeze or unfreeze `chain`, audited; False when it already was. A freeze waits for the
    signatures and broadcasts in flight (they hold the row's share lock).

    `changed_at` is read once the row lock is held (clock_timestamp in the SET, which runs
    after the lock), not at the transaction's start: a signature that took the share lock
    while this freeze waited is then dated before it, and nothing saved after it is unfrozen.
    """
    changed = await pool.fetchval(
        f"""WITH changed AS (
               INSERT INTO chain_policy (chain, frozen, reason, changed_by, changed_at)
               VALUES ($1, $2, $7, $3, clock_timestamp())
               ON CONFLICT (chain) DO UPDATE
                   SET frozen = $2, reason = $7, changed_by = $3, changed_at = clock_timestamp()
                   WHERE chain_policy.frozen IS DISTINCT FROM $2
               RETURNING chain),
           {_AUDITED}
           SELECT count(*) > 0 FROM changed""",
        chain,
        frozen,
        *_audit_args(entry),
    )
    return bool(changed)


async def chain_policy(pool: asyncpg.Pool, chain: str) -> ChainPolicy:
    row = await pool.fetchrow(
        "SELECT frozen, reason, changed_by, changed_at FROM chain_policy WHERE chain = $1", chain
    )
    if row is None:
        return ChainPolicy(chain=chain, frozen=False)
    return ChainPolicy(chain=chain, **dict(row))


async def allow(
    pool: asyncpg.Pool, chain: str, address: str, cooling_off: timedelta, entry: AuditEntry
) -> tuple[datetime, bool]:
    """Add a destination; it counts from now + `cooling_off`. Adding one already listed keeps
    its original time (re-adding can't shorten or restart anything). Returns when it counts,
    and whether it was added now."""
    row = await pool.fetchrow(
        f"""WITH added AS (
               INSERT INTO allowlist (chain, address, added_by, active_at, note)
               VALUES ($1, $2, $3, now() + $10::interval, $7)
               ON CONFLICT (chain, address) DO NOTHING
               RETURNING active_at),
           {_AUDITED}
           SELECT COALESCE((SELECT active_at FROM added),
                           (SELECT active_at FROM allowlist WHERE chain = $1 AND address = $2))
                      AS active_at,
                  EXISTS (SELECT 1 FROM added) AS added""",
        chain,
        address,
        *_audit_args(entry),
        cooling_off,
    )
    assert row is not None
    return row["active_at"], row["added"]


async def disallow(pool: asyncpg.Pool, chain: str, address: str, entry: AuditEntry) -> bool:
    """Remove a destination at once; False when it was not listed."""
    removed = await pool.fetchval(
        f"""WITH removed AS (
               DELETE FROM allowlist WHERE chain = $1 AND address = $2 RETURNING address),
           {_AUDITED}
           SELECT count(*) > 0 FROM removed""",
        chain,
        address,
        *_audit_args(entry),
    )
    return bool(removed)


async def allowlist(pool: asyncpg.Pool, chain: str | None = None) -> list[AllowlistEntry]:
    rows = await pool.fetch(
        """SELECT chain, address, added_by, added_at, active_at, note, active_at <= now() AS active
           FROM allowlist WHERE $1::text IS NULL OR chain = $1 ORDER BY chain, added_at""",
        chain,
    )
    return [AllowlistEntry(**dict(r)) for r in rows]


async def allowed(pool: asyncpg.Pool, chain: str, address: str) -> AllowlistEntry | None:
    """The destination's entry (active or still cooling off), or None if it is not listed."""
    row = await pool.fetchrow(
        """SELECT chain, address, added_by, added_at, active_at, note, active_at <= now() AS active
           FROM allowlist WHERE chain = $1 AND address = $2""",
        chain,
        address,
    )
    return None if row is None else AllowlistEntry(**dict(row))


async def hot_wallet_usage(pool: asyncpg.Pool, chain: str) -> dict[str, int]:
    """Per asset: what the chain's hot wallets reserved in the last 24 hours and did not
    have released (the use of the rolling hot-wallet limit)."""
    rows = await pool.fetch(
        """SELECT r.asset, sum(r.amount) AS used FROM ledger_entries r
           WHERE r.kind = 'reserve' AND r.chain = $1 AND r.created_at > now() - interval '24 hours'
             AND NOT EXISTS (SELECT 1 FROM ledger_entries x
                             WHERE x.request_id = r.request_id AND x.kind = 'release')
           GROUP BY r.asset""",
        chain,
    )
    return {r["asset"]: int(r["used"]) for r in rows}


async def allowlist_refusal(
    pool: asyncpg.Pool, chain: str, to: str, enforced: bool, configured: set[str]
) -> str | None:
    """Why the allowlist refuses `to` (WITHDRAWAL_ALLOWLIST: `enforced`, and the addresses it
    lists itself), or None if it may be paid."""
    if not enforced or to in configured:
        return None
    entry = await allowed(pool, chain, to)
    if entry is None:
        return f"destination {to} is not on the allowlist"
    if not entry.active:
        return (
            f"destination {to} is on the allowlist but cooling off until "
            f"{entry.active_at:%Y-%m-%d %H:%M} UTC"
        )
    return None
