"""TRON_API_KEY: the TRON adapters, built as worker_main and the bot build them, send the key as
TRON-PRO-API-KEY with every request (node API, TronGrid /v1, tronpy's own calls) to any URL,
against a devnet that refuses calls without it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio
from pydantic import SecretStr
from tronpy.keys import PrivateKey

from activities import tron as tron_package
from activities.adapter import AdapterContext, Adapters
from activities.failover import RpcUnavailable
from activities.keystore import FileKeyStore
from devnet.tron import TronDevnet, TronDevnetConfig
from starter.devstack import devnet_env, write_devnet_keys
from starter.runtime.settings import Settings
from tests.activities.test_senders import broadcast_and_confirm
from tests.support.fixtures import serve

CHAIN = "tron"
KEY = "devnet-key-8a1f"
HOT = 0  # the devnet account the adapters use as the hot wallet


@pytest_asyncio.fixture(scope="module")
async def keyed_devnet() -> AsyncIterator[TronDevnet]:
    net = TronDevnet(
        TronDevnetConfig(block_ms=100, solid_lag=2, accounts=3, require_api_key=SecretStr(KEY))
    )
    async for devnet in serve(net):
        yield devnet


def settings_for(devnet: TronDevnet, api_key: str | None) -> Settings:
    tokens = devnet_env({CHAIN: devnet.info()}, Settings(TRON_TOKENS=""))
    env: dict[str, Any] = {"TRON_TOKENS": tokens["TRON_TOKENS"]}
    if api_key is not None:
        env["TRON_API_KEY"] = api_key
    return Settings(**env)


def build(devnet: TronDevnet, settings: Settings, home: Path, urls: list[str]) -> Adapters:
    """The chain's adapters as worker_main's plan_chain builds them (no pool or Temporal
    client: the reader and the sender never use them)."""
    return tron_package.build(
        AdapterContext(
            urls=urls,
            tokens=settings.tokens(CHAIN),
            keys=FileKeyStore(write_devnet_keys(home, {CHAIN: devnet.info()}, index=HOT)),
            pool=cast(Any, None),
            client=cast(Any, None),
            options=settings.chain_options(CHAIN, tron_package.OPTIONS),
        )
    )


async def close(adapters: Adapters) -> None:
    for closer in adapters.closers:
        await closer()


async def test_reader_and_sender_work_with_the_key(
    keyed_devnet: TronDevnet, tmp_path: Path
) -> None:
    settings = settings_for(keyed_devnet, KEY)
    adapters = build(keyed_devnet, settings, tmp_path, [keyed_devnet.url])
    try:
        tokens = settings.tokens(CHAIN)
        usdt = tokens.by_id(keyed_devnet.info()["trc20_contract"])
        assert usdt is not None
        to = PrivateKey.random().public_key.to_base58check_address()
        cursor, _ = await adapters.reader.initial_cursor(to, None)  # node API
        sender = adapters.sender
        await sender.check_funds(tokens.native, to, 5_000_000)
        signed = [
            await sender.sign(tokens.native, to, 5_000_000),
            await sender.sign(usdt, to, 1_234),  # tronpy's get_contract and builder calls
        ]
        await broadcast_and_confirm(sender, signed)
        read = await adapters.reader.read(to, cursor, limit=10)  # TronGrid /v1 and receipts
        assert sorted(e.amount for e in read.events) == [1_234, 5_000_000]
    finally:
        await close(adapters)


async def test_without_the_key_every_call_is_refused(
    keyed_devnet: TronDevnet, tmp_path: Path
) -> None:
    adapters = build(keyed_devnet, settings_for(keyed_devnet, None), tmp_path, [keyed_devnet.url])
    adapters.reader.rpc.rounds = 1  # type: ignore[attr-defined]
    try:
        with pytest.raises(RpcUnavailable) as refused:
            await adapters.reader.initial_cursor("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", None)
        assert "HTTP 401" in str(refused.value)
    finally:
        await close(adapters)


async def test_a_wrong_key_is_refused_and_never_printed(
    keyed_devnet: TronDevnet, tmp_path: Path
) -> None:
    wrong = "wrong-key-CANARY123"
    adapters = build(keyed_devnet, settings_for(keyed_devnet, wrong), tmp_path, [keyed_devnet.url])
    adapters.reader.rpc.rounds = 1  # type: ignore[attr-defined]
    try:
        with pytest.raises(RpcUnavailable) as refused:
            await adapters.reader.initial_cursor("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", None)
        assert "HTTP 401" in str(refused.value) and "CANARY123" not in str(refused.value)
    finally:
        await close(adapters)


async def test_the_key_replaces_tronpys_own_on_trongrid_urls(
    keyed_devnet: TronDevnet, tmp_path: Path
) -> None:
    """tronpy adds one of its bundled keys to any URL containing "trongrid"; ours must win.
    (The user part only puts "trongrid" into the URL; the devnet ignores it.)"""
    url = keyed_devnet.url.replace("http://", "http://trongrid@")
    adapters = build(keyed_devnet, settings_for(keyed_devnet, KEY), tmp_path, [url])
    try:
        cursor, _ = await adapters.reader.initial_cursor("TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf", None)
        assert cursor["ts"] > 0
    finally:
        await close(adapters)


async def test_the_bots_fee_estimate_sends_the_key(keyed_devnet: TronDevnet) -> None:
    settings = settings_for(keyed_devnet, KEY)
    hot = keyed_devnet.info()["accounts"][HOT]["address"]
    to = PrivateKey.random().public_key.to_base58check_address()
    native = settings.tokens(CHAIN).native
    fees = tron_package.fees(
        [keyed_devnet.url], hot, settings.chain_options(CHAIN, tron_package.OPTIONS)
    )
    try:
        estimate = await fees.estimate(native, to, 1_000_000)
        assert estimate.amount > 0  # a new account: the activation fee at least
    finally:
        await fees.close()
