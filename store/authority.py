"""The roster of principals and the append-only audit log.

The roster is the worker side's truth about who may do what: workflows load it through an
activity and verify signed intents against it. Every change to it is audited in the same
transaction. The audit log is append-only (a trigger refuses UPDATE, DELETE and TRUNCATE).
"""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from core.intents import Principal, Roster
from core.models import AuditEntry


async def load_roster(pool: asyncpg.Pool) -> Roster:
    rows = await pool.fetch(
        "SELECT id, public_key, roles, users, revoked_at IS NOT NULL AS revoked "
        "FROM principals ORDER BY id"
    )
    return Roster(
        principals=[
            Principal(
                id=r["id"],
                public_key=r["public_key"],
                roles=list(r["roles"]),
                users=json.loads(r["users"]),
                revoked=r["revoked"],
            )
            for r in rows
        ]
    )


async def add_principal(pool: asyncpg.Pool, principal: Principal, by: str) -> bool:
    """Add a principal, or update the roles of an unrevoked one with the same key. Returns
    False when nothing changed. A revoked id stays revoked: add it again under a new id."""
    async with pool.acquire() as conn, conn.transaction():
        existing = await conn.fetchrow(
            "SELECT public_key, roles, users, revoked_at FROM principals WHERE id = $1 FOR UPDATE",
            principal.id,
        )
        if existing is not None:
            if existing["revoked_at"] is not None:
                raise ValueError(f"principal {principal.id!r} was revoked: use a new id")
            if existing["public_key"] != principal.public_key:
                raise ValueError(f"principal {principal.id!r} exists with another key")
            if list(existing["roles"]) == principal.roles and (
                json.loads(existing["users"]) == principal.users
            ):
                return False
        await conn.execute(
            """INSERT INTO principals (id, public_key, roles, users) VALUES ($1, $2, $3, $4)
               ON CONFLICT (id) DO UPDATE SET roles = $3, users = $4""",
            principal.id,
            principal.public_key,
            principal.roles,
            json.dumps(principal.users),
        )
        await _audit(
            conn,
            AuditEntry(
                actor=by,
                action="principal.add" if existing is None else "principal.change",
                subject=f"principal:{principal.id}",
                outcome="changed",
                details={"roles": principal.roles, "users": principal.users},
            ),
        )
        return True


async def revoke_principal(pool: asyncpg.Pool, principal_id: str, by: str) -> bool:
    """Revoke a principal; False when it was revoked already. Unknown ids raise KeyError."""
    async with pool.acquire() as conn, conn.transaction():
        revoked = await conn.fetchval(
            "SELECT revoked_at IS NOT NULL FROM principals WHERE id = $1 FOR UPDATE", principal_id
        )
        if revoked is None:
            raise KeyError(principal_id)
        if revoked:
            return False
        await conn.execute("UPDATE principals SET revoked_at = now() WHERE id = $1", principal_id)
        await _audit(
            conn,
            AuditEntry(
                actor=by,
                action="principal.revoke",
                subject=f"principal:{principal_id}",
                outcome="changed",
            ),
        )
        return True


async def audit(pool: asyncpg.Pool, entry: AuditEntry) -> None:
    """Append one entry; with a `key`, a second write of the same entry is a no-op."""
    await _audit(pool, entry)


async def _audit(conn: asyncpg.Pool | asyncpg.Connection, entry: AuditEntry) -> None:
    await conn.execute(
        """INSERT INTO audit_log (actor, principal, action, subject, outcome, reason, key,
                                  details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
           ON CONFLICT (key) DO NOTHING""",
        entry.actor,
        entry.principal,
        entry.action,
        entry.subject,
        entry.outcome,
        entry.reason,
        entry.key,
        json.dumps(entry.details),
    )


async def audit_log(
    pool: asyncpg.Pool, since: datetime | None = None, limit: int = 1000
) -> list[dict[str, object]]:
    """The newest `limit` entries at or after `since`, oldest first."""
    rows = await pool.fetch(
        """SELECT * FROM (
               SELECT id, at, actor, principal, action, subject, outcome, reason, details
               FROM audit_log WHERE $1::timestamptz IS NULL OR at >= $1
               ORDER BY id DESC LIMIT $2) newest
           ORDER BY id""",
        since,
        limit,
    )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]
