"""The devnet swap venue: Jupiter's quote/swap API over constant-product pools whose reserves
are real accounts, settled by partially signed versioned transactions that solana-py sends."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed, Processed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from spl.token.instructions import get_associated_token_address

from chains.solana.signing import add_signature
from devnet.solana import SolanaDevnet, SolanaDevnetConfig
from devnet.solana.venue import SOL_MINT, constant_product
from tests.devnet.solana_support import SOL, funded, running, set_faults

QUOTE_FIELDS = {
    "inputMint",
    "inAmount",
    "outputMint",
    "outAmount",
    "otherAmountThreshold",
    "swapMode",
    "slippageBps",
    "platformFee",
    "priceImpactPct",
    "routePlan",
    "contextSlot",
    "timeTaken",
}


@pytest_asyncio.fixture
async def devnet() -> AsyncIterator[SolanaDevnet]:
    async with running(SolanaDevnetConfig(slot_ms=0, finalized_lag=2, accounts=4)) as node:
        yield node


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest_asyncio.fixture
async def rpc(devnet: SolanaDevnet) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(devnet.url) as client:
        yield client


async def get_quote(
    http: aiohttp.ClientSession, devnet: SolanaDevnet, **params: Any
) -> tuple[int, dict[str, Any]]:
    url = devnet.info()["swap_url"] + "/quote"
    async with http.get(url, params={k: str(v) for k, v in params.items()}) as resp:
        return resp.status, await resp.json()


async def get_swap(
    http: aiohttp.ClientSession, devnet: SolanaDevnet, quote: dict[str, Any], user: Pubkey
) -> tuple[int, dict[str, Any]]:
    body = {"quoteResponse": quote, "userPublicKey": str(user), "prioritizationFeeLamports": 5000}
    async with http.post(devnet.info()["swap_url"] + "/swap", json=body) as resp:
        return resp.status, await resp.json()


def usdc(devnet: SolanaDevnet) -> str:
    return str(devnet.info()["spl_mint"])


def token_balance(devnet: SolanaDevnet, owner: Pubkey, mint: str) -> int:
    program = devnet.chain.account(Pubkey.from_string(mint))
    assert program is not None
    ata = get_associated_token_address(owner, Pubkey.from_string(mint), program.owner)
    account = devnet.chain.account(ata)
    if account is None:
        return 0
    return int.from_bytes(bytes(account.data)[64:72], "little")


async def settle(
    rpc: AsyncClient, devnet: SolanaDevnet, swap: dict[str, Any], user: Keypair
) -> str:
    """Sign the venue's transaction at the user's index and send it with solana-py."""
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    sent = await rpc.send_transaction(
        add_signature(tx, user), opts=TxOpts(preflight_commitment=Processed)
    )
    devnet.advance(1)
    status = (await rpc.get_signature_statuses([sent.value])).value[0]
    assert status is not None and status.err is None, status
    return str(sent.value)


async def test_a_quote_has_jupiters_shape_and_the_pool_math(
    devnet: SolanaDevnet, http: aiohttp.ClientSession
) -> None:
    status, quote = await get_quote(
        http, devnet, inputMint=SOL_MINT, outputMint=usdc(devnet), amount=SOL, slippageBps=50
    )
    assert status == 200, quote
    assert set(quote) == QUOTE_FIELDS
    for field in ("inAmount", "outAmount", "otherAmountThreshold", "priceImpactPct"):
        assert isinstance(quote[field], str), field
    pool = next(p for p in devnet.venue.describe() if p["mintA"] == usdc(devnet))
    out, fee = constant_product(int(pool["reserveB"]), int(pool["reserveA"]), SOL, pool["feeBps"])
    assert int(quote["outAmount"]) == out and 149 * 10**6 < out < 150 * 10**6
    assert int(quote["otherAmountThreshold"]) == out * 9950 // 10_000
    hop = quote["routePlan"][0]["swapInfo"]
    assert hop["ammKey"] == pool["ammKey"] and hop["feeAmount"] == str(fee)
    assert quote["swapMode"] == "ExactIn" and quote["contextSlot"] == devnet.chain.slot


async def test_sol_to_token_and_back_settle_atomically_on_chain(
    devnet: SolanaDevnet, http: aiohttp.ClientSession, rpc: AsyncClient
) -> None:
    user = Keypair()  # a fresh wallet: no token account yet, the swap opens it
    await rpc.request_airdrop(user.pubkey(), 5 * SOL)
    devnet.advance(1)
    mint = usdc(devnet)
    _, quote = await get_quote(http, devnet, inputMint=SOL_MINT, outputMint=mint, amount=2 * SOL)
    status, swap = await get_swap(http, devnet, quote, user.pubkey())
    assert status == 200, swap
    assert swap["lastValidBlockHeight"] > devnet.chain.height
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    assert str(tx.signatures[0]) == "1" * 64  # the user's slot is left empty for them
    await settle(rpc, devnet, swap, user)
    bought = token_balance(devnet, user.pubkey(), mint)
    assert bought == int(quote["outAmount"])

    _, back = await get_quote(http, devnet, inputMint=mint, outputMint=SOL_MINT, amount=bought)
    lamports_before = (await rpc.get_balance(user.pubkey(), Processed)).value
    status, swap = await get_swap(http, devnet, back, user.pubkey())
    assert status == 200, swap
    sent = await settle(rpc, devnet, swap, user)
    assert token_balance(devnet, user.pubkey(), mint) == 0
    lamports_after = (await rpc.get_balance(user.pubkey(), Processed)).value
    fee = (await rpc.get_transaction(Signature.from_string(sent), "json", Confirmed, 0)).value
    assert fee is not None and fee.transaction.meta is not None
    # Two signatures (the user pays for the pool's too) and at most the priority ceiling.
    assert 10_000 < fee.transaction.meta.fee <= 10_000 + 5000
    assert lamports_after - lamports_before == int(back["outAmount"]) - fee.transaction.meta.fee


async def test_rebuilding_with_only_the_users_signature_does_not_work(
    devnet: SolanaDevnet, http: aiohttp.ClientSession
) -> None:
    user = funded(devnet, 1)
    _, quote = await get_quote(
        http, devnet, inputMint=SOL_MINT, outputMint=usdc(devnet), amount=SOL
    )
    _, swap = await get_swap(http, devnet, quote, user.pubkey())
    tx = VersionedTransaction.from_bytes(base64.b64decode(swap["swapTransaction"]))
    with pytest.raises(Exception, match=r"not enough signers|NotEnoughSigners"):
        VersionedTransaction(tx.message, [user])
    signed = add_signature(tx, user)
    assert all(signed.verify_with_results())
    with pytest.raises(Exception, match="not a signer"):
        add_signature(tx, Keypair())


async def test_two_swaps_racing_past_the_slippage_bound_the_second_is_refused(
    devnet: SolanaDevnet, http: aiohttp.ClientSession, rpc: AsyncClient
) -> None:
    first, second = funded(devnet, 1), funded(devnet, 2)
    mint = usdc(devnet)
    # Both quoted on the same reserves; 100 SOL moves a 10,000 SOL pool by ~2%, past 1%.
    quotes = [
        (
            await get_quote(
                http, devnet, inputMint=SOL_MINT, outputMint=mint, amount=100 * SOL, slippageBps=100
            )
        )[1]
        for _ in range(2)
    ]
    assert quotes[0]["outAmount"] == quotes[1]["outAmount"]
    (s1, swap1), (s2, refused) = await asyncio.gather(
        get_swap(http, devnet, quotes[0], first.pubkey()),
        get_swap(http, devnet, quotes[1], second.pubkey()),
    )
    assert s1 == 200, swap1
    assert s2 == 400 and refused["errorCode"] == "SLIPPAGE_TOLERANCE_EXCEEDED", refused
    # The outstanding swap counts until it lands; then the pool's own reserves say the same.
    await settle(rpc, devnet, swap1, first)
    assert not devnet.venue.pending()
    s2, refused = await get_swap(http, devnet, quotes[1], second.pubkey())
    assert s2 == 400 and refused["errorCode"] == "SLIPPAGE_TOLERANCE_EXCEEDED"
    # A small swap within its bound still goes through.
    _, small = await get_quote(http, devnet, inputMint=SOL_MINT, outputMint=mint, amount=SOL)
    assert (await get_swap(http, devnet, small, second.pubkey()))[0] == 200


async def test_an_unsent_swap_stops_counting_when_its_blockhash_expires(
    devnet: SolanaDevnet, http: aiohttp.ClientSession
) -> None:
    user = funded(devnet, 1)
    mint = usdc(devnet)
    params = {"inputMint": SOL_MINT, "outputMint": mint, "amount": 100 * SOL, "slippageBps": 100}
    quotes = [(await get_quote(http, devnet, **params))[1] for _ in range(2)]
    status, swap = await get_swap(http, devnet, quotes[0], user.pubkey())
    assert status == 200
    assert (await get_swap(http, devnet, quotes[1], user.pubkey()))[0] == 400
    while devnet.chain.height <= swap["lastValidBlockHeight"]:
        devnet.advance(1)
    status, again = await get_swap(http, devnet, quotes[1], user.pubkey())
    assert status == 200, again


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"outputMint": "usdc", "amount": SOL}, "COULD_NOT_FIND_ANY_ROUTE"),
        ({"outputMint": str(Keypair().pubkey()), "amount": SOL}, "COULD_NOT_FIND_ANY_ROUTE"),
        ({"outputMint": "usdc", "amount": 0}, "INVALID_REQUEST"),
        ({"outputMint": "usdc", "amount": "1.5"}, "INVALID_REQUEST"),
        ({"outputMint": "usdc", "amount": SOL, "slippageBps": 10_001}, "INVALID_SLIPPAGE"),
        ({"outputMint": "usdc", "amount": SOL, "swapMode": "ExactOut"}, "NOT_SUPPORTED"),
        ({"outputMint": SOL_MINT, "amount": SOL}, "CIRCULAR_ARBITRAGE_IS_DISABLED"),
    ],
)
async def test_bad_quotes_get_one_clear_error(
    devnet: SolanaDevnet, http: aiohttp.ClientSession, params: dict[str, Any], code: str
) -> None:
    if params["outputMint"] == "usdc":
        params = params | {"outputMint": usdc(devnet)}
    if code == "COULD_NOT_FIND_ANY_ROUTE" and params["outputMint"] == usdc(devnet):
        params = params | {
            "inputMint": str(devnet.info()["token2022_mint"]),
            "outputMint": str(Keypair().pubkey()),
        }
    status, body = await get_quote(http, devnet, **({"inputMint": SOL_MINT} | params))
    assert status == 400 and body["errorCode"] == code, body
    assert "\n" not in body["error"]


async def test_pools_are_created_seeded_and_survive_a_restart(tmp_path: Path) -> None:
    config = SolanaDevnetConfig(slot_ms=0, accounts=2, state_path=tmp_path / "state.json")
    async with running(config) as devnet, aiohttp.ClientSession() as http:
        before = {p["ammKey"]: p for p in devnet.venue.describe()}
        assert len(before) == 3
        pyusd = str(devnet.info()["token2022_mint"])
        body = {"mintA": pyusd, "mintB": SOL_MINT, "reserveA": "1000", "reserveB": "7"}
        async with http.post(f"{devnet.url}/_devnet/pools", json=body) as resp:
            seeded = await resp.json()
        old = next(p for p in before.values() if p["mintA"] == pyusd and p["mintB"] == SOL_MINT)
        assert seeded["ammKey"] == old["ammKey"]
        assert int(seeded["reserveA"]) == int(old["reserveA"]) + 1000
        assert int(seeded["reserveB"]) == int(old["reserveB"]) + 7
        async with http.post(f"{devnet.url}/_devnet/pools", json={"mintA": "nope"}) as resp:
            assert resp.status == 400
        pools = devnet.info()["pools"]
    async with running(config) as devnet:
        assert devnet.info()["pools"] == pools


async def test_faults_reach_the_swap_api(devnet: SolanaDevnet, http: aiohttp.ClientSession) -> None:
    await set_faults(devnet, error_rate=1.0, only_methods=["quote"])
    status, _ = await get_quote(http, devnet, inputMint=SOL_MINT, outputMint=usdc(devnet), amount=1)
    assert status == 503
    await set_faults(devnet, error_rate=0.0, only_methods=None)
    status, _ = await get_quote(
        http, devnet, inputMint=SOL_MINT, outputMint=usdc(devnet), amount=SOL
    )
    assert status == 200
