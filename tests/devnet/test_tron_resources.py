"""The TRON devnet's resource model (Stake 2.0, energy), through tronpy as a wallet uses it:
staking, lending energy to an account that holds only tokens, and taking it back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from tronpy import AsyncTron
from tronpy.async_tron import AsyncTransaction, AsyncTransactionBuilder
from tronpy.providers.async_http import AsyncHTTPProvider

from chains.tron import resources
from devnet.tron import TronDevnet, TronDevnetConfig
from tests.devnet.test_tron_devnet import (
    TRX,
    Wallet,
    balance,
    fresh_wallet,
    included,
    send_trx,
    token_balance,
    token_transfer,
    wallet,
)

ENERGY_PER_TRX = 10


@pytest_asyncio.fixture(scope="module")
async def devnet() -> AsyncIterator[TronDevnet]:
    net = TronDevnet(
        TronDevnetConfig(auto_produce=False, solid_lag=3, accounts=4, energy_per_trx=ENERGY_PER_TRX)
    )
    await net.start()
    try:
        yield net
    finally:
        await net.stop()


@pytest_asyncio.fixture(scope="module")
async def tron(devnet: TronDevnet) -> AsyncIterator[AsyncTron]:
    async with AsyncTron(AsyncHTTPProvider(endpoint_uri=devnet.url)) as client:
        yield client


async def resource(tron: AsyncTron, address: str) -> dict[str, int]:
    reply = await tron.provider.make_request(
        "wallet/getaccountresource", {"address": address, "visible": True}
    )
    return {k: int(v) for k, v in reply.items() if isinstance(v, int)}


async def signed_call(
    tron: AsyncTron, builder: AsyncTransactionBuilder, key: Wallet
) -> AsyncTransaction:
    tx = await builder.build()
    # Our own encoding of the resource call gives the id the node gave: what the key signs.
    assert resources.txid(tx.to_json()["raw_data"]) == tx.txid
    return tx.sign(key.key)


async def token_only_account(devnet: TronDevnet, tron: AsyncTron, label: str) -> Wallet:
    """An account that received 5 tokens, then a 1-sun activation: no TRX to burn."""
    payer, holder = wallet(devnet, 1), fresh_wallet(label)
    sent = await token_transfer(tron, devnet, payer, holder.address, 5 * 10**6, 50 * TRX)
    await included(devnet, await sent.broadcast())
    await send_trx(devnet, tron, payer, holder.address, 1)
    return holder


async def send_token(
    devnet: TronDevnet, tron: AsyncTron, sender: Wallet, to: str
) -> dict[str, Any]:
    tx = await token_transfer(tron, devnet, sender, to, 10**6, 50 * TRX)
    return await included(devnet, await tx.broadcast())


async def test_without_energy_a_token_transfer_runs_out_and_moves_nothing(
    devnet: TronDevnet, tron: AsyncTron
) -> None:
    holder = await token_only_account(devnet, tron, "resource-dry")
    out = await send_token(devnet, tron, holder, wallet(devnet, 1).address)
    assert out["receipt"]["result"] == "OUT_OF_ENERGY"
    assert await token_balance(tron, devnet, holder.address) == 5 * 10**6


async def test_delegated_energy_pays_a_token_transfer_from_an_account_without_trx(
    devnet: TronDevnet, tron: AsyncTron
) -> None:
    lender, payer = wallet(devnet, 0), wallet(devnet, 1)
    holder = await token_only_account(devnet, tron, "resource-lent")
    # Stake 20,000 TRX for energy and lend half: 10,000 TRX x 10 energy a TRX.
    totals = await resource(tron, lender.address)
    limit, weight = totals["TotalEnergyLimit"], totals["TotalEnergyWeight"]
    stake = resources.delegation_for(100_000, limit, weight)
    assert stake == 10_000 * TRX
    for call in (
        tron.trx.freeze_balance(lender.address, 20_000 * TRX, "ENERGY"),
        tron.trx.delegate_resource(lender.address, holder.address, stake, "ENERGY"),
    ):
        await included(devnet, await (await signed_call(tron, call, lender)).broadcast())
    assert (await resource(tron, holder.address))["EnergyLimit"] == 100_000
    # As on java-tron, lending lowers the lender's frozenV2 (the loan is shown apart).
    lent = await tron.get_account(lender.address)
    assert lent["frozenV2"][1]["amount"] == 10_000 * TRX
    assert lent["account_resource"]["delegated_frozenV2_balance_for_energy"] == 10_000 * TRX
    before = await balance(tron, holder.address)
    done = await send_token(devnet, tron, holder, payer.address)
    assert done["receipt"]["result"] == "SUCCESS" and "energy_fee" not in done["receipt"]
    assert done["receipt"]["energy_usage"] == done["receipt"]["energy_usage_total"]
    assert await balance(tron, holder.address) == before  # free bandwidth, lent energy
    assert await token_balance(tron, devnet, holder.address) == 4 * 10**6
    # Taking the energy back: the holder has none left, the lender's stake is whole again.
    back = tron.trx.undelegate_resource(lender.address, holder.address, stake, "ENERGY")
    await included(devnet, await (await signed_call(tron, back, lender)).broadcast())
    assert "EnergyLimit" not in await resource(tron, holder.address)
    account = await tron.get_account(lender.address)
    assert account["frozenV2"][1]["amount"] == 20_000 * TRX
    lent = account.get("account_resource", {}).get("delegated_frozenV2_balance_for_energy")
    assert not lent


async def test_resource_calls_are_checked_like_java_tron(
    devnet: TronDevnet, tron: AsyncTron
) -> None:
    lender, stranger = wallet(devnet, 2), fresh_wallet("never-activated")
    refusals = []
    for builder in (
        tron.trx.freeze_balance(lender.address, TRX // 2, "ENERGY"),
        tron.trx.delegate_resource(lender.address, stranger.address, 2 * TRX, "ENERGY"),
        tron.trx.undelegate_resource(lender.address, wallet(devnet, 3).address, TRX, "ENERGY"),
    ):
        try:
            await (await signed_call(tron, builder, lender)).broadcast()
        except Exception as exc:  # tronpy raises the node's refusal
            refusals.append(str(exc))
    assert len(refusals) == 3, refusals
    assert "greater than or equal to 1 TRX" in refusals[0]
    assert "not exists" in refusals[1]
    assert "insufficient delegatedFrozenBalance" in refusals[2]
