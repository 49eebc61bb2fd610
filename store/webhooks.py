"""Webhook endpoints, the outbox of events and their deliveries (migration 011).

An event is written once under its stable id; the fan-out trigger adds one delivery row per
subscribed endpoint in the same transaction and wakes that endpoint's delivery loop
(`CHANNEL`). A delivery is pending until delivered or dead; a replay sets it pending again.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.webhooks import Emitted

CHANNEL = "walletflow_webhooks"


class DuplicateEndpoint(Exception):
    """An endpoint with this URL exists."""


class Sealer:
    """Endpoint secrets at rest: AES-256-GCM under the payload codec's keys
    (WALLETFLOW_CODEC_KEYS; the first seals, all open), the key id as associated data, stored
    as `sealed:{key_id}:{base64 nonce+ciphertext}`. Without keys (dev) a secret is stored as
    it is, and a stored one that is not sealed opens as itself (written before keys were set)."""

    PREFIX = "sealed:"

    def __init__(self, keys: dict[str, bytes] | None = None, active: str | None = None) -> None:
        self.ciphers = {key_id: AESGCM(key) for key_id, key in (keys or {}).items()}
        self.active = active

    def seal(self, secret: str) -> str:
        if self.active is None:
            return secret
        nonce = os.urandom(12)
        sealed = self.ciphers[self.active].encrypt(nonce, secret.encode(), self.active.encode())
        return f"{self.PREFIX}{self.active}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, stored: str) -> str:
        """The secret; ValueError naming only the key id when it cannot be opened."""
        if not stored.startswith(self.PREFIX):
            return stored
        key_id, _, data = stored.removeprefix(self.PREFIX).partition(":")
        cipher = self.ciphers.get(key_id)
        if cipher is None:
            raise ValueError(f"an endpoint secret is sealed with key {key_id!r}, not configured")
        try:
            raw = base64.b64decode(data)
            return cipher.decrypt(raw[:12], raw[12:], key_id.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise ValueError(f"an endpoint secret under key {key_id!r} does not open") from None


@dataclass(frozen=True)
class Due:
    event_id: str
    type: str
    data: Any
    created_at: datetime
    attempts: int
    first_at: datetime


@dataclass(frozen=True)
class Outcome:
    """One attempt's result: `delivered`, `retry` (at `next_at`) or `dead`."""

    event_id: str
    result: str
    status: int | None = None
    error: str | None = None
    next_at: datetime | None = None


# ---- endpoints --------------------------------------------------------------------------------


async def add_endpoint(
    pool: asyncpg.Pool,
    *,
    endpoint_id: str,
    url: str,
    events: list[str],
    wallets: list[str] | None,
    secret: str,
    created_by: str,
) -> None:
    try:
        await pool.execute(
            """INSERT INTO webhook_endpoints (id, url, events, wallets, secret, created_by)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            endpoint_id,
            url,
            events,
            wallets,
            secret,
            created_by,
        )
    except asyncpg.UniqueViolationError:
        raise DuplicateEndpoint(url) from None


_ENDPOINT = """SELECT id, url, events, wallets, created_by, created_at, previous_until,
                      secret, previous_secret
               FROM webhook_endpoints"""


async def endpoints(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(_ENDPOINT + " ORDER BY created_at")


async def endpoint(pool: asyncpg.Pool | asyncpg.Connection, endpoint_id: str) -> Any:
    return await pool.fetchrow(_ENDPOINT + " WHERE id = $1", endpoint_id)


async def remove_endpoint(pool: asyncpg.Pool, endpoint_id: str) -> bool:
    """Remove the endpoint and its deliveries; whether it existed."""
    return await pool.fetchval(
        "WITH gone AS (DELETE FROM webhook_endpoints WHERE id = $1 RETURNING 1) "
        "SELECT count(*) > 0 FROM gone",
        endpoint_id,
    )


async def rotate_secret(
    pool: asyncpg.Pool, endpoint_id: str, secret: str, overlap: timedelta
) -> bool:
    """A new secret; the current one keeps signing too for `overlap`."""
    return await pool.fetchval(
        """WITH rotated AS (
               UPDATE webhook_endpoints
               SET previous_secret = secret, previous_until = now() + $3::interval,
                   secret = $2
               WHERE id = $1 RETURNING 1)
           SELECT count(*) > 0 FROM rotated""",
        endpoint_id,
        secret,
        overlap,
    )


def signing_secrets(row: Any, now: datetime, sealer: Sealer) -> list[str]:
    """The secrets that sign now: the current one, and the previous during its overlap."""
    found = [sealer.open(row["secret"])]
    if row["previous_secret"] and row["previous_until"] and row["previous_until"] > now:
        found.append(sealer.open(row["previous_secret"]))
    return found


# ---- the outbox -------------------------------------------------------------------------------


async def emit(conn: asyncpg.Pool | asyncpg.Connection, events: list[Emitted]) -> None:
    """Write events to the outbox once each (a repeat of an id is a no-op)."""
    if not events:
        return
    await conn.executemany(
        """INSERT INTO webhook_events (event_id, type, ordering, wallet, body)
           VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (event_id) DO NOTHING""",
        [
            (e.event_id, e.type, e.ordering or e.event_id, e.wallet, json.dumps(e.data))
            for e in events
        ],
    )


async def emit_test(pool: asyncpg.Pool, endpoint_id: str, event: Emitted) -> None:
    """A test event, delivered to this endpoint only."""
    async with pool.acquire() as conn, conn.transaction():
        await emit(conn, [event])
        await conn.execute(
            """INSERT INTO webhook_deliveries (endpoint_id, event_id, seq, ordering)
               SELECT $1, event_id, seq, ordering FROM webhook_events WHERE event_id = $2
               ON CONFLICT DO NOTHING""",
            endpoint_id,
            event.event_id,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, endpoint_id)


# ---- delivery ---------------------------------------------------------------------------------


async def lock_endpoint(conn: asyncpg.Connection, endpoint_id: str) -> bool:
    """The endpoint's delivery lock (a session lock of `conn`), if free."""
    return bool(
        await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", f"webhooks:{endpoint_id}"
        )
    )


