"""TRON I/O: HTTP failover, the monitor's reader, the block-scanning trigger, the sender and the
bot's fee estimates, over tronpy's HTTP provider and the TronGrid `/v1` endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from activities.adapter import AdapterContext, Adapters
from activities.tron.adapters import TronReader, TronSender, TronWatcher, connect
from activities.tron.fees import TronFees
from chains.tron import NAME

OPTIONS: tuple[str, ...] = (
    "tron_block_seconds",
    "tron_max_fee_limit",
    "tron_expiration_seconds",
    "expiry_quorum",
    "tron_api_key",  # SecretStr | None: sent as TRON-PRO-API-KEY with every request
)


def build(ctx: AdapterContext) -> Adapters:
    rpc = connect(ctx.urls, api_key=ctx.options["tron_api_key"])
    block_seconds = ctx.options["tron_block_seconds"]
    return Adapters(
        reader=TronReader(rpc, ctx.tokens),
        watcher=TronWatcher(rpc, ctx.pool, ctx.client, block_seconds=block_seconds),
        pusher=TronWatcher(rpc, ctx.pool, ctx.client, block_seconds=block_seconds, head=True),
        sender=TronSender(
            rpc,
            ctx.tokens,
            ctx.keys,
            poll_seconds=min(3.0, block_seconds),
            max_fee_limit=ctx.options["tron_max_fee_limit"],
            expiration_ms=ctx.options["tron_expiration_seconds"] * 1000,
            expected_hot_wallet=ctx.hot_wallet,
            expiry_quorum=ctx.options["expiry_quorum"],
        ),
        closers=[endpoint.client.close for endpoint in rpc.endpoints],
    )


def fees(
    urls: list[str], hot_wallet: str | None, options: Mapping[str, Any] | None = None
) -> TronFees:
    return TronFees(urls, hot_wallet, api_key=(options or {}).get("tron_api_key"))


__all__ = ["NAME", "OPTIONS", "build", "fees"]
