"""`walletflow webhooks add|list|rm|rotate-secret|test|failed|replay`: signed outbound
webhooks (Standard Webhooks), one delivery loop per endpoint (`webhooks-{endpoint_id}`)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import typer

from starter.cli import authority
from starter.cli.authority import JSON_HELP, with_pool
from starter.cli.output import emit_json, say, table
from starter.runtime.settings import load_settings

app = typer.Typer(help="Signed webhooks: every event to your endpoints, at least once.")


def _split(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


@app.command("add")
def add(
    url: str = typer.Argument(..., help="https://… (public hosts only, unless the dev flag)"),
    events: str = typer.Option(
        ..., help="comma-separated: wallet.transfer, wallet.swap, withdrawal.*, trade.*, …"
    ),
    wallet: str | None = typer.Option(None, help="only events of these wallets (comma-sep.)"),
    key: Path | None = authority.key_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add an endpoint. Its signing secret is printed once: keep it."""
    from starter.client import connect, webhooks

    settings = load_settings()
    who = authority.signer_of(settings, key).identity

    async def go(pool: Any) -> tuple[str, str]:
        return await webhooks.add(
            await connect(settings),
            pool,
            settings,
            url=url,
            events=_split(events),
            wallets=_split(wallet) or None,
            created_by=who,
        )

    endpoint_id, secret = with_pool(settings, go)
    if as_json:
        emit_json({"id": endpoint_id, "url": url, "secret": secret})
        return
    say(f"endpoint {endpoint_id} added: {url}\nsigning secret (shown once): {secret}")


@app.command("list")
def list_endpoints(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Endpoints, their events and their deliveries (pending, delivered, dead)."""
    from starter.client import webhooks

    rows = with_pool(load_settings(), webhooks.listed)
    if as_json:
        emit_json(rows)
        return
    table(
        ("id", "url", "events", "pending", "delivered", "dead"),
        [
            (r["id"], r["url"], ",".join(r["events"]), r["pending"], r["delivered"], r["dead"])
            for r in rows
        ],
    )


@app.command("rm")
def remove(
    endpoint_id: str = typer.Argument(..., help="ep_…"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove an endpoint and its deliveries."""
    from starter.client import webhooks

    with_pool(load_settings(), lambda pool: webhooks.remove(pool, endpoint_id))
    if as_json:
        emit_json({"id": endpoint_id, "removed": True})
    else:
        say(f"endpoint {endpoint_id} removed")


@app.command("rotate-secret")
def rotate_secret(
    endpoint_id: str = typer.Argument(..., help="ep_…"),
    overlap_hours: float = typer.Option(24, "--overlap-hours", help="both secrets sign this long"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A new signing secret; the old one signs too (a second signature) during the overlap."""
    from starter.client import webhooks

    overlap = timedelta(hours=overlap_hours)
    settings = load_settings()
    secret = with_pool(settings, lambda pool: webhooks.rotate(pool, settings, endpoint_id, overlap))
    if as_json:
        emit_json({"id": endpoint_id, "secret": secret, "overlap_hours": overlap_hours})
    else:
        say(f"new signing secret of {endpoint_id} (shown once): {secret}")


@app.command("test")
def test(
    endpoint_id: str = typer.Argument(..., help="ep_…"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Send a `webhook.test` event to the endpoint and say what its receiver answered."""
    from starter.client import webhooks
    from starter.client.errors import Refused

    outcome = with_pool(load_settings(), lambda pool: webhooks.test(pool, endpoint_id))
    if as_json:
        emit_json(outcome)
    else:
        answer = outcome["last_status"] or outcome["last_error"] or "-"
        say(f"{outcome['event_id']}: {outcome['status']} (answer: {answer})")
    if outcome["status"] != "delivered":
        raise Refused(f"the test event was not delivered: {outcome['last_error'] or 'pending'}")


@app.command("failed")
def failed(
    endpoint_id: str | None = typer.Option(None, "--endpoint", help="only this endpoint's"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The dead-letter store: deliveries that failed for good."""
    from starter.client import webhooks

    rows = with_pool(load_settings(), lambda pool: webhooks.failed(pool, endpoint_id))
    if as_json:
        emit_json(rows)
        return
    table(
        ("endpoint", "event", "type", "attempts", "last answer"),
        [
            (
                r["endpoint_id"],
                r["event_id"],
                r["type"],
                r["attempts"],
                r["last_error"] or r["last_status"],
            )
            for r in rows
        ],
    )


@app.command("replay")
def replay(
    event_id: str | None = typer.Argument(None, help="evt_… (delivered or dead)"),
    since: str | None = typer.Option(None, help="every dead delivery of events since (ISO)"),
    endpoint_id: str | None = typer.Option(None, "--endpoint", help="only to this endpoint"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Deliver again, under the same event ids (receivers deduplicate), freshly signed."""
    from starter.client import webhooks

    again = with_pool(
        load_settings(),
        lambda pool: webhooks.replay(pool, event_id=event_id, since=since, endpoint_id=endpoint_id),
    )
    if as_json:
        emit_json([{"endpoint_id": e, "event_id": i} for e, i in again])
    else:
        say(f"{len(again)} deliveries pending again")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="webhooks")
