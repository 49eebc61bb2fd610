"""Pure chain knowledge: addresses, amounts, token lists, filters and message texts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from chains import get, tron
from chains import solana as sol
from chains.tron import fees as tron_fees
from core.amounts import from_base_units, to_base_units
from core.assets import format_amount
from core.errors import InvalidInput
from core.models import Subscription, WalletEvent
from core.texts import DIGEST_AFTER, messages_for

SOL_ADDR = str(Keypair.from_seed(bytes(32)).pubkey())
TRON_ADDR = PrivateKey(bytes([1] * 32)).public_key.to_base58check_address()


def test_solana_address_roundtrip_and_errors() -> None:
    assert sol.normalize_address(f"  {SOL_ADDR} ") == SOL_ADDR
    with pytest.raises(InvalidInput, match="not base58"):
        sol.normalize_address("0OIl" * 11)
    with pytest.raises(InvalidInput, match=r"expected 32.*TRON"):
        sol.normalize_address(TRON_ADDR)
    with pytest.raises(InvalidInput, match="expected 32"):
        sol.normalize_address("abc")


def test_tron_address_checksum_and_chain() -> None:
    assert tron.normalize_address(TRON_ADDR) == TRON_ADDR
    assert tron.normalize_address(tron.base58_to_hex(TRON_ADDR)) == TRON_ADDR
    typo = TRON_ADDR[:-1] + ("A" if TRON_ADDR[-1] != "A" else "B")
    with pytest.raises(InvalidInput, match="checksum"):
        tron.normalize_address(typo)
    with pytest.raises(InvalidInput, match="Solana"):
        tron.normalize_address(SOL_ADDR)


def test_unknown_chain_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown chain 'eth'"):
        get("eth")


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [("1", 9, 10**9), ("0.000001", 6, 1), ("1.5", 6, 1_500_000), ("100", 0, 100)],
)
def test_to_base_units(text: str, decimals: int, units: int) -> None:
    assert to_base_units(text, decimals) == units


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("0.0000001", "more than 6"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("inf", "not a number"),
    ],
)
def test_to_base_units_refuses(text: str, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        to_base_units(text, 6)


@given(st.integers(min_value=1, max_value=10**30), st.integers(min_value=0, max_value=18))
def test_base_units_roundtrip(units: int, decimals: int) -> None:
    assert to_base_units(from_base_units(units, decimals), decimals) == units


def test_format_amount_trims_zeros() -> None:
    assert format_amount(1_500_000, sol.NATIVE) == "0.0015 SOL"
    assert format_amount(10**9, sol.NATIVE) == "1 SOL"


def test_token_list_knows_tokens_by_address_not_name() -> None:
    mint = str(Keypair().pubkey())
    listed = sol.tokens_from(f"USDC:{mint}:6, PY:{SOL_ADDR}:6:token2022")
    assert listed.by_id(mint) is not None and listed.by_id(mint).symbol == "USDC"  # type: ignore[union-attr]
    assert listed.by_symbol("usdc").id == mint  # type: ignore[union-attr]
    assert listed.by_symbol("SOL") == sol.NATIVE
    assert listed.by_id(str(Keypair().pubkey())) is None  # a look-alike "USDC" is spam
    assert listed.tokens[1].program == sol.TOKEN_2022_PROGRAM
    with pytest.raises(InvalidInput, match="SYMBOL:ADDRESS:DECIMALS"):
        sol.tokens_from("USDC:abc")
    with pytest.raises(InvalidInput, match="not a Solana address"):
        sol.tokens_from("USDC:abc:6")


def _event(
    direction: str = "in", amount: int = 5_000_000, symbol: str = "USDC", n: int = 0
) -> WalletEvent:
    return WalletEvent(
        chain="solana",
        wallet=SOL_ADDR,
        tx_id=f"sig{n}",
        index=0,
        direction=direction,
        asset="mint",
        symbol=symbol,
        decimals=6,
        amount=amount,
        counterparty="X<b>",
        block=1,
    )


def test_subscription_filters() -> None:
    assert Subscription(chat_id=1).wants(_event())
    assert not Subscription(chat_id=1, direction="out").wants(_event("in"))
    assert not Subscription(chat_id=1, min_amount=Decimal("5.01")).wants(_event())
    assert Subscription(chat_id=1, min_amount=Decimal("5")).wants(_event())
    assert not Subscription(chat_id=1, assets=["SOL"]).wants(_event())
    assert Subscription(chat_id=1, assets=["usdc"]).wants(_event())


def test_messages_escape_user_text_and_digest_bursts() -> None:
    sub = Subscription(chat_id=7, label="<script>&")
    [(key, text)] = messages_for(sub, [_event()], sol.tx_url)
    assert key == f"7:solana:sig0:0:{SOL_ADDR}"
    assert "&lt;script&gt;&amp;" in text and "<script>" not in text
    assert "X&lt;b&gt;" in text and "+5 USDC" not in text and "Received 5 USDC" in text
    burst = [_event(n=i) for i in range(DIGEST_AFTER + 2)]
    [(digest_key, digest)] = messages_for(sub, burst, sol.tx_url)
    assert digest_key.startswith("7:digest:") and f"{len(burst)} transfers" in digest
    assert messages_for(Subscription(chat_id=7, direction="out"), burst, sol.tx_url) == []


def test_tron_block_header_reads_fields_left_out_as_zero() -> None:
    genesis = {"block_header": {"raw_data": {"txTrieRoot": "00" * 32}}}
    assert tron.block_header(genesis, "number") == 0
    assert tron.block_header(genesis, "timestamp") == 0
    block = {"block_header": {"raw_data": {"number": 7, "timestamp": 1_700_000_000_000}}}
    assert tron.block_header(block, "number") == 7
    assert tron.block_header(block, "timestamp") == 1_700_000_000_000


def test_tron_fee_limit_is_an_integer_margin_over_the_estimate_under_the_cap() -> None:
    assert tron_fees.fee_limit(13_045, 210, cap=100_000_000) == 13_045 * 210 * 3 // 2
    assert tron_fees.fee_limit(13_045, 211, margin_percent=133, cap=100_000_000) == 3_660_818
    assert tron_fees.fee_limit(10**9, 420, cap=100_000_000) == 100_000_000
