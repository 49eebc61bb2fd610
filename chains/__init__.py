"""Pure chain knowledge, one module per chain behind `chains.base.ChainSpec`."""

from __future__ import annotations

import importlib
from types import ModuleType

from chains.base import Asset, InvalidInput, TokenList, to_base_units

CHAINS = ("solana", "tron")


def get(name: str) -> ModuleType:
    """The chain module for `name` (`chains.solana` or `chains.tron`).

    Imported on first use (chain modules import workflows.models, which imports chains.base);
    workflow code imports both chain modules up front, through the sandbox pass-through.
    """
    if name not in CHAINS:
        raise InvalidInput(f"unknown chain {name!r}: expected one of {', '.join(CHAINS)}")
    return importlib.import_module(f"chains.{name}")


def parse_transfer(
    chain: str, tokens: TokenList, asset: str, to: str, amount: str
) -> tuple[Asset, str, int]:
    """Validate a transfer request: (the listed asset, canonical address, base units).

    Raises InvalidInput naming what is wrong: unknown chain or asset, a bad or other-chain
    address, an amount <= 0 or with too many decimals.
    """
    module = get(chain)
    found = tokens.by_symbol(asset)
    if found is None:
        listed = ", ".join(tokens.symbols())
        raise InvalidInput(f"unknown asset {asset!r} on {chain}: listed are {listed}")
    return found, module.normalize_address(to), to_base_units(amount, found.decimals)
