"""The devnet's price APIs (Jupiter Price v3 and CoinGecko shapes) through walletflow's real
provider clients (activities/prices.py): batching, exact decimals, unknown ids, prices that
follow the swap venue's pools, staleness, API keys and faults."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from decimal import Decimal

import aiohttp
import httpx
import pytest
import pytest_asyncio
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Processed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from activities.prices import CoinGeckoPrices, JupiterPrices, UsdPricer, counting
from chains.solana import SOL_MINT
from chains.solana.signing import add_signature
from core.assets import Asset
from devnet.solana import SolanaDevnet, SolanaDevnetConfig
from tests.devnet.solana_support import SOL, funded, running, set_faults


@pytest_asyncio.fixture
async def devnet() -> AsyncIterator[SolanaDevnet]:
    async with running(SolanaDevnetConfig(slot_ms=0, finalized_lag=2, accounts=3)) as node:
        yield node


async def admin(devnet: SolanaDevnet, body: dict[str, object]) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{devnet.url}/_devnet/prices", json=body) as resp,
    ):
        assert resp.status == 200, await resp.text()


async def calls(devnet: SolanaDevnet, path: str) -> int:
    async with httpx.AsyncClient() as http:
        stats = (await http.get(f"{devnet.url}/_devnet/stats")).json()
    return int(stats["requests"].get(path, 0))


async def test_jupiter_prices_batch_fifty_a_call_and_omit_the_unknown(devnet: SolanaDevnet) -> None:
    info = devnet.info()
    usdc, pyusd = info["spl_mint"], info["token2022_mint"]
    unknown = [str(Keypair().pubkey()) for _ in range(118)]
    jupiter = JupiterPrices(info["price_url"], per_second=0)
    found = await jupiter.prices([SOL_MINT, usdc, pyusd, *unknown])
    assert jupiter.calls == 3  # 121 ids: ceil(121 / 50)
    assert set(found) == {SOL_MINT, usdc, pyusd}  # no price is no answer, never 0
    assert found[SOL_MINT].usd == Decimal("150")
    # USDC's price comes from its pool: 150 USDC a SOL at genesis, so a dollar (fee aside).
    assert abs(found[usdc].usd - 1) < Decimal("0.001") and isinstance(found[usdc].usd, Decimal)
    assert found[usdc].liquidity == Decimal("3000000")  # 10,000 SOL a side at $150, twice
    assert not any(p.stale for p in found.values())


async def test_a_callers_calls_are_counted_apart_from_concurrent_ones(
    devnet: SolanaDevnet,
) -> None:
    """A price-watch poll and alerts' single reads share one provider: the poll counts only
    its own batches (the bench's calls per poll)."""
    info = devnet.info()
    jupiter = JupiterPrices(info["price_url"], per_second=0)
    many = [str(Keypair().pubkey()) for _ in range(500)]

    async def poll() -> int:
        with counting() as calls:
            await jupiter.prices(many)
        return calls[0]

    async def singles() -> None:
        for _ in range(10):
            await jupiter.prices([SOL_MINT])

    counted, _ = await asyncio.gather(poll(), singles())
    assert counted == 10  # ceil(500 / 50)
    assert jupiter.calls == 20  # the instance saw both


async def test_a_swap_moves_the_pool_price(devnet: SolanaDevnet) -> None:
    info = devnet.info()
    usdc = info["spl_mint"]
    jupiter = JupiterPrices(info["price_url"], per_second=0)
    before = (await jupiter.prices([usdc]))[usdc].usd
    user = funded(devnet, 1)
    async with httpx.AsyncClient() as http:
        params = {"inputMint": SOL_MINT, "outputMint": usdc, "amount": str(500 * SOL)}
        quote = (await http.get(f"{info['swap_url']}/quote", params=params)).json()
        body = {"quoteResponse": quote, "userPublicKey": str(user.pubkey())}
        swap = (await http.post(f"{info['swap_url']}/swap", json=body)).json()
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    async with AsyncClient(devnet.url) as rpc:
        await rpc.send_transaction(
            add_signature(tx, user), opts=TxOpts(preflight_commitment=Processed)
        )
    devnet.advance(1)
    after = (await jupiter.prices([usdc]))[usdc].usd
    assert after > before * Decimal("1.05")  # SOL bought into the pool: USDC dearer in SOL


async def test_a_stale_block_id_is_reported_stale(devnet: SolanaDevnet) -> None:
    info = devnet.info()
    usdc, pyusd = info["spl_mint"], info["token2022_mint"]
    await admin(devnet, {"stale": usdc})
    devnet.advance(20)
    jupiter = JupiterPrices(info["price_url"], per_second=0, stale_slots=10)
    found = await jupiter.prices([usdc, pyusd])
    assert found[usdc].stale and found[usdc].age >= 20
    assert not found[pyusd].stale
    # Asked alone, it is still measured against a current slot (wrapped SOL's, the clock).
    alone = JupiterPrices(info["price_url"], per_second=0, stale_slots=10)
    assert list(found := await alone.prices([usdc])) == [usdc] and found[usdc].stale


async def test_coingecko_coins_and_tokens_with_their_update_time(devnet: SolanaDevnet) -> None:
    info = devnet.info()
    contract = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    await admin(devnet, {"prices": {"tron": "0.2501", f"tron:{contract}": "1.0002"}})
    gecko = CoinGeckoPrices(info["price_url"], per_second=0)
    found = await gecko.prices(["solana", "tron", "nope", f"tron:{contract}"])
    assert found["tron"].usd == Decimal("0.2501") and found["solana"].usd == Decimal("150")
    assert found[f"tron:{contract}"].usd == Decimal("1.0002")
    assert "nope" not in found and gecko.calls == 2
    assert all(p.age < 60 and not p.stale for p in found.values())
    late = CoinGeckoPrices(info["price_url"], per_second=0, clock=lambda: 4_000_000_000)
    assert all(p.stale for p in (await late.prices(["tron"])).values())


async def test_api_keys_and_faults(devnet: SolanaDevnet) -> None:
    info = devnet.info()
    await admin(devnet, {"api_key": "k-123"})
    with pytest.raises(httpx.HTTPStatusError, match="401"):
        await JupiterPrices(info["price_url"], per_second=0).prices([SOL_MINT])
    keyed = JupiterPrices(info["price_url"], api_key="k-123", per_second=0)
    assert SOL_MINT in await keyed.prices([SOL_MINT])
    gecko = CoinGeckoPrices(info["price_url"], api_key="k-123", pro=True, per_second=0)
    assert "solana" in await gecko.prices(["solana"])
    await set_faults(devnet, rate_429=1.0, only_methods=["v3"])
    with pytest.raises(httpx.HTTPStatusError, match="429"):
        await keyed.prices([SOL_MINT])
    await set_faults(devnet, rate_429=0.0, only_methods=None)
    await admin(devnet, {"api_key": None})


async def test_bad_admin_input_is_refused(devnet: SolanaDevnet) -> None:
    async with aiohttp.ClientSession() as http:
        for body in ({"prices": {"x": "-1"}}, {"prices": {"x": "abc"}}, ["not", "an object"]):
            async with http.post(f"{devnet.url}/_devnet/prices", json=body) as resp:
                assert resp.status == 400, body


async def test_a_usd_value_is_confirmed_only_by_two_fresh_agreeing_providers(
    devnet: SolanaDevnet,
) -> None:
    info = devnet.info()
    jupiter = JupiterPrices(info["price_url"], per_second=0)
    gecko = CoinGeckoPrices(info["price_url"], per_second=0)
    pricer = UsdPricer({"jupiter": jupiter, "coingecko": gecko})
    sol = Asset(symbol="SOL", decimals=9, id="SOL")
    value = await pricer.value("solana", sol, Decimal(2))
    assert value.usd == Decimal(300) and value.why is None  # both at $150
    usdc = Asset(symbol="USDC", decimals=6, id=info["spl_mint"])
    single = await pricer.value("solana", usdc, Decimal(10))
    assert single.usd is None and "only jupiter prices USDC" in (single.why or "")
    await admin(devnet, {"prices": {SOL_MINT: "153"}})  # 2.0%: within the bound
    assert (await pricer.value("solana", sol, Decimal(1))).usd == Decimal(153)  # the higher
    await admin(devnet, {"prices": {SOL_MINT: "154"}})  # 2.7%
    apart = await pricer.value("solana", sol, Decimal(1))
    assert apart.usd is None and "disagree on SOL by 2.7%" in (apart.why or "")
