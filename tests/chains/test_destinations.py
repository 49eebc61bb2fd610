"""Destination checks, pure: the accounts are shaped like their mainnet counterparts."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair

from chains import solana as sol
from chains import tron
from chains.solana.destinations import (
    ACCOUNT_TYPE_ACCOUNT,
    ACCOUNT_TYPE_MINT,
    SYSTEM_PROGRAM,
    AccountView,
    destination_refusal,
    is_on_curve,
    token_kind,
)
from chains.tron import destinations as tron_destinations
from core.assets import Asset

USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"  # mainnet USDC
USDC = Asset(symbol="USDC", decimals=6, id=USDC_MINT, program=sol.TOKEN_PROGRAM)
PYUSD_MINT = "2b1kV6DkPAnxd5ixfnxCpjxmKwqjjaYmCZfHsFu24GXo"  # mainnet PYUSD (Token-2022)
PYUSD = Asset(symbol="PYUSD", decimals=6, id=PYUSD_MINT, program=sol.TOKEN_2022_PROGRAM)
SOL = sol.NATIVE
HOT = str(Keypair.from_seed(bytes(32)).pubkey())  # on the curve, like any hot wallet
WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"  # an ordinary system-owned wallet
JUPITER = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"  # a program (executable)
LOADER = "BPFLoaderUpgradeab1e11111111111111111111111"
# WALLET's USDC associated token account: a PDA, owned by the token program, 165 bytes.
WALLET_USDC_ATA = sol.associated_token_address(WALLET, USDC_MINT)
MINTS = [USDC_MINT, PYUSD_MINT]

wallet_account = AccountView(owner=SYSTEM_PROGRAM, executable=False, data=b"")
token_account = AccountView(owner=sol.TOKEN_PROGRAM, executable=False, data=bytes(165))
mint_account = AccountView(owner=sol.TOKEN_PROGRAM, executable=False, data=bytes(82))
t22_account = AccountView(
    owner=sol.TOKEN_2022_PROGRAM,
    executable=False,
    data=bytes(165) + bytes([ACCOUNT_TYPE_ACCOUNT]) + bytes(12),  # with an extension
)
t22_mint = AccountView(
    owner=sol.TOKEN_2022_PROGRAM,
    executable=False,
    data=bytes(165) + bytes([ACCOUNT_TYPE_MINT]) + bytes(200),  # metadata pointer etc.
)
program = AccountView(owner=LOADER, executable=True, data=bytes(36))
nonce_account = AccountView(owner=SYSTEM_PROGRAM, executable=False, data=bytes(80))


def refusal(to: str, asset: Asset, account: AccountView | None, **kw: bool) -> str | None:
    return destination_refusal(to, asset, account, hot_wallet=HOT, mints=MINTS, **kw)


def test_the_shapes_are_read_like_the_token_programs_write_them() -> None:
    assert token_kind(token_account) == token_kind(t22_account) == "account"
    assert token_kind(mint_account) == token_kind(t22_mint) == "mint"
    assert token_kind(wallet_account) is None and token_kind(program) is None
    assert is_on_curve(WALLET) and is_on_curve(USDC_MINT)
    assert not is_on_curve(WALLET_USDC_ATA)


@pytest.mark.parametrize("asset", [SOL, USDC, PYUSD])
@pytest.mark.parametrize("account", [wallet_account, None])
def test_a_wallet_is_fine(asset: Asset, account: AccountView | None) -> None:
    assert refusal(WALLET, asset, account) is None


@pytest.mark.parametrize("asset", [SOL, USDC, PYUSD])
def test_the_hot_wallet_is_refused_even_with_the_flag(asset: Asset) -> None:
    reason = refusal(HOT, asset, wallet_account, allow_program_owned=True)
    assert reason == f"the destination {HOT} is the hot wallet itself"


@pytest.mark.parametrize("asset", [SOL, USDC, PYUSD])
@pytest.mark.parametrize("account", [mint_account, None])
def test_the_usdc_mint_is_refused_even_with_the_flag(
    asset: Asset, account: AccountView | None
) -> None:
    reason = refusal(USDC_MINT, asset, account, allow_program_owned=True)
    assert reason is not None and "is a token mint, not a wallet" in reason


def test_a_mint_shaped_account_is_refused_listed_or_not() -> None:
    other = "So11111111111111111111111111111111111111112"  # wrapped SOL's mint: not listed
    assert "token mint" in (refusal(other, USDC, mint_account) or "")
    assert "token mint" in (refusal(other, USDC, t22_mint) or "")


@pytest.mark.parametrize("asset", [USDC, PYUSD])
@pytest.mark.parametrize("account", [token_account, t22_account])
def test_a_token_account_is_no_token_recipient(asset: Asset, account: AccountView) -> None:
    reason = refusal(WALLET_USDC_ATA, asset, account, allow_program_owned=True)
    assert reason == (
        f"the destination {WALLET_USDC_ATA} is a token account, not a wallet: send "
        f"{asset.symbol} to the wallet that owns it"
    )
    assert "\n" not in reason


def test_sol_to_a_token_account_is_program_owned_unless_allowed() -> None:
    reason = refusal(WALLET_USDC_ATA, SOL, token_account)
    assert reason is not None and "is a token account, not a wallet" in reason
    assert "WITHDRAWAL_ALLOW_PROGRAM_OWNED" in reason
    assert refusal(WALLET_USDC_ATA, SOL, token_account, allow_program_owned=True) is None


def test_sol_to_an_off_curve_address_is_refused_unless_allowed() -> None:
    pda = sol.associated_token_address(WALLET, PYUSD_MINT)  # no account there yet
    reason = refusal(pda, SOL, None)
    assert reason is not None and "off the Ed25519 curve" in reason
    assert refusal(pda, SOL, None, allow_program_owned=True) is None
    assert refusal(pda, USDC, None) is None  # tokens to a PDA wallet (a vault): its ATA


def test_sol_to_other_program_owned_accounts_is_refused_unless_allowed() -> None:
    state = AccountView(owner=JUPITER, executable=False, data=bytes(300))
    assert f"owned by the program {JUPITER}" in (refusal(WALLET, SOL, state) or "")
    assert "durable-nonce" in (refusal(WALLET, SOL, nonce_account) or "")
    assert refusal(WALLET, SOL, state, allow_program_owned=True) is None
    assert refusal(WALLET, SOL, nonce_account, allow_program_owned=True) is None


@pytest.mark.parametrize("asset", [SOL, USDC])
def test_a_program_is_refused_unless_allowed(asset: Asset) -> None:
    assert "is a program" in (refusal(JUPITER, asset, program) or "")
    assert refusal(JUPITER, asset, program, allow_program_owned=True) is None


# ---- TRON ------------------------------------------------------------------------------------

USDT_CONTRACT = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"  # mainnet USDT
USDD_CONTRACT = "TPYmHEhy5n8TCEfYGqW2rPxsghSfzghPDn"  # mainnet USDD
USDT = Asset(symbol="USDT", decimals=6, id=USDT_CONTRACT)
TRON_HOT = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"
TRON_WALLET = "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"


def tron_refusal(to: str, asset: Asset) -> str | None:
    return tron_destinations.destination_refusal(
        to, asset, hot_wallet=TRON_HOT, contracts=[USDT_CONTRACT, USDD_CONTRACT]
    )


def test_tron_addresses_are_real() -> None:
    for address in (USDT_CONTRACT, USDD_CONTRACT, TRON_HOT, TRON_WALLET):
        assert tron.normalize_address(address) == address


@pytest.mark.parametrize("asset", [tron.NATIVE, USDT])
def test_tron_wallet_is_fine(asset: Asset) -> None:
    assert tron_refusal(TRON_WALLET, asset) is None


@pytest.mark.parametrize("asset", [tron.NATIVE, USDT])
def test_tron_refuses_the_hot_wallet_and_token_contracts(asset: Asset) -> None:
    assert tron_refusal(TRON_HOT, asset) == f"the destination {TRON_HOT} is the hot wallet itself"
    for contract in (USDT_CONTRACT, USDD_CONTRACT):
        reason = tron_refusal(contract, asset)
        assert reason is not None and "contract, not a wallet" in reason
    assert "this token's own contract" in (tron_refusal(USDT_CONTRACT, USDT) or "")


def test_tron_refuses_the_assets_contract_even_unlisted() -> None:
    reason = tron_destinations.destination_refusal(USDT_CONTRACT, USDT, hot_wallet=TRON_HOT)
    assert reason is not None and "this token's own contract" in reason
