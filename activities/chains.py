"""The chain adapter registry: each chain's I/O package (`activities/<chain>/`), by chain name.

A worker asks it for a chain's reader, trigger and sender, and the bot for its fee estimator;
neither needs to know which chain it is. Adding a chain: its package, and one line below.
"""

from __future__ import annotations

from activities import solana, tron
from activities.adapter import ChainAdapterPackage
from core.errors import InvalidInput

_PACKAGES: tuple[ChainAdapterPackage, ...] = (solana, tron)
ADAPTERS: dict[str, ChainAdapterPackage] = {p.NAME: p for p in _PACKAGES}


def adapters(chain: str) -> ChainAdapterPackage:
    try:
        return ADAPTERS[chain]
    except KeyError:
        raise InvalidInput(f"no adapters for chain {chain!r}") from None