async def unlock_endpoint(conn: asyncpg.Connection, endpoint_id: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_unlock(hashtextextended($1, 0))", f"webhooks:{endpoint_id}"
    )


async def due(pool: asyncpg.Pool, endpoint_id: str, limit: int) -> list[Due]:
    """Deliveries to attempt now, oldest first: of each ordering, only its earliest pending
    one (a wallet's next event waits for the one before it), and only once its time came."""
    rows = await pool.fetch(
        """SELECT d.event_id, e.type, e.body, e.created_at, d.attempts, d.first_at
           FROM (SELECT DISTINCT ON (ordering) event_id, seq, attempts, first_at, next_at
                 FROM webhook_deliveries
                 WHERE endpoint_id = $1 AND status = 'pending'
                 ORDER BY ordering, seq) d
           JOIN webhook_events e USING (event_id)
           WHERE d.next_at <= now()
           ORDER BY d.seq
           LIMIT $2""",
        endpoint_id,
        limit,
    )
    return [
        Due(
            r["event_id"],
            r["type"],
            json.loads(r["body"]),
            r["created_at"],
            r["attempts"],
            r["first_at"],
        )
        for r in rows
    ]


async def next_due(pool: asyncpg.Pool, endpoint_id: str) -> datetime | None:
    """When the next delivery that may go comes due: of each ordering only its earliest
    pending one counts (the rest wait on it). None: nothing pending."""
    return await pool.fetchval(
        """SELECT min(next_at) FROM (
               SELECT DISTINCT ON (ordering) next_at FROM webhook_deliveries
               WHERE endpoint_id = $1 AND status = 'pending'
               ORDER BY ordering, seq) heads""",
        endpoint_id,
    )


async def settle(pool: asyncpg.Pool, endpoint_id: str, outcomes: list[Outcome]) -> None:
    """Record the attempts' results (only over pending rows: a concurrent replay or removal
    wins)."""
    await pool.executemany(
        """UPDATE webhook_deliveries SET
               attempts = attempts + 1,
               status = CASE $3 WHEN 'delivered' THEN 'delivered'
                                WHEN 'dead' THEN 'dead' ELSE 'pending' END,
               delivered_at = CASE $3 WHEN 'delivered' THEN now() ELSE delivered_at END,
               next_at = coalesce($6, next_at),
               last_status = $4, last_error = $5
           WHERE endpoint_id = $1 AND event_id = $2 AND status = 'pending'""",
        [(endpoint_id, o.event_id, o.result, o.status, o.error, o.next_at) for o in outcomes],
    )


async def due_now(pool: asyncpg.Pool, endpoint_id: str) -> None:
    """Every pending delivery of the endpoint due at once: it answers again, and what backed
    off while it was down should not wait out its backoff (up to an hour)."""
    await pool.execute(
        """UPDATE webhook_deliveries SET next_at = now()
           WHERE endpoint_id = $1 AND status = 'pending' AND next_at > now()""",
        endpoint_id,
    )


async def oldest_pending(pool: asyncpg.Pool, endpoint_id: str) -> datetime | None:
    return await pool.fetchval(
        """SELECT min(e.created_at) FROM webhook_deliveries d JOIN webhook_events e
           USING (event_id) WHERE d.endpoint_id = $1 AND d.status = 'pending'""",
        endpoint_id,
    )


# ---- operations -------------------------------------------------------------------------------


async def failed(pool: asyncpg.Pool, endpoint_id: str | None = None) -> list[asyncpg.Record]:
    """The dead-letter store: dead deliveries, oldest first."""
    return await pool.fetch(
        """SELECT d.endpoint_id, d.event_id, e.type, e.created_at, d.attempts, d.last_status,
                  d.last_error, d.replays
           FROM webhook_deliveries d JOIN webhook_events e USING (event_id)
           WHERE d.status = 'dead' AND ($1::text IS NULL OR d.endpoint_id = $1)
           ORDER BY d.seq""",
        endpoint_id,
    )


async def replay(
    pool: asyncpg.Pool,
    *,
    event_id: str | None = None,
    since: datetime | None = None,
    endpoint_id: str | None = None,
) -> list[tuple[str, str]]:
    """Set deliveries pending again, as new (attempts and the retry window start afresh): one
    event's (dead or delivered), or every dead one since a time. (endpoint, event) of each."""
    rows = await pool.fetch(
        """WITH again AS (
               UPDATE webhook_deliveries d SET
                   status = 'pending', attempts = 0, next_at = now(), first_at = now(),
                   last_status = NULL, last_error = NULL, replays = replays + 1
               FROM webhook_events e
               WHERE e.event_id = d.event_id
                 AND ($1::text IS NULL OR d.event_id = $1)
                 AND ($2::timestamptz IS NULL OR (e.created_at >= $2 AND d.status = 'dead'))
                 AND ($3::text IS NULL OR d.endpoint_id = $3)
                 AND d.status <> 'pending'
               RETURNING d.endpoint_id, d.event_id)
           SELECT endpoint_id, event_id FROM again""",
        event_id,
        since,
        endpoint_id,
    )
    again = [(r["endpoint_id"], r["event_id"]) for r in rows]
    for woken in sorted({e for e, _ in again}):
        await pool.execute("SELECT pg_notify($1, $2)", CHANNEL, woken)
    return again
