"""TRON destination checks: addresses a withdrawal must not pay, decided without I/O.

Refused, always: the hot wallet itself, and any listed TRC20 contract (the asset's own or
another's), whether the transfer is TRX or a token: a token contract credits tokens sent to
it to nobody, and TRX sent to it stays there.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.assets import Asset


def destination_refusal(
    to: str, asset: Asset, *, hot_wallet: str, contracts: Iterable[str] = ()
) -> str | None:
    """Why a withdrawal of `asset` must not pay `to` (one line), or None if it may.
    `to` and the addresses compared are base58check T-addresses."""
    if to == hot_wallet:
        return f"the destination {to} is the hot wallet itself"
    listed = set(contracts) | (set() if asset.native else {asset.id})
    if to in listed:
        which = "this token's own" if to == asset.id else "a token"
        return (
            f"the destination {to} is {which} contract, not a wallet: "
            f"{asset.symbol} sent there is lost"
        )
    return None
