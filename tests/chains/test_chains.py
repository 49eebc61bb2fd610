"""Pure chain knowledge: addresses, the registry, token lists, TRON blocks and fees.
(Amounts, filters and message texts: tests/core/.)"""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from tronpy.keys import PrivateKey

from chains import get, tron
from chains import solana as sol
from chains.tron import fees as tron_fees
from core.errors import InvalidInput

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
