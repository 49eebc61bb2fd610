"""Webhook endpoints: what `walletflow webhooks add|list|rm|rotate-secret|test|failed|replay`
do. Input is checked here before anything is stored; one clear line when it is wrong."""

from __future__ import annotations

import asyncio
import secrets
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from core import webhooks as rules
from core.errors import UserError
from core.ids import webhook_delivery_id
from core.webhooks import DeliveryState
from starter.runtime.codec import read_key_ring
from starter.runtime.settings import NOTIFY_QUEUE, Settings
from store import webhooks as store
from workflows.webhooks import WebhookDeliveryWorkflow


def sealer_of(settings: Settings) -> store.Sealer:
    """Endpoint secrets sealed at rest under WALLETFLOW_CODEC_KEYS (as they are without)."""
    if settings.codec_keys is None:
        return store.Sealer()
    ring = read_key_ring(settings.codec_keys.get_secret_value())
    return store.Sealer(ring.keys, ring.active)


async def check_url(url: str, settings: Settings) -> str:
    """The URL, or a UserError: https to a public host (each address its name resolves to
    is checked too), unless WEBHOOKS_ALLOW_INSECURE."""
    try:
        url = rules.check_url(url, allow_insecure=settings.webhooks_allow_insecure)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if settings.webhooks_allow_insecure:
        return url
    host = urlsplit(url).hostname or ""
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    except OSError:
        raise UserError(f"{host} does not resolve") from None
    for *_, address in found:
        try:
            rules.check_address(str(address[0]))
        except ValueError:
            raise UserError(f"{host} resolves to a private address") from None
    return url


async def add(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    url: str,
    events: list[str],
    wallets: list[str] | None,
    created_by: str,
) -> tuple[str, str]:
    """Store the endpoint with a new secret and start its delivery loop: (id, secret)."""
    url = await check_url(url, settings)
    try:
        patterns = rules.check_patterns(events)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    endpoint_id = "ep_" + secrets.token_hex(8)
    secret = rules.new_secret()
    try:
        await store.add_endpoint(
            pool,
            endpoint_id=endpoint_id,
            url=url,
            events=patterns,
            wallets=[w.strip() for w in wallets or [] if w.strip()] or None,
            secret=sealer_of(settings).seal(secret),
            created_by=created_by,
        )
    except store.DuplicateEndpoint:
        raise UserError(f"an endpoint for {url} exists already") from None
    await ensure_delivery(client, settings, endpoint_id)
    return endpoint_id, secret


async def ensure_delivery(client: Client, settings: Settings, endpoint_id: str) -> None:
    """The endpoint's delivery loop, started unless it runs."""
    await client.start_workflow(
        WebhookDeliveryWorkflow.run,
        DeliveryState(endpoint_id=endpoint_id),
        id=webhook_delivery_id(endpoint_id),
        task_queue=settings.task_queue(NOTIFY_QUEUE),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"webhook deliveries of {endpoint_id}",
    )


async def listed(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Every endpoint, without its secrets, with its delivery counts."""
    rows = await store.endpoints(pool)
    counts = {
        (r["endpoint_id"], r["status"]): r["n"]
        for r in await pool.fetch(
            "SELECT endpoint_id, status, count(*) AS n FROM webhook_deliveries "
            "GROUP BY endpoint_id, status"
        )
    }
    return [
        {
            "id": r["id"],
            "url": r["url"],
            "events": list(r["events"]),
            "wallets": list(r["wallets"]) if r["wallets"] else None,
            "created_by": r["created_by"],
            "created_at": r["created_at"].isoformat(),
            "rotating_until": r["previous_until"].isoformat()
            if r["previous_until"] and r["previous_until"] > datetime.now(UTC)
            else None,
            **{s: counts.get((r["id"], s), 0) for s in ("pending", "delivered", "dead")},
        }
        for r in rows
    ]


async def remove(pool: asyncpg.Pool, endpoint_id: str) -> None:
    """Remove the endpoint; its delivery loop sees it gone and ends."""
    if not await store.remove_endpoint(pool, endpoint_id):
        raise UserError(f"no webhook endpoint {endpoint_id}")


async def rotate(
    pool: asyncpg.Pool, settings: Settings, endpoint_id: str, overlap: timedelta
) -> str:
    """A new secret; both sign during `overlap`. The new secret."""
    if overlap < timedelta(0):
        raise UserError("the overlap must be >= 0")
    secret = rules.new_secret()
    sealed = sealer_of(settings).seal(secret)
    if not await store.rotate_secret(pool, endpoint_id, sealed, overlap):
        raise UserError(f"no webhook endpoint {endpoint_id}")
    return secret


async def test(pool: asyncpg.Pool, endpoint_id: str, timeout: float = 30) -> dict[str, Any]:
    """Send a `webhook.test` event to the endpoint and wait for what became of it."""
    if await store.endpoint(pool, endpoint_id) is None:
        raise UserError(f"no webhook endpoint {endpoint_id}")
    now = datetime.now(UTC)
    event_id = rules.event_id(f"{rules.TEST_TYPE}:{endpoint_id}:{now.isoformat()}")
    await store.emit_test(
        pool,
        endpoint_id,
        rules.Emitted(
            event_id=event_id,
            type=rules.TEST_TYPE,
            data={"endpoint": endpoint_id, "sent": now.isoformat()},
        ),
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        row = await pool.fetchrow(
            "SELECT status, attempts, last_status, last_error FROM webhook_deliveries "
            "WHERE endpoint_id = $1 AND event_id = $2",
            endpoint_id,
            event_id,
        )
        if row is not None and (row["status"] != "pending" or row["attempts"] > 0):
            return {"event_id": event_id, **dict(row)}
        if asyncio.get_running_loop().time() > deadline:
            why = "not attempted yet: is a notify worker up?"
            return {"event_id": event_id, "status": "pending", "attempts": 0,
                    "last_status": None, "last_error": why}  # fmt: skip
        await asyncio.sleep(0.2)


async def failed(pool: asyncpg.Pool, endpoint_id: str | None) -> list[dict[str, Any]]:
    return [
        {**dict(r), "created_at": r["created_at"].isoformat()}
        for r in await store.failed(pool, endpoint_id)
    ]


async def replay(
    pool: asyncpg.Pool,
    *,
    event_id: str | None,
    since: str | None,
    endpoint_id: str | None,
) -> list[tuple[str, str]]:
    """Deliver again: one event (dead or delivered), or every dead one since a time."""
    if (event_id is None) == (since is None):
        raise UserError("give an EVENT_ID or --since, not both")
    when = None
    if since is not None:
        try:
            when = datetime.fromisoformat(since)
        except ValueError:
            raise UserError(
                f"--since {since!r} is not an ISO time, e.g. 2026-12-07T10:00"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    again = await store.replay(pool, event_id=event_id, since=when, endpoint_id=endpoint_id)
    if event_id is not None and not again:
        raise UserError(f"no delivered or dead delivery of {event_id}")
    return again
