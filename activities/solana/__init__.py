"""Solana I/O: RPC failover, the monitor's reader, the account-sweeping trigger, the sender and
the bot's fee estimates, over solana-py's AsyncClient."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.adapter import AdapterContext, Adapters
from activities.solana.adapters import SolanaReader, SolanaSender, SolanaWatcher, connect
from activities.solana.fees import SolanaFees
from activities.solana.push import SolanaPush, ws_urls
from activities.solana.trade import SolanaTrader
from chains.solana import NAME

OPTIONS: tuple[str, ...] = (
    "solana_sweep_seconds",
    "solana_ws_url",
    "solana_ws_subscriptions",
    "solana_swap_url",
    "allow_program_owned",
    "expiry_quorum",
)


def build(ctx: AdapterContext) -> Adapters:
    rpc = connect(ctx.urls)
    reader = SolanaReader(rpc, ctx.tokens)
    sender = SolanaSender(
        rpc,
        ctx.tokens,
        ctx.keys,
        allow_program_owned=ctx.options["allow_program_owned"],
        expected_hot_wallet=ctx.hot_wallet,
        expiry_quorum=ctx.options["expiry_quorum"],
    )
    swap_url = ctx.options["solana_swap_url"]
    trader = SolanaTrader(swap_url, reader, sender) if swap_url else None
    return Adapters(
        reader=reader,
        watcher=SolanaWatcher(
            rpc, ctx.pool, ctx.client, sweep_seconds=ctx.options["solana_sweep_seconds"]
        ),
        pusher=SolanaPush(
            ws_urls(ctx.urls, ctx.options["solana_ws_url"]),
            rpc,
            ctx.pool,
            ctx.client,
            per_connection=ctx.options["solana_ws_subscriptions"],
        ),
        sender=sender,
        trader=trader,
        closers=[
            *(endpoint.client.close for endpoint in rpc.endpoints),
            *([trader.close] if trader is not None else []),
        ],
    )


def fees(
    urls: list[str], hot_wallet: str | None, options: Mapping[str, Any] | None = None
) -> SolanaFees:
    return SolanaFees(urls, hot_wallet)


__all__ = ["NAME", "OPTIONS", "build", "fees"]
