"""`walletflow deposit-address|deposits|sweep|sweeps`: per-customer deposit addresses, their
credited deposits, and sweeps of the credits to the hot wallet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from starter.cli import authority
from starter.cli.authority import JSON_HELP, with_pool
from starter.cli.output import emit_json, say, table
from starter.runtime.settings import load_settings

sweeps_app = typer.Typer(
    help="Sweeps of deposits to the hot wallet: list them, or authorize the automatic ones.",
    invoke_without_command=True,
)


def deposit_address(
    chain: str = typer.Argument(..., help="solana or tron"),
    customer: str = typer.Argument(..., help="your id of the customer (1-64 of A-Z a-z 0-9 _.:@-)"),
    chat: int | None = typer.Option(None, help="chat told about credits (default DEPOSITS_CHAT)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The customer's deposit address: the same one every time, watched and credited."""
    from starter.client import connect, deposits

    settings = load_settings()

    async def go(_: Any) -> Any:
        return await deposits.deposit_address(
            await connect(settings), settings, chain, customer, chat
        )

    found = with_pool(settings, go)
    if as_json:
        emit_json(found.model_dump(mode="json"))
        return
    say(f"{found.address}  ({found.chain} deposit address of {found.customer}, #{found.index})")


def list_deposits(
    customer: str | None = typer.Option(None, help="only this customer's"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Credited deposits, newest first, with the sweep that covers each."""
    from starter.client import deposits

    rows = with_pool(load_settings(), lambda pool: deposits.listed_deposits(pool, customer))
    if as_json:
        emit_json(rows)
        return
    table(
        ("seq", "chain", "customer", "address", "amount", "tx", "sweep"),
        [
            (
                str(r["seq"]),
                r["chain"],
                r["customer"],
                r["address"],
                f"{_display(r['amount'], r['decimals'])} {r['symbol']}",
                r["tx_id"],
                f"{r['sweep_id']} ({r['sweep_status']})" if r["sweep_id"] else "-",
            )
            for r in rows
        ],
    )


def sweep(
    chain: str = typer.Argument(..., help="solana or tron"),
    address: str = typer.Argument(..., help="a deposit address"),
    key: Path | None = authority.key_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Sweep the address's uncovered credits to the hot wallet now (an admin's statement)."""
    from starter.client import connect, deposits

    settings = load_settings()
    by = authority.signer_of(settings, key)

    async def go(pool: Any) -> list[str]:
        return await deposits.sweep_now(await connect(settings), pool, settings, chain, address, by)

    started = with_pool(settings, go)
    if as_json:
        emit_json({"sweeps": started})
        return
    say("\n".join(f"started {s}" for s in started))


@sweeps_app.callback()
def list_sweeps(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Sweeps, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from starter.client import deposits

    rows = with_pool(load_settings(), deposits.listed_sweeps)
    if as_json:
        emit_json(rows)
        return
    table(
        ("sweep", "status", "amount", "tx", "reason"),
        [
            (
                r["sweep_id"],
                r["status"],
                _display(r["amount"], r["decimals"]),
                r["tx_id"] or "-",
                r["reason"] or "",
            )
            for r in rows
        ],
    )


@sweeps_app.command("authorize")
def authorize(
    chain: str = typer.Argument(..., help="solana or tron"),
    days: float = typer.Option(30, help="how long the standing statement holds (max 90)"),
    key: Path | None = authority.key_option(),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Let the automatic sweeps (SWEEP_THRESHOLDS) run on the chain: an admin's standing
    `sweep` statement, verified by every sweep; revoking the admin ends it."""
    from starter.client import deposits

    settings = load_settings()
    by = authority.signer_of(settings, key)
    expires = with_pool(settings, lambda pool: deposits.authorize(pool, chain, by, days))
    if as_json:
        emit_json({"chain": chain, "by": by.identity, "expires_at": expires.isoformat()})
        return
    until = f"{expires:%Y-%m-%d %H:%M} UTC"
    say(f"automatic sweeps on {chain} authorized by {by.identity} until {until}")


def reconcile(
    chain: str | None = typer.Argument(None, help="solana or tron (default: every chain)"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Compare every deposit address with its chain now: what the ledger says it holds
    (credits no confirmed sweep moved) against final data. Differences are listed, not fixed;
    the deposits-{chain} Schedule does the same every RECONCILE_HOURS."""
    from starter.client import connect, deposits

    settings = load_settings()

    async def go(_: Any) -> Any:
        return await deposits.reconcile(await connect(settings), settings, chain)

    reports = with_pool(settings, go)
    if as_json:
        emit_json([r.model_dump(mode="json") for r in reports])
        return
    for r in reports:
        say(
            f"{r.chain}: {r.checked} holdings checked, {r.in_flight} with a sweep in flight, "
            f"{len(r.differences)} difference(s)"
        )
        table(
            ("address", "customer", "asset", "ledger", "chain"),
            [
                (
                    d.address,
                    d.customer,
                    d.symbol,
                    _display(str(d.expected), d.decimals),
                    _display(str(d.actual), d.decimals),
                )
                for d in r.differences
            ],
        )


def _display(amount: str, decimals: int) -> str:
    from core.amounts import from_base_units, plain

    return plain(from_base_units(int(amount), decimals))


def register(parent: typer.Typer) -> None:
    parent.command("deposit-address")(deposit_address)
    parent.command("deposits")(list_deposits)
    parent.command("sweep")(sweep)
    parent.command("reconcile")(reconcile)
    parent.add_typer(sweeps_app, name="sweeps")
