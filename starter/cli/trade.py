"""`walletflow trade buy|sell`: swaps from the trading wallet (the chain's hot wallet), each a
durable `trade-{request_id}` under the withdrawal rules."""

from __future__ import annotations

from pathlib import Path

import typer

from starter.cli import authority, exits, moves
from starter.cli.authority import JSON_HELP
from starter.runtime.settings import load_settings

app = typer.Typer(help="Swap from the trading wallet: buy or sell a listed token.")


def _trade(
    side: str,
    token: str,
    amount: str,
    *,
    chain: str,
    request_id: str,
    slippage_bps: int,
    priority_fee: int,
    key: Path | None,
    chat: int | None,
    wait: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    from starter.client import trades, withdrawals

    settings = load_settings()
    req = trades.build_request(
        settings,
        chain=chain,
        side="buy" if side == "buy" else "sell",
        token=token,
        amount=amount,
        request_id=request_id,
        requested_by="",  # the signature says who: `signed` sets it
        slippage_bps=slippage_bps,
        priority_fee=priority_fee,
        notify_chat=chat,
    )
    signer = authority.signer_of(settings, key)
    req = withdrawals.signed(req, signer)
    moves.start_and_report(settings, req, signer, wait=wait, timeout=timeout, as_json=as_json)


def _command(side: str, amount_help: str) -> None:
    def command(
        token: str = typer.Argument(..., help="a listed token's symbol or mint, e.g. USDC"),
        amount: str = typer.Argument(..., help=amount_help),
        request_id: str = typer.Option(..., "--request-id", help="your unique id for this trade"),
        chain: str = typer.Option("solana", help="the chain (one with a swap venue)"),
        slippage_bps: int = typer.Option(50, "--slippage-bps", help="the most slippage, in bps"),
        priority_fee: int = typer.Option(
            10_000, "--priority-fee", help="the most priority fee, in lamports"
        ),
        key: Path | None = authority.key_option(),
        chat: int | None = typer.Option(None, help="Telegram chat told about the outcome"),
        wait: bool = typer.Option(False, help="wait for the final status and print it"),
        timeout: float | None = typer.Option(
            None,
            min=0,
            help=f"with --wait: give up after this many seconds (exit {exits.TIMED_OUT})",
        ),
        as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
    ) -> None:
        _trade(
            side,
            token,
            amount,
            chain=chain,
            request_id=request_id,
            slippage_bps=slippage_bps,
            priority_fee=priority_fee,
            key=key,
            chat=chat,
            wait=wait,
            timeout=timeout,
            as_json=as_json,
        )

    command.__doc__ = (
        f"{side.capitalize()} TOKEN, signed with your key. The same request id never makes a "
        "second trade. With --wait, a trade that ends other than confirmed exits 3."
    )
    app.command(side)(command)


_command("buy", "how much of the chain's coin to spend, e.g. 0.5 (SOL)")
_command("sell", "how much of the token to sell, e.g. 100")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="trade")
