"""The `walletflow` command (also `python -m starter`).

Every error prints one line, `error: ...`, on stderr, and exits with a code of
starter/cli/exits.py. `--json` commands print one JSON document on stdout and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Coroutine
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.table import Table
from temporalio.client import Client

import chains
from core.errors import UserError
from starter.cli import (
    alerts,
    authority,
    codec,
    deposits,
    exits,
    moves,
    policy,
    setup,
    trade,
    webhooks,
)
from starter.cli.output import emit_json, err, table
from starter.cli.output import out as console
from starter.cli.params import asset_argument, chain_argument
from starter.client.errors import Refused, TimedOut
from starter.runtime.settings import Settings, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="walletflow",
    help="Durable wallet monitoring and withdrawals, built on Temporal.",
    epilog=exits.EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
WHEN = "%Y-%m-%d %H:%M:%S"
JSON_HELP = "print one JSON document on stdout (prose goes to stderr)"
setup.register(app)
codec.register(app)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _version(value: bool) -> None:
    if value:
        try:
            print(f"walletflow {version('walletflow')}")
        except PackageNotFoundError:  # run from a checkout that was never installed
            print("walletflow (not installed)")
        raise typer.Exit(exits.OK)


@app.callback()
def _root(
    _: bool = typer.Option(
        False, "--version", help="print the version and exit", callback=_version, is_eager=True
    ),
) -> None:
    """Durable wallet monitoring and withdrawals, built on Temporal."""


@app.command()
def dev(
    encrypt: bool = typer.Option(
        False,
        help="encrypt every payload (a dev key in $WALLETFLOW_HOME/keys) and run the codec "
        "server the Web UI decodes through",
    ),
) -> None:
    """Run the whole stack locally: Temporal + Web UI, PostgreSQL, devnets, workers, bot."""
    from starter.devstack import DevStack

    def progress(component: str, state: str) -> None:
        err.print(f"[dim]walletflow dev:[/] {component} {state}")

    code = run(DevStack(load_settings(), progress=progress, encrypt=encrypt).run())
    raise typer.Exit(code)


DEVNETS = ",".join((*chains.CHAINS, "telegram"))


@app.command()
def devnet(
    only: str = typer.Option(DEVNETS, help="comma-separated devnets to run"),
    fast: bool = typer.Option(False, help="short slots/blocks and finality lags"),
) -> None:
    """Run only the local devnets (chains and Telegram; state in $WALLETFLOW_HOME/devnet)."""
    from starter.devstack import run_devnets

    run_devnets(load_settings(), only, fast)


@app.command()
def migrate() -> None:
    """Apply the database migrations to DATABASE_URL (workers and `dev` do it too)."""
    from store.db import create_pool
    from store.db import migrate as apply

    dsn = load_settings().require_dsn()

    async def go() -> list[str]:
        pool = await create_pool(dsn, max_size=1)
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
            table.add_row(env, current.shown(name), meaning)
    if not markdown:
        console.print(table)


# ---- monitors ----------------------------------------------------------------------------


async def _client(settings: Settings) -> Client:
    from starter.client import connect

    return await connect(settings)


@app.command()
def watch(
    chain: str = chain_argument(),
    address: str = typer.Argument(..., help="the wallet address"),
    chat: int = typer.Option(0, help="Telegram chat to notify (0: ledger only)"),
    label: str | None = typer.Option(None, help="a name shown in notifications"),
    min_amount: str | None = typer.Option(None, help="ignore smaller transfers (asset units)"),
    min_usd: str | None = typer.Option(
        None, "--min-usd", help="ignore transfers worth less (USD; unpriced ones still show)"
    ),
    asset: list[str] | None = typer.Option(None, help="only these assets (repeatable)"),
    direction: str = typer.Option("both", help="in, out or both"),
    final_only: bool = typer.Option(
        False, "--final-only", help="one message at finality, no early pending message"
    ),
) -> None:
    """Watch a wallet: its monitor workflow starts, or gains this subscriber.

    A transfer is announced as pending as soon as it is seen (Solana confirmed, TRON head
    block) and that message is edited to final, or to dropped; --final-only: one message."""
    from starter.client import monitors

    settings = load_settings()
    chain_name, canonical = monitors.parse_target(chain, address)
    sub = monitors.parse_subscription(
        settings,
        chain_name,
        chat,
        label=label,
        min_amount=min_amount,
        min_usd=min_usd,
        assets=asset or None,
        direction=direction,
        final_only=final_only,
    )

    async def go() -> str:
        return await monitors.watch(await _client(settings), settings, chain_name, canonical, sub)

    workflow_id = run(go())
    console.print(f"watching {chain_name} {canonical}: workflow {workflow_id}")
    if not chat:
        console.print("no --chat: events are recorded in the ledger only")


@app.command()
def unwatch(
    chain: str = chain_argument(),
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
def pause(chain: str = chain_argument(), address: str = typer.Argument(...)) -> None:
    """Pause a monitor: nothing is sent until resume, then everything arrives once."""
    _monitor_signal("pause", chain, address)


@app.command()
def resume(chain: str = chain_argument(), address: str = typer.Argument(...)) -> None:
    """Resume a paused monitor."""
    _monitor_signal("resume", chain, address)


@app.command()
def status(
    workflow_id: str = typer.Argument(..., help="wallet-... or withdrawal-..."),
    as_json: bool = typer.Option(False, "--json", help="the same JSON document (the default)"),
) -> None:
    """Show a workflow's status (its `status` query) as JSON."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> dict[str, Any]:
        return await inspect.status(await _client(settings), workflow_id)

    emit_json(run(go()))


