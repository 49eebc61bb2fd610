"""`walletflow alert add|list|rm|pause|resume`: durable price alerts (`alert-{chat}-{alert_id}`)."""

from __future__ import annotations

import asyncio
from typing import Any

import typer

from starter.cli.authority import JSON_HELP, with_pool
from starter.cli.output import emit_json, say, table
from starter.runtime.settings import load_settings

app = typer.Typer(help="Price alerts: above or below a price, or a move within a window.")


@app.command("add", context_settings={"ignore_unknown_options": True})
def add(
    token: str = typer.Argument(..., help="SOL, TRX, a listed token, or a mint/contract"),
    condition: list[str] = typer.Argument(
        ..., help="above 250 | below 90 | '>250' | '<90' | -10% 1h | down 10% 1h | up 5% 30m"
    ),
    chat: int = typer.Option(..., help="the Telegram chat the alert tells"),
    chain: str | None = typer.Option(None, help="the chain, when the token is on several"),
    alert_id: str | None = typer.Option(None, "--id", help="your id for it (default: random)"),
    repeat: bool = typer.Option(False, help="fire at every crossing, not once"),
    hysteresis: str | None = typer.Option(
        None, help="re-arm only after the price is back this many % (default 1)"
    ),
    cooldown: int | None = typer.Option(None, help="seconds between two fires (default 300)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Set a price alert; it fires once per crossing, even across restarts."""
    from core.alerts import describe
    from starter.client import alerts, connect

    settings = load_settings()

    async def go() -> tuple[str, Any]:
        return await alerts.add(
            await connect(settings),
            settings,
            chat=chat,
            token=token,
            condition=condition,
            chain=chain,
            alert_id=alert_id,
            repeat=repeat,
            hysteresis_pct=hysteresis,
            cooldown_seconds=cooldown,
        )

    workflow_id, req = asyncio.run(go())
    if as_json:
        emit_json(
            {
                "workflow_id": workflow_id,
                "alert_id": req.alert_id,
                "chat": req.chat,
                "asset": req.asset.model_dump(),
                "rule": req.rule.model_dump(),
                "price": req.set_price,
            }
        )
        return
    say(
        f"alert {req.alert_id} set: {describe(req.rule, req.asset.symbol)} "
        f"(now {req.set_price} USD at {req.asset.provider}): workflow {workflow_id}"
    )


@app.command("list")
def list_alerts(
    chat: int | None = typer.Option(None, help="only this chat's alerts"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The running alerts, with their state and the last price each saw."""
    from starter.client import alerts

    rows = with_pool(load_settings(), lambda pool: alerts.listed(pool, chat))
    if as_json:
        emit_json(rows)
        return
    if not rows:
        say("no alerts")
        return
    table(
        ("chat", "id", "alert", "state", "fired", "last price"),
        [
            (
                str(r["chat_id"]),
                str(r["alert_id"]),
                str(r["description"]),
                _state(r["status"]),
                str(r["status"]["fired"]),
                str(r["status"].get("last_price") or "-"),
            )
            for r in rows
        ],
    )


def _state(status: dict[str, Any]) -> str:
    if status.get("done"):
        return "done"
    if status.get("paused"):
        return "paused"
    return "armed" if status.get("armed") else "fired, re-arms when the price is back"


def _signal(name: str, chat: int, alert_id: str, as_json: bool) -> None:
    from starter.client import alerts, connect

    settings = load_settings()

    async def go() -> str:
        return await alerts.signal(await connect(settings), chat, alert_id, name)

    workflow_id = asyncio.run(go())
    if as_json:
        emit_json({"workflow_id": workflow_id, "sent": name})
    else:
        say(f"{name} sent to {workflow_id}")


@app.command("rm")
def remove(
    alert_id: str = typer.Argument(..., help="the alert's id (see `walletflow alert list`)"),
    chat: int = typer.Option(..., help="the chat it belongs to"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Remove an alert: its workflow stops and it is no longer watched."""
    _signal("stop", chat, alert_id, as_json)


@app.command("pause")
def pause(
    alert_id: str = typer.Argument(...),
    chat: int = typer.Option(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Pause an alert: not watched until resume."""
    _signal("pause", chat, alert_id, as_json)


@app.command("resume")
def resume(
    alert_id: str = typer.Argument(...),
    chat: int = typer.Option(...),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Resume a paused alert."""
    _signal("resume", chat, alert_id, as_json)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="alert")
