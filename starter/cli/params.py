"""CHAIN and ASSET arguments with shell completion. The chain's choices come from the chain
registry; assets are completed from the configured tokens but not restricted to them (tokens
are settings), so an unknown chain or asset stays one clear `error:` line (exit 1)."""

from __future__ import annotations

from typing import Any

import click
import typer

import chains


def complete_chain(incomplete: str) -> list[str]:
    return [name for name in chains.CHAINS if name.startswith(incomplete.lower())]


def complete_asset(ctx: click.Context, incomplete: str) -> list[str]:
    from starter.runtime.settings import load_settings

    chain = str(ctx.params.get("chain") or "").strip().lower()
    names = [chain] if chain in chains.CHAINS else list(chains.CHAINS)
    try:
        settings = load_settings()
        symbols = {s for name in names for s in settings.tokens(name).symbols()}
    except Exception:  # completion must never print a traceback into the shell
        return []
    return sorted(s for s in symbols if s.upper().startswith(incomplete.upper()))


def chain_argument(help: str = "the chain") -> Any:
    return typer.Argument(
        ...,
        metavar="CHAIN",
        help=f"{help}, one of: {', '.join(chains.CHAINS)}",
        autocompletion=complete_chain,
    )


def asset_argument() -> Any:
    return typer.Argument(
        ...,
        help="the native coin or a listed token's symbol (see `walletflow settings`)",
        autocompletion=complete_asset,
    )
