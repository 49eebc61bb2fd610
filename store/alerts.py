"""Price alerts as the alert workflows project them (for listing), and the price watches every
provider's price-watch loop keeps in its index (alerts' and positions' take-profit/stop-loss)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.alerts import AlertStatus, AlertWatch

WATCHES_CHANNEL = "walletflow_price_watches"

_WATCH = """SELECT watch_id, workflow_id, provider, price_id, op, level, window_seconds,
                   not_before, version, fallback
            FROM price_watches"""


def _watch(row: asyncpg.Record) -> AlertWatch:
    return AlertWatch(
        watch_id=row["watch_id"],
        workflow_id=row["workflow_id"],
        provider=row["provider"],
        price_id=row["price_id"],
        op=row["op"],
        level=str(row["level"]),
        window_seconds=row["window_seconds"],
        not_before=row["not_before"],
        version=row["version"],
        fallback=json.loads(row["fallback"]),
    )


async def save_watches(
    conn: asyncpg.Pool | asyncpg.Connection, watches: list[AlertWatch], dropped: list[str]
) -> None:
    """Upsert `watches` and delete the `dropped` watch ids. An older version (a late retry)
    never overwrites a newer one."""
    await conn.executemany(
        """INSERT INTO price_watches (watch_id, workflow_id, provider, price_id, op, level,
               window_seconds, not_before, version, fallback)
           VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9, $10::jsonb)
           ON CONFLICT (watch_id) DO UPDATE SET
               op = EXCLUDED.op, level = EXCLUDED.level,
               window_seconds = EXCLUDED.window_seconds, not_before = EXCLUDED.not_before,
               version = EXCLUDED.version, fallback = EXCLUDED.fallback, updated_at = now()
           WHERE price_watches.version <= EXCLUDED.version""",
        [
            (
                w.key,
                w.workflow_id,
                w.provider,
                w.price_id,
                w.op,
                w.level,
                w.window_seconds,
                w.not_before,
                w.version,
                json.dumps(w.fallback),
            )
            for w in watches
        ],
    )
    if dropped:
        await conn.execute("DELETE FROM price_watches WHERE watch_id = ANY($1::text[])", dropped)


async def save_alert(
    pool: asyncpg.Pool,
    status: AlertStatus,
    *,
    chain: str,
    description: str,
    watch: AlertWatch | None,
    version: int,
) -> None:
    """Upsert the alert's row and its one watch (none while paused or done), together."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO price_alerts (workflow_id, chat_id, alert_id, chain, symbol,
                   description, version, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
               ON CONFLICT (workflow_id) DO UPDATE SET
                   description = EXCLUDED.description, version = EXCLUDED.version,
                   status = EXCLUDED.status, updated_at = now()
               WHERE price_alerts.version <= EXCLUDED.version""",
            status.workflow_id,
            status.chat,
            status.alert_id,
            chain,
            status.symbol,
            description,
            version,
            status.model_dump_json(),
        )
        if watch is not None:
            await save_watches(conn, [watch], [])
        else:  # paused or done; never over a newer registration (a late retry)
            await conn.execute(
                "DELETE FROM price_watches WHERE watch_id = $1 AND version <= $2",
                status.workflow_id,
                version,
            )


async def forget_workflow(pool: asyncpg.Pool, workflow_id: str) -> None:
    """The workflow ended: its alert row and every watch it registered go."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM price_alerts WHERE workflow_id = $1", workflow_id)
        await conn.execute("DELETE FROM price_watches WHERE workflow_id = $1", workflow_id)


async def watches(pool: asyncpg.Pool, provider: str) -> list[AlertWatch]:
    return [_watch(r) for r in await pool.fetch(_WATCH + " WHERE provider = $1", provider)]


async def watch(pool: asyncpg.Pool, watch_id: str) -> AlertWatch | None:
    row = await pool.fetchrow(_WATCH + " WHERE watch_id = $1", watch_id)
    return _watch(row) if row else None


async def alerts(pool: asyncpg.Pool, chat: int | None = None) -> list[dict[str, Any]]:
    """Every alert (of one chat): its row with the workflow's last status."""
    rows = await pool.fetch(
        """SELECT workflow_id, chat_id, alert_id, chain, symbol, description, status
           FROM price_alerts WHERE $1::bigint IS NULL OR chat_id = $1
           ORDER BY chat_id, alert_id""",
        chat,
    )
    return [dict(r) | {"status": json.loads(r["status"])} for r in rows]
