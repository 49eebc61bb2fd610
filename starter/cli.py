"""The `walletflow` command (also `python -m starter`).

Every error a person can cause prints one line, `error: ...`, on stderr and exits 1.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from starter.errors import UserError
from starter.settings import Settings, load_settings

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
            default = "unset" if field.default is None else f"`{field.default}`"
            print(f"| `{env}` | {default} | {meaning} |")
        else:
            value = getattr(current, name)
            shown = "***" if value and "TOKEN" in env else str(value)
            table.add_row(env, shown, meaning)
    if not markdown:
        console.print(table)


def main() -> None:
    try:
        app()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
