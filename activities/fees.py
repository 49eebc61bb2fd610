"""Network-fee estimates for the bot's /withdraw summary, from public RPC reads only.

The bot holds no key: where an estimate depends on the sender (TRC20 energy, TRON free
bandwidth) it uses the hot wallet's public address (WALLETFLOW_{CHAIN}_HOT_WALLET), and
falls back to a typical figure (said "about") when that is unset or the chain can't tell.
Each chain's estimator lives in `activities/<chain>/fees.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from core.assets import Asset, format_amount


@dataclass(frozen=True)
class FeeEstimate:
    """What the sender pays to the network, in base units of the chain's native coin."""

    native: Asset
    amount: int
    approximate: bool  # a typical figure rather than one read from the chain
    notes: tuple[str, ...] = field(default=())

    def text(self) -> str:
        return f"{'about' if self.approximate else '≈'} {format_amount(self.amount, self.native)}"


class ChainFees(Protocol):
    """One chain's estimator; its RPC clients are opened on first use and kept until `close`."""

    async def estimate(self, asset: Asset, to: str, amount: int) -> FeeEstimate:
        """The fee of sending `amount` base units of `asset` to `to` (already validated)."""
        ...

    async def close(self) -> None: ...
