"""The `walletflow` command (also `python -m starter`).

Every error a person can cause prints one line, `error: ...`, on stderr and exits 1.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from core.errors import UserError
from starter.runtime.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="walletflow",
    help="Durable wallet monitoring and withdrawals on Solana and TRON, built on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@app.command()
def dev() -> None:
    """Run the whole stack locally: Temporal + Web UI, PostgreSQL, devnets, workers, bot."""
    from starter.devstack import DevStack

    code = run(DevStack(load_settings()).run())
    raise typer.Exit(code)


@app.command()
def devnet(
    only: str = typer.Option("solana,tron,telegram", help="comma-separated devnets to run"),
    fast: bool = typer.Option(False, help="short slots/blocks and finality lags"),
) -> None:
    """Run only the local Solana, TRON and Telegram devnets (state in $WALLETFLOW_HOME/devnet)."""
    from devnet.__main__ import NAMES
    from devnet.__main__ import main as devnet_main

    settings = load_settings()
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise UserError(f"unknown devnet {unknown[0]!r} in --only; expected {', '.join(NAMES)}")
    home = settings.home.resolve()
    args = [
        "--only",
        ",".join(names),
        "--home",
        str(home / "devnet"),
        "--info-file",
        str(home / "devnets.json"),
        "--solana-port",
        str(settings.solana_devnet_port),
        "--tron-port",
        str(settings.tron_devnet_port),
        "--telegram-port",
        str(settings.telegram_devnet_port),
    ]
    (home / "devnet").mkdir(parents=True, exist_ok=True)
    devnet_main([*args, "--fast"] if fast else args)


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (workers and `dev` do it too)."""
    from store.db import create_pool
    from store.db import migrate as apply

    settings = load_settings()
    if not settings.database_url:
        raise UserError("DATABASE_URL is not set")

    async def go() -> list[str]:
        pool = await create_pool(settings.database_url or "", max_size=1)
        try:
            return await apply(pool)
        finally:
            await pool.close()

    applied = run(go())
    console.print(f"applied: {', '.join(applied)}" if applied else "schema is up to date")


@app.command("settings")
def show_settings(
    markdown: bool = typer.Option(False, help="print the README table of every setting"),
) -> None:
    """Show every setting with its environment variable, current value and meaning."""
    current = load_settings()
    if markdown:
        print("| variable | default | meaning |\n| --- | --- | --- |")
    table = Table("variable", "value", "meaning")
    for name, field in Settings.model_fields.items():
        env = field.alias or name.upper()
        meaning = field.description or ""
        if markdown:
            default = (
                "unset"
                if field.default is None
                else "empty"
                if field.default == ""
                else f"`{field.default}`"
            )
            print(f"| `{env}` | {default} | {meaning} |")
        else:
            value = getattr(current, name)
            shown = "***" if value and "TOKEN" in env else str(value)
            table.add_row(env, shown, meaning)
    if not markdown:
        console.print(table)


# ---- monitors ----------------------------------------------------------------------------


async def _client(settings: Settings) -> Client:
    from starter.client import connect

    return await connect(settings)


@app.command()
def watch(
    chain: str = typer.Argument(..., help="solana or tron"),
    address: str = typer.Argument(..., help="the wallet address"),
    chat: int = typer.Option(0, help="Telegram chat to notify (0: ledger only)"),
    label: str | None = typer.Option(None, help="a name shown in notifications"),
    min_amount: str | None = typer.Option(None, help="ignore smaller transfers (asset units)"),
    asset: list[str] | None = typer.Option(None, help="only these assets (repeatable)"),
    direction: str = typer.Option("both", help="in, out or both"),
) -> None:
    """Watch a wallet: its monitor workflow starts, or gains this subscriber."""
    from starter.client import monitors

    settings = load_settings()
    chain_name, canonical = monitors.parse_target(chain, address)
    sub = monitors.parse_subscription(
        settings,
        chain_name,
        chat,
        label=label,
        min_amount=min_amount,
        assets=asset or None,
        direction=direction,
    )

    async def go() -> str:
        return await monitors.watch(await _client(settings), settings, chain_name, canonical, sub)

    workflow_id = run(go())
    console.print(f"watching {chain_name} {canonical}: workflow {workflow_id}")
    if not chat:
        console.print("no --chat: events are recorded in the ledger only")


@app.command()
def unwatch(
    chain: str = typer.Argument(..., help="solana or tron"),
    address: str = typer.Argument(...),
    chat: int | None = typer.Option(None, help="remove only this chat's subscription"),
) -> None:
    """Stop watching a wallet (or, with --chat, drop one subscriber)."""
    from starter.client import monitors

    settings = load_settings()
    chain_name, canonical = monitors.parse_target(chain, address)

    async def go() -> str:
        client = await _client(settings)
        if chat is not None:
            return await monitors.unsubscribe(client, chain_name, canonical, chat)
        return await monitors.signal_monitor(client, chain_name, canonical, "stop")

    console.print(f"unwatch sent to {run(go())}")


def _monitor_signal(signal: str, chain: str, address: str) -> None:
    from starter.client import monitors

    settings = load_settings()
    chain_name, canonical = monitors.parse_target(chain, address)

    async def go() -> str:
        return await monitors.signal_monitor(await _client(settings), chain_name, canonical, signal)

    console.print(f"{signal} sent to {run(go())}")


