"""Price alerts as the alert workflows project them: listing, and the watches the price-watch
loop of each provider keeps in its index."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from core.alerts import AlertStatus, AlertWatch

ALERTS_CHANNEL = "walletflow_price_alerts"

_WATCH = """SELECT workflow_id, provider, price_id, op, level, window_seconds, not_before, version
            FROM price_alerts"""


def _watch(row: asyncpg.Record) -> AlertWatch:
    return AlertWatch(
        workflow_id=row["workflow_id"],
        provider=row["provider"],
        price_id=row["price_id"],
        op=row["op"],
        level=str(row["level"]),
        window_seconds=row["window_seconds"],
        not_before=row["not_before"],
        version=row["version"],
    )


async def save_alert(
    pool: asyncpg.Pool,
    status: AlertStatus,
    *,
    chain: str,
    provider: str,
    price_id: str,
    description: str,
    watch: AlertWatch | None,
    version: int,
) -> None:
    """Upsert the alert's row; an older version (a late retry) never overwrites a newer one."""
    await pool.execute(
        """INSERT INTO price_alerts (workflow_id, chat_id, alert_id, chain, symbol, provider,
               price_id, description, op, level, window_seconds, not_before, version, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11, $12, $13, $14::jsonb)
           ON CONFLICT (workflow_id) DO UPDATE SET
               description = EXCLUDED.description, op = EXCLUDED.op, level = EXCLUDED.level,
               window_seconds = EXCLUDED.window_seconds, not_before = EXCLUDED.not_before,
               version = EXCLUDED.version, status = EXCLUDED.status, updated_at = now()
           WHERE price_alerts.version <= EXCLUDED.version""",
        status.workflow_id,
        status.chat,
        status.alert_id,
        chain,
        status.symbol,
        provider,
        price_id,
        description,
        watch.op if watch else None,
        watch.level if watch else None,
        watch.window_seconds if watch else 0,
        watch.not_before if watch else 0,
        version,
        status.model_dump_json(),
    )


async def forget_alert(pool: asyncpg.Pool, workflow_id: str) -> None:
    await pool.execute("DELETE FROM price_alerts WHERE workflow_id = $1", workflow_id)


async def watches(pool: asyncpg.Pool, provider: str) -> list[AlertWatch]:
    rows = await pool.fetch(_WATCH + " WHERE provider = $1 AND op IS NOT NULL", provider)
    return [_watch(r) for r in rows]


async def watch(pool: asyncpg.Pool, workflow_id: str) -> AlertWatch | None:
    """The alert's current watch; None when it has none (paused, done, gone)."""
    row = await pool.fetchrow(_WATCH + " WHERE workflow_id = $1 AND op IS NOT NULL", workflow_id)
    return _watch(row) if row else None


async def alerts(pool: asyncpg.Pool, chat: int | None = None) -> list[dict[str, Any]]:
    """Every alert (of one chat), oldest first: its row with the workflow's last status."""
    rows = await pool.fetch(
        """SELECT workflow_id, chat_id, alert_id, chain, symbol, description, status
           FROM price_alerts WHERE $1::bigint IS NULL OR chat_id = $1
           ORDER BY chat_id, alert_id""",
        chat,
    )
    return [dict(r) | {"status": json.loads(r["status"])} for r in rows]
