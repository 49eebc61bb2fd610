"""What every chain package provides (`ChainSpec`), so that nothing outside `chains/` needs to
know which chain it is talking to. Pure code: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from core.assets import Asset, TokenList


@dataclass(frozen=True)
class ChainEnv:
    """The names of a chain's settings (environment variables): a stable interface."""

    rpc_url: str  # comma-separated node URLs, for failover
    tokens: str  # the listed tokens, SYMBOL:ADDRESS:DECIMALS[...]
    key: str  # the hot wallet's secret, with WALLETFLOW_KEYSTORE=env
    hot_wallet: str  # the hot wallet's public address, for the bot's fee estimates
    activities_per_second: str  # the task queue's rate limit (a provider's quota)
    devnet_port: str  # the local devnet's port under `walletflow dev`
    swap_url: str | None = None  # a Jupiter-compatible swap API; None: no trading on the chain


class ChainSpec(Protocol):
    """Pure knowledge of one chain. Each chain package satisfies it at module level."""

    NAME: str
    NATIVE: Asset
    ENV: ChainEnv
    NODE_LABEL: str
    DEVNET_URL_KEY: str
    # How far (in blocks or slots) finalized data must be past an early-seen transaction's
    # block before its absence proves it dropped: by then its expiry has passed, so it can
    # no longer land on the final chain either.
    EARLY_DROP_BLOCKS: int
    DEPOSIT_PATH: str  # the derivation path of deposit address `{index}`

    def normalize_address(self, address: str) -> str:
        """The canonical form of `address`, or `InvalidInput` saying why it is not one."""
        ...

    def tx_url(self, tx_id: str) -> str: ...

    def address_url(self, address: str) -> str: ...

    def tokens_from(self, text: str) -> TokenList:
        """The chain's token-list setting, parsed and checked."""
        ...

    def devnet_tokens(self, devnet: dict[str, Any]) -> str:
        """The token-list setting naming the tokens of this chain's section of devnet.json."""
        ...

    def swap_id(self, asset: Asset) -> str:
        """How the chain's swap APIs name an asset (Solana: SOL as the wrapped-SOL mint)."""
        ...

    def price_ids(self, asset: Asset) -> dict[str, str]:
        """The asset's id at each price provider that may know it, the one whose price fires
        alerts first (Jupiter names mints; CoinGecko coins, or `platform:contract`)."""
        ...

    def chart_url(self, asset: Asset) -> str:
        """A public price chart of the asset, for alert messages."""
        ...

    def deposit_key(self, seed: bytes, index: int) -> tuple[str, str]:
        """Deposit address `index` derived from `seed` (hierarchical, `DEPOSIT_PATH`):
        (address, its secret in the key-store form)."""
        ...

    def devnet_secret(self, account: dict[str, Any]) -> str:
        """The key-store form of a devnet.json funded account's secret."""
        ...
