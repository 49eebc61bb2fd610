"""The chain registry: code outside `chains/` asks it, and never names a chain itself.

Adding a chain: a new package beside `solana/` and `tron/` satisfying `ChainSpec`, and its
module in `_PACKAGES` below.
"""

from __future__ import annotations

from chains import solana, tron
from chains.base import ChainSpec
from core.amounts import to_base_units
from core.assets import Asset, TokenList
from core.errors import InvalidInput

_PACKAGES: tuple[ChainSpec, ...] = (solana, tron)

REGISTRY: dict[str, ChainSpec] = {spec.NAME: spec for spec in _PACKAGES}
CHAINS: tuple[str, ...] = tuple(REGISTRY)
# The chains that can trade (a swap API setting exists); the first is the default for trades.
TRADING: tuple[str, ...] = tuple(n for n, spec in REGISTRY.items() if spec.ENV.swap_url)


def get(name: str) -> ChainSpec:
    """The chain called `name`, or `InvalidInput` listing the known ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise InvalidInput(f"unknown chain {name!r}: expected one of {', '.join(CHAINS)}") from None


def parse_transfer(
    chain: str, tokens: TokenList, asset: str, to: str, amount: str
) -> tuple[Asset, str, int]:
    """Validate a transfer request: (the listed asset, canonical address, base units).

    Raises InvalidInput naming what is wrong: unknown chain or asset, a bad or other-chain
    address, an amount <= 0 or with too many decimals.
    """
    spec = get(chain)
    found = tokens.by_symbol(asset)
    if found is None:
        listed = ", ".join(tokens.symbols())
        raise InvalidInput(f"unknown asset {asset!r} on {chain}: listed are {listed}")
    return found, spec.normalize_address(to), to_base_units(amount, found.decimals)
