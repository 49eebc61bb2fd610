"""Notifications: at most one Telegram message per dedupe key.

sendMessage cannot be made idempotent, so each attempt is bracketed: `claim` marks the row
`sending` before the request; the outcome is recorded after it. A retry that finds the row
still `sending` knows the previous attempt died mid-request and marks it `unknown` instead of
risking a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from core.models import Notification, NotificationResult


@dataclass(frozen=True)
class Claim:
    """Either go ahead and send (`result` is None) or the final result of an earlier attempt."""

    result: NotificationResult | None


async def claim(pool: asyncpg.Pool, n: Notification) -> Claim:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO notifications (dedupe_key, chat_id, text) VALUES ($1, $2, $3)
               ON CONFLICT (dedupe_key) DO NOTHING""",
            n.dedupe_key,
            n.chat_id,
            n.text,
        )
        row = await conn.fetchrow(
            """SELECT status, message_id, last_error FROM notifications
               WHERE dedupe_key = $1 FOR UPDATE""",
            n.dedupe_key,
        )
        assert row is not None
        status = row["status"]
        if status == "sending":
            await conn.execute(
                """UPDATE notifications SET status = 'unknown',
                       last_error = 'an earlier attempt died mid-request' WHERE dedupe_key = $1""",
                n.dedupe_key,
            )
            return Claim(
                NotificationResult(status="unknown", detail="earlier attempt died mid-request")
            )
        if status in ("sent", "unknown", "failed"):
            return Claim(
                NotificationResult(
                    status=status, message_id=row["message_id"], detail=row["last_error"]
                )
            )
        await conn.execute(
            """UPDATE notifications SET status = 'sending', attempts = attempts + 1
               WHERE dedupe_key = $1""",
            n.dedupe_key,
        )
        return Claim(None)


async def finish(
    pool: asyncpg.Pool,
    dedupe_key: str,
    status: str,
    *,
    message_id: int | None = None,
    error: str | None = None,
) -> None:
    """Record an attempt's outcome; `pending` means it provably did not send and may retry."""
    await pool.execute(
        """UPDATE notifications SET status = $2, message_id = COALESCE($3, message_id),
               last_error = $4, sent_at = CASE WHEN $2 = 'sent' THEN now() ELSE sent_at END
           WHERE dedupe_key = $1""",
        dedupe_key,
        status,
        message_id,
        error,
    )


@dataclass(frozen=True)
class Early:
    """An early message as the table has it: what there is to edit, and whether it ended."""

    status: str
    message_id: int | None
    concluded: str | None


async def early(pool: asyncpg.Pool, dedupe_key: str) -> Early | None:
    row = await pool.fetchrow(
        "SELECT status, message_id, concluded FROM notifications WHERE dedupe_key = $1",
        dedupe_key,
    )
    return None if row is None else Early(row["status"], row["message_id"], row["concluded"])


async def conclude(pool: asyncpg.Pool, dedupe_key: str, outcome: str, text: str) -> None:
    """Record that the early message ended as `outcome` (final or dropped), showing `text`."""
    await pool.execute(
        """UPDATE notifications SET concluded = $2, concluded_at = now(), text = $3
           WHERE dedupe_key = $1""",
        dedupe_key,
        outcome,
        text,
    )
