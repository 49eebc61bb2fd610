"""Fee estimates for /withdraw, read from the devnets (no Temporal, no key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from solders.keypair import Keypair

from chains.tron.fees import TYPICAL_ENERGY_NEW_HOLDER
from starter.bot.fees import FeeEstimator
from starter.devstack import devnet_env
from starter.runtime.settings import Settings
from tests.support.withdrawals import fresh_tron_address

HOT = 19


def devnet_settings(solana: Any, tron: Any, **overrides: Any) -> Settings:
    info = {"solana": solana.info(), "tron": tron.info()}
    tokens = devnet_env(info, Settings(SOLANA_TOKENS="", TRON_TOKENS=""))
    values: dict[str, Any] = {
        "SOLANA_RPC_URL": solana.url,
        "TRON_API_URL": tron.url,
        **tokens,
        **overrides,
    }
    return Settings(**values)


@pytest_asyncio.fixture
async def fees(solana_devnet: Any, tron_devnet: Any) -> AsyncIterator[FeeEstimator]:
    hot = {
        "WALLETFLOW_TRON_HOT_WALLET": tron_devnet.info()["accounts"][HOT]["address"],
        "WALLETFLOW_SOLANA_HOT_WALLET": solana_devnet.info()["accounts"][HOT]["address"],
    }
    estimator = FeeEstimator(devnet_settings(solana_devnet, tron_devnet, **hot))
    yield estimator
    await estimator.close()


def asset(settings: Settings, chain: str, symbol: str) -> Any:
    found = settings.tokens(chain).by_symbol(symbol)
    assert found is not None
    return found


async def test_solana_fee_is_the_signature_plus_rent_for_a_new_token_account(
    fees: FeeEstimator, solana_devnet: Any
) -> None:
    s = fees.settings
    fresh = str(Keypair().pubkey())
    holder = solana_devnet.info()["accounts"][3]["address"]  # funded with every devnet mint
    sol = await fees.estimate("solana", asset(s, "solana", "SOL"), fresh, 10**9)
    assert (sol.amount, sol.approximate, sol.text()) == (5_000, False, "≈ 0.000005 SOL")
    new = await fees.estimate("solana", asset(s, "solana", "USDC"), fresh, 10**6)
    assert new.amount == 5_000 + 2_039_280
    assert new.notes == ("includes 0.00203928 SOL rent for the recipient's new USDC account",)
    existing = await fees.estimate("solana", asset(s, "solana", "USDC"), holder, 10**6)
    assert (existing.amount, existing.notes) == (5_000, ())
    dust = await fees.estimate("solana", asset(s, "solana", "SOL"), fresh, 1_000)
    assert "does not exist yet: send at least 0.00089088 SOL" in dust.notes[0]


async def test_tron_fee_counts_activation_bandwidth_and_energy(
    fees: FeeEstimator, tron_devnet: Any
) -> None:
    s = fees.settings
    fresh = fresh_tron_address()
    existing = tron_devnet.info()["accounts"][4]["address"]
    to_new = await fees.estimate("tron", asset(s, "tron", "TRX"), fresh, 10**6)
    to_old = await fees.estimate("tron", asset(s, "tron", "TRX"), existing, 10**6)
    assert to_new.amount - to_old.amount == 1_100_000  # activation of the new account
    assert not to_new.approximate and "activate the new recipient account" in to_new.notes[-1]
    assert to_old.amount in (0, 270_000)  # free bandwidth left, or 270 bytes burned

    usdt = await fees.estimate("tron", asset(s, "tron", "USDT"), fresh, 5 * 10**6)
    energy_price = tron_devnet.config.energy_price
    assert not usdt.approximate
    energy = int(usdt.notes[-1].split()[0].replace(",", ""))
    assert 0 < energy < TYPICAL_ENERGY_NEW_HOLDER  # simulated, not the typical figure
    assert usdt.amount - energy * energy_price in (0, 345_000)


async def test_tron_without_a_hot_wallet_gives_a_typical_figure(
    solana_devnet: Any, tron_devnet: Any
) -> None:
    estimator = FeeEstimator(devnet_settings(solana_devnet, tron_devnet))
    try:
        usdt = asset(estimator.settings, "tron", "USDT")
        est = await estimator.estimate("tron", usdt, fresh_tron_address(), 5 * 10**6)
    finally:
        await estimator.close()
    price = tron_devnet.config.energy_price
    assert est.approximate and est.text().startswith("about ")
    assert est.amount == TYPICAL_ENERGY_NEW_HOLDER * price + 345_000
