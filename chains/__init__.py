"""Pure chain knowledge, one module per chain behind `chains.base.ChainSpec`."""

from __future__ import annotations

from types import ModuleType

from chains import solana, tron
from chains.base import InvalidInput

CHAINS = {"solana": solana, "tron": tron}


def get(name: str) -> ModuleType:
    """The chain module for `name` (`chains.solana` or `chains.tron`)."""
    try:
        return CHAINS[name]
    except KeyError:
        raise InvalidInput(f"unknown chain {name!r}: expected one of {', '.join(CHAINS)}") from None
