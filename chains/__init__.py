"""Pure chain knowledge, one module per chain behind `chains.base.ChainSpec`."""

from __future__ import annotations

import importlib
from types import ModuleType

from chains.base import InvalidInput

CHAINS = ("solana", "tron")


def get(name: str) -> ModuleType:
    """The chain module for `name` (`chains.solana` or `chains.tron`).

    Imported on first use (chain modules import workflows.models, which imports chains.base);
    workflow code imports both chain modules up front, through the sandbox pass-through.
    """
    if name not in CHAINS:
        raise InvalidInput(f"unknown chain {name!r}: expected one of {', '.join(CHAINS)}")
    return importlib.import_module(f"chains.{name}")
