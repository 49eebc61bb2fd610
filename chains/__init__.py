"""Pure chain knowledge, one module per chain behind `chains.base.ChainSpec`."""

from __future__ import annotations

from types import ModuleType

from chains.base import InvalidInput

CHAINS = ("solana", "tron")


def get(name: str) -> ModuleType:
    """The chain module for `name` (`chains.solana` or `chains.tron`)."""
    if name == "solana":
        from chains import solana

        return solana
    if name == "tron":
        from chains import tron

        return tron
    raise InvalidInput(f"unknown chain {name!r}: expected one of {', '.join(CHAINS)}")
