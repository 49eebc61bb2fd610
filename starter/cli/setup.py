"""`walletflow setup`: prepare a cluster for walletflow, safe to run on every deploy.

1. the Temporal namespace (TEMPORAL_NAMESPACE), created when missing,
2. walletflow's custom search attributes (core/search_attributes.py `ALL`), created when
   missing, then awaited until the cluster lists them (visibility can lag),
3. the database migrations on DATABASE_URL, refused when an applied file was changed.

`--status` shows each of them and changes nothing. Progress goes to stderr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any, TypeVar

import typer
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from core.errors import UserError
from starter.cli.output import emit_json, err, out
from starter.client.errors import TimedOut
from starter.runtime.settings import Settings, load_settings

T = TypeVar("T")
RETRYABLE = (RPCStatusCode.NOT_FOUND, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


def progress(text: str) -> None:
    err.print(f"walletflow setup: {text}", highlight=False)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    async def retry(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt` until it succeeds; a transient refusal (a namespace the cluster has not
        loaded yet, a restarting frontend) is retried until the deadline."""
        while True:
            try:
                return await attempt()
            except RPCError as exc:
                if exc.status not in RETRYABLE:
                    raise UserError(f"{what}: {exc.message}") from None
                if self.passed:
                    raise TimedOut(f"{what}: still {exc.message} after {self.seconds:g}s") from None
            await asyncio.sleep(1)


async def _connect(settings: Settings, deadline: Deadline | None) -> Client:
    from starter.client import connect

    while True:
        try:
            return await connect(settings)
        except UserError as exc:
            if deadline is None:
                raise
            if deadline.passed:
                raise TimedOut(f"{exc} (gave up after {deadline.seconds:g}s)") from None
        await asyncio.sleep(1)


async def apply(settings: Settings, timeout: float, retention: timedelta) -> dict[str, Any]:
    from starter.client import cluster
    from store.db import create_pool, migrate

    dsn = settings.require_dsn()
    deadline = Deadline(timeout)
    name = settings.temporal_namespace
    client = await _connect(settings, deadline)
    progress(f"Temporal at {settings.temporal_address}")

    ns = await cluster.describe_namespace(client, name)
    created = False
    if ns.exists:
        progress(f"namespace {name} exists")
    else:
        created = await cluster.create_namespace(client, name, retention)
        progress(f"namespace {name} created (retention {retention.days} days)")

    states = await deadline.retry(
        "listing search attributes", lambda: cluster.attribute_states(client, name)
    )
    conflicts = [s for s in states if s.state == "conflict"]
    if conflicts:
        c = conflicts[0]
        raise UserError(
            f"search attribute {c.name} exists as {c.found}, walletflow needs {c.type}; "
            "fix it by hand"
        )
    missing = [s for s in states if s.state == "missing"]
    for s in missing:
        progress(f"creating search attribute {s.name} ({s.type})")
    if missing:
        names = [s.name for s in missing]
        await deadline.retry(
            "creating search attributes", lambda: cluster.add_attributes(client, name, names)
        )
        # Visibility can take a moment to list new attributes: check instead of trusting create.
        while any(s.state != "registered" for s in await cluster.attribute_states(client, name)):
            if deadline.passed:
                raise TimedOut(f"search attributes not listed after {timeout:g}s")
            await asyncio.sleep(1)
    progress("search attributes are registered")

    pool = await create_pool(dsn, max_size=1)
    try:
        applied = await migrate(pool)
    finally:
        await pool.close()
    progress(f"migrations applied: {', '.join(applied)}" if applied else "schema is up to date")
    progress("done")
    return {
        "namespace": {"name": name, "created": created},
        "search_attributes": {"created": [s.name for s in missing]},
        "migrations": {"applied": applied},
    }


async def status(settings: Settings) -> dict[str, Any]:
    import asyncpg

    from starter.client import cluster
    from store.db import create_pool
    from store.migrate import migration_status

    dsn = settings.require_dsn()
    client = await _connect(settings, None)
    name = settings.temporal_namespace
    ns = await cluster.describe_namespace(client, name)
    if ns.exists:
        attributes = await cluster.attribute_states(client, name)
    else:
        from core import search_attributes

        attributes = [
            cluster.AttributeState(k.name, cluster.type_name(int(k.indexed_value_type)), "missing")
            for k in search_attributes.ALL
        ]
    pool: asyncpg.Pool = await create_pool(dsn, max_size=1)
    try:
        async with pool.acquire() as conn:
            migrations = await migration_status(conn)
    finally:
        await pool.close()
    ready = (
        ns.exists
        and all(a.state == "registered" for a in attributes)
        and all(m.state == "applied" and m.checksum != "mismatch" for m in migrations)
    )
    return {
        "temporal": settings.temporal_address,
        "namespace": {
            "name": name,
            "exists": ns.exists,
            "retention_days": ns.retention.total_seconds() / 86400 if ns.retention else None,
        },
        "search_attributes": [asdict(a) for a in attributes],
        "migrations": [
            {**asdict(m), "applied_at": m.applied_at.isoformat() if m.applied_at else None}
            for m in migrations
        ],
        "ready": ready,
    }


def show_status(doc: dict[str, Any]) -> None:
    ns = doc["namespace"]
    out.print(
        f"namespace {ns['name']} on {doc['temporal']}: "
        + ("exists" if ns["exists"] else "missing"),
        highlight=False,
    )
    out.print("search attributes:", highlight=False)
    for a in doc["search_attributes"]:
        found = f" (found {a['found']})" if a["found"] else ""
        out.print(f"  {a['name']:<24} {a['type']:<12} {a['state']}{found}", highlight=False)
    out.print("migrations:", highlight=False)
    for m in doc["migrations"]:
        check = f"checksum {m['checksum']}" if m["checksum"] else ""
        out.print(
            f"  {m['version']:03d}_{m['name']:<24} {m['state']:<8} {check}".rstrip(),
            highlight=False,
        )
    out.print("ready" if doc["ready"] else "not ready: run `walletflow setup`", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command()
    def setup(
        show: bool = typer.Option(
            False, "--status", help="show the namespace, search attributes and migrations"
        ),
        as_json: bool = typer.Option(False, "--json", help="print one JSON document on stdout"),
        timeout: float = typer.Option(
            180,
            min=0,
            envvar="WALLETFLOW_SETUP_TIMEOUT",
            help="seconds to wait for Temporal and the search attributes (then exit 4)",
        ),
        retention_days: int = typer.Option(
            30, min=1, help="workflow retention of a namespace that setup creates"
        ),
    ) -> None:
        """Prepare a cluster: the namespace, walletflow's search attributes and the database
        migrations (each created or applied only when missing; safe on every deploy)."""
        settings = load_settings()
        if show:
            doc = asyncio.run(status(settings))
            emit_json(doc) if as_json else show_status(doc)
            return
        summary = asyncio.run(apply(settings, timeout, timedelta(days=retention_days)))
        if as_json:
            emit_json(summary)
