"""What a chain's I/O package (`activities/<chain>/`) provides to workers and the bot."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from temporalio.client import Client

from activities.fees import ChainFees
from activities.keystore import KeyStore
from activities.monitor import ChainReader
from activities.trade import ChainTrader
from activities.withdraw import ChainSender
from core.assets import TokenList
from core.models import PushResult, PushState, WatchResult, WatchState


class Watcher(Protocol):
    """A chain's cheap trigger: the `watch_chain` activity."""

    async def watch_chain(self, state: WatchState) -> WatchResult: ...


class Pusher(Protocol):
    """A chain's early detection (subscriptions, head blocks): the `follow_chain` activity,
    which signals `seen` to the monitors of wallets with news not final yet."""

    async def follow_chain(self, state: PushState) -> PushResult: ...


@dataclass
class AdapterContext:
    """What a chain's adapters are built from."""

    urls: list[str]
    tokens: TokenList
    keys: KeyStore
    pool: asyncpg.Pool
    client: Client
    options: Mapping[str, Any]  # the chain's own settings, by setting name
    hot_wallet: str | None = None  # the address the key must be the key of, if configured


@dataclass
class Adapters:
    reader: ChainReader
    watcher: Watcher
    pusher: Pusher
    sender: ChainSender
    trader: ChainTrader | None = None  # None: the chain has no swap venue configured
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


class ChainAdapterPackage(Protocol):
    NAME: str
    OPTIONS: tuple[str, ...]  # the setting names `build` reads from `AdapterContext.options`

    def build(self, ctx: AdapterContext) -> Adapters: ...

    def fees(
        self, urls: list[str], hot_wallet: str | None, options: Mapping[str, Any] | None = None
    ) -> ChainFees:
        """The bot's fee estimator; `options` as in `AdapterContext.options` (without them,
        settings such as an API key are not used)."""
        ...