@app.command()
def pause(chain: str = typer.Argument(...), address: str = typer.Argument(...)) -> None:
    """Pause a monitor: nothing is sent until resume, then everything arrives once."""
    _monitor_signal("pause", chain, address)


@app.command()
def resume(chain: str = typer.Argument(...), address: str = typer.Argument(...)) -> None:
    """Resume a paused monitor."""
    _monitor_signal("resume", chain, address)


@app.command()
def status(workflow_id: str = typer.Argument(..., help="wallet-... or withdrawal-...")) -> None:
    """Show a workflow's status (its `status` query) as JSON."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> dict[str, Any]:
        return await inspect.status(await _client(settings), workflow_id)

    print(json.dumps(run(go()), indent=2))


@app.command("list")
def list_running() -> None:
    """List running monitors and withdrawals."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> list[inspect.Row]:
        return await inspect.running(await _client(settings))

    rows = run(go())
    table = Table("workflow id", "type", "chain", "address / asset", "state", "started")
    for r in rows:
        table.add_row(
            r.workflow_id, r.type, r.chain, r.subject, r.state, f"{r.started:%Y-%m-%d %H:%M:%S}"
        )
    console.print(table if rows else "nothing is running")


@app.command()
def workers() -> None:
    """Pollers (with last access time), backlog and rate limit of every task queue."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> list[inspect.QueueInfo]:
        return await inspect.workers(await _client(settings), settings)

    table = Table("task queue", "kind", "pollers", "last access", "backlog", "limit/s")
    for q in run(go()):
        names = ", ".join(p[0] for p in q.pollers) or "none"
        last = max((p[1] for p in q.pollers if p[1]), default=None)
        limit = f"{q.rate_limit:g}" if q.rate_limit else "-"
        table.add_row(
            q.queue, q.kind, names, f"{last:%H:%M:%S}" if last else "-", str(q.backlog), limit
        )
    console.print(table)


# ---- withdrawals --------------------------------------------------------------------------


def _me() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@app.command()
def withdraw(
    chain: str = typer.Argument(..., help="solana or tron"),
    asset: str = typer.Argument(..., help="SOL, TRX or a listed token symbol"),
    to: str = typer.Argument(..., help="destination address"),
    amount: str = typer.Argument(..., help="amount in asset units, e.g. 12.5"),
    request_id: str = typer.Option(..., "--request-id", help="your unique id for this withdrawal"),
    by: str = typer.Option(None, help="who asks (default cli:<user>)"),
    chat: int | None = typer.Option(None, help="Telegram chat told about the outcome"),
    wait: bool = typer.Option(False, help="wait for the final status and print it"),
) -> None:
    """Request a withdrawal. The same request id never makes a second withdrawal."""
    from starter.client import withdrawals

    settings = load_settings()
    req = withdrawals.build_request(
        settings,
        chain=chain,
        asset=asset,
        to=to,
        amount=amount,
        request_id=request_id,
        requested_by=by or _me(),
        notify_chat=chat,
    )

    async def go() -> tuple[str, bool, Any]:
        client = await _client(settings)
        workflow_id, created = await withdrawals.start(client, settings, req)
        result = None
        if wait:
            result = await withdrawals.handle(client, req.request_id).result()
        return workflow_id, created, result

    workflow_id, created, result = run(go())
    if not created:
        console.print(
            f"request id {request_id} exists already: {workflow_id} (nothing new started)"
        )
    else:
        console.print(f"withdrawal started: {workflow_id}")
    if result is not None:
        print(result.model_dump_json(indent=2))
        if result.status != "confirmed":
            raise typer.Exit(2)


def _decide(
    decision: Literal["approve", "reject", "cancel"],
    request_id: str,
    by: str | None,
    reason: str | None,
) -> None:
    from starter.client import withdrawals

    settings = load_settings()

    async def go() -> None:
        await withdrawals.decide(
            await _client(settings),
            request_id,
            decision,
            by or _me(),
            reason,
        )

    run(go())
    console.print(f"{decision} sent to withdrawal-{request_id}")


@app.command()
def approve(
    request_id: str = typer.Argument(...),
    by: str | None = typer.Option(None, help="who approves (default cli:<user>)"),
    reason: str | None = typer.Option(None),
) -> None:
    """Approve a withdrawal awaiting approval (not your own)."""
    _decide("approve", request_id, by, reason)


@app.command()
def reject(
    request_id: str = typer.Argument(...),
    by: str | None = typer.Option(None),
    reason: str | None = typer.Option(None),
) -> None:
    """Reject a withdrawal awaiting approval."""
    _decide("reject", request_id, by, reason)


@app.command()
def cancel(
    request_id: str = typer.Argument(...),
    by: str | None = typer.Option(None),
    reason: str | None = typer.Option(None),
) -> None:
    """Cancel a withdrawal that has not been broadcast yet."""
    _decide("cancel", request_id, by, reason)


def main() -> None:
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:  # typer's way out, with the command's exit code
        code = exc.code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 1
    _exit(code)


def _exit(code: int | str | None) -> None:
    """Leave without the interpreter's own teardown, once everything is flushed. The Temporal
    SDK's native threads can still call into Python while it tears down, which aborts a
    command that had already succeeded ("PyGILState_Release ... finalizing", exit -6)."""
    if isinstance(code, str):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = 1
    from starter.runtime import telemetry

    telemetry.shutdown_tracing()  # its exit hook would not run
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