@app.command("list")
def list_running(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List running monitors and withdrawals (piped: tab-separated, values in full)."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> list[inspect.Row]:
        return await inspect.running(await _client(settings))

    rows = run(go())
    if as_json:
        emit_json([r.as_dict() for r in rows])
    elif not rows:
        console.print("nothing is running")
    else:
        table(
            ("workflow id", "type", "chain", "address / asset", "state", "started"),
            [
                (r.workflow_id, r.type, r.chain, r.subject, r.state, f"{r.started:{WHEN}}")
                for r in rows
            ],
        )


@app.command()
def workers(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Pollers (with last access time), backlog and rate limit of every task queue."""
    from starter.client import inspect

    settings = load_settings()

    async def go() -> tuple[list[inspect.QueueInfo], list[inspect.PushInfo]]:
        client = await _client(settings)
        return await inspect.workers(client, settings), await inspect.push_health(client, settings)

    queues, pushes = run(go())
    if as_json:
        emit_json([q.as_dict() for q in queues] + [p.as_dict() for p in pushes])
        return
    rows = []
    for q in queues:
        names = ", ".join(p[0] for p in q.pollers) or "none"
        last = max((p[1] for p in q.pollers if p[1]), default=None)
        limit = f"{q.rate_limit:g}" if q.rate_limit else "-"
        rows.append(
            (q.queue, q.kind, names, f"{last:%H:%M:%S}" if last else "-", str(q.backlog), limit)
        )
    table(("task queue", "kind", "pollers", "last access", "backlog", "limit/s"), rows)
    shards = [
        (
            p.queue,
            str(s.shard),
            "up" if s.connected else "down",
            str(s.wallets),
            str(s.subscriptions),
            str(s.connects),
            f"{s.last_event:%H:%M:%S}" if s.last_event else "-",
            s.last_error or "-",
        )
        for p in pushes
        for s in p.shards
    ]
    idle = [
        (p.queue, "-", "running" if p.running else "not running", *"-----")
        for p in pushes
        if not p.shards
    ]
    table(
        ("push", "shard", "state", "wallets", "subs", "connects", "last event", "last error"),
        shards + idle,
    )


# ---- withdrawals --------------------------------------------------------------------------


@app.command()
def withdraw(
    chain: str = chain_argument(),
    asset: str = asset_argument(),
    to: str = typer.Argument(..., help="destination address"),
    amount: str = typer.Argument(..., help="amount in asset units, e.g. 12.5"),
    request_id: str = typer.Option(..., "--request-id", help="your unique id for this withdrawal"),
    key: Path | None = authority.key_option(),
    chat: int | None = typer.Option(None, help="Telegram chat told about the outcome"),
    wait: bool = typer.Option(False, help="wait for the final status and print it"),
    timeout: float | None = typer.Option(
        None, min=0, help=f"with --wait: give up after this many seconds (exit {exits.TIMED_OUT})"
    ),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    by: str | None = authority.by_option(),
) -> None:
    """Request a withdrawal, signed with your key. The same request id never makes a second
    withdrawal.

    With --wait, state changes show on stderr as they happen; a withdrawal that ends other
    than confirmed exits 3 (refused), a --timeout that passes exits 4."""
    from starter.client import withdrawals

    authority.no_by(by)
    settings = load_settings()
    req = withdrawals.build_request(
        settings,
        chain=chain,
        asset=asset,
        to=to,
        amount=amount,
        request_id=request_id,
        requested_by="",  # the signature says who: `signed` sets it
        notify_chat=chat,
    )
    signer = authority.signer_of(settings, key)
    req = withdrawals.signed(req, signer)
    moves.start_and_report(settings, req, signer, wait=wait, timeout=timeout, as_json=as_json)


authority.register(app)  # approve|reject|cancel|resolve, intent, keys, principals, audit
policy.register(app)  # freeze|unfreeze, allowlist add|rm|list, policy show
trade.register(app)  # trade buy|sell, copy, copies, uncopy
alerts.register(app)  # alert add|list|rm|pause|resume
webhooks.register(app)  # webhooks add|list|rm|rotate-secret|test|failed|replay
deposits.register(app)  # deposit-address, deposits, sweep, sweeps [authorize]


def main() -> None:
    code: int | str | None = exits.OK
    try:
        app()  # click's usage errors exit 2 (exits.USAGE) from in here
    except SystemExit as exc:  # typer's way out, with the command's exit code
        code = exc.code
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = (
            exits.REFUSED
            if isinstance(exc, Refused)
            else exits.TIMED_OUT
            if isinstance(exc, TimedOut)
            else exits.ERROR
        )
    _exit(code)


def _exit(code: int | str | None) -> None:
    """Leave without the interpreter's own teardown, once everything is flushed. The Temporal
    SDK's native threads can still call into Python while it tears down, which aborts a
    command that had already succeeded ("PyGILState_Release ... finalizing", exit -6)."""
    if isinstance(code, str):  # sys.exit("message")
        print(code, file=sys.stderr)
        code = exits.ERROR
    from starter.runtime import telemetry

    telemetry.shutdown_tracing()  # its exit hook would not run
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
