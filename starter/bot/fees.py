"""The bot's fee estimates: each chain's estimator from the adapter registry, opened on first
use with the chain's node URLs and hot-wallet address, and kept until `close`."""

from __future__ import annotations

from activities.chains import adapters
from activities.fees import ChainFees, FeeEstimate
from core.assets import Asset
from starter.runtime.settings import Settings


class FeeEstimator:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._chains: dict[str, ChainFees] = {}

    async def estimate(self, chain: str, asset: Asset, to: str, amount: int) -> FeeEstimate:
        """The fee of sending `amount` base units of `asset` to `to` (already validated)."""
        if chain not in self._chains:
            urls, package = self.settings.rpc_urls(chain), adapters(chain)
            options = self.settings.chain_options(chain, package.OPTIONS)  # e.g. TRON_API_KEY
            self._chains[chain] = package.fees(urls, self.settings.hot_wallet(chain), options)
        return await self._chains[chain].estimate(asset, to, amount)

    async def close(self) -> None:
        for fees in self._chains.values():
            await fees.close()
