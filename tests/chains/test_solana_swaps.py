"""chains/solana/swaps.py: swaps out of `getTransaction` results. Real mainnet payloads are in
fixtures/solana_swaps/ (SOURCES.md says where each came from); the expected amounts below were
worked out by hand from each payload's balances, written next to each case."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from chains.solana import _account_keys
from chains.solana.swaps import SOL_COST_LIMIT, SOL_MINT, Swap, parse_swap

FIXTURES = Path(__file__).parent / "fixtures" / "solana_swaps"
RENT = 2_039_280  # rent-exempt minimum of an SPL token account


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


# (fixture, wallet, input mint, input amount, output mint, output amount). Index i is the
# account at position i of the resolved keys (static, then lookup-table writable, readonly).
MAINNET = [
    pytest.param(
        # Jupiter v6 `route`, json encoding, v0 with lookup tables. Wallet (#0) 840_881_591 ->
        # 438_827_396 = -402_054_195, + fee 14_915 = -402_039_280. Its new ATA #2 for 3p7e..
        # 0 -> 2_039_280 lamports (rent stays the wallet's) and no balance -> 3_861_519_639_304.
        # SOL economy -400_000_000: exactly what the pool's WSOL vault #10 gained.
        "jupiter_sol_to_token_alt",
        "3huskHPRJXT5pL6RW57HaA8pXRFojx6gfNVGL9cJ2vtB",
        SOL_MINT,
        400_000_000,
        "3p7eCgdQx1RiJUfr4t7Z8w6DpVbP7CMa9Z6Ff69tpump",
        3_861_519_639_304,
        id="jupiter-sol-to-token",
    ),
    pytest.param(
        # Jupiter v6 `sharedAccountsRoute`, json, v0 with lookup tables. USDC ATA #1
        # 24_367_084_084 -> 24_267_084_084 = -100_000_000; new ORE ATA #8 -> 944_945_170.
        # SOL: wallet 100_560_538 -> 98_512_360 = -2_048_178, + fee 8_898, + #8's rent
        # 0 -> 2_039_280 = 0: no SOL leg.
        "jupiter_usdc_to_token_alt",
        "AVYG9UHetNHT1FEDPLv9pN2sCCH4CLsjvkzGjVXBfEiS",
        "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        100_000_000,
        "oreoN2tQbHXVaZsr3pf66A48miqcBXCDJozganhEJgz",
        944_945_170,
        id="jupiter-usdc-to-token",
    ),
    pytest.param(
        # Raydium AMM v4 buy by a bot, json, v0 with lookup tables. Wallet (#0) 1_901_449_928 ->
        # 1_798_544_928 = -102_905_000, + fee 1_005_000 = -101_900_000: 100_000_000 into the
        # pool's WSOL vault #5 plus the bot's 900_000 (#21) and a 1_000_000 tip (#22), which
        # are part of what the buy cost. Its ATA #13 for E8yB.. 0 -> 43_045_438_075.
        "raydium_v4_buy_alt",
        "ECvj86nDupkVh1cDgxrJw3zJkw3ahcDiVB3pPTbpskjD",
        SOL_MINT,
        101_900_000,
        "E8yBUD4AGdxK7MbQEf85oaAvVBuSoRsGCvX2sMxSpump",
        43_045_438_075,
        id="raydium-buy",
    ),
    pytest.param(
        # Raydium AMM v4 sell by the same bot kind, json, v0 with lookup tables. ATA #13 for
        # 2Crt.. 836_112_233_953 -> 0. Wallet (#0) 6_206_795_174 -> 6_554_573_528 =
        # +347_778_354, + fee 1_005_000 = 348_783_354: the pool's 352_936_256 (vault #5) less
        # the bot's 3_152_902 (#21) and the 1_000_000 tip (#22). The temporary WSOL account was
        # opened and closed inside the transaction, so it is in no token balance.
        "raydium_v4_sell_alt",
        "Do3UdALe5F7NRXB4uYcBzZtCbAt8ssu4a5kGZVucKhC5",
        "2CrtdajpSb7DpMRLKP4yMtFLbCsWZjMkEvgSTf4Ypump",
        836_112_233_953,
        SOL_MINT,
        348_783_354,
        id="raydium-sell",
    ),
    pytest.param(
        # Jupiter v6 route to SOL, jsonParsed (lookup-table keys listed in accountKeys). ATA #2
        # for A3eM.. 7_694_443 -> 7_653_300 = -41_143. Wallet (#0) 23_604_052 -> 23_598_048 =
        # -6_004, + fee 105_000 = 98_996, what the pool's WSOL account #30 lost.
        "jupiter_parsed_token_to_sol",
        "8WL4ZcyWExbaWdifyqU9FkNLbn3pLyk9fU6sNS2u4v27",
        "A3eME5CetyZPBoWbRUwY3tSe25S6tb18ba9ZPbWk9eFJ",
        41_143,
        SOL_MINT,
        98_996,
        id="jupiter-parsed-token-to-sol",
    ),
]


@pytest.mark.parametrize(
    ("name", "wallet", "input_mint", "input_amount", "output_mint", "output_amount"), MAINNET
)
def test_mainnet_swaps(
    name: str,
    wallet: str,
    input_mint: str,
    input_amount: int,
    output_mint: str,
    output_amount: int,
) -> None:
    tx = fixture(name)
    swap = parse_swap(tx, wallet)
    assert swap is not None
    assert (swap.input_mint, swap.input_amount) == (input_mint, input_amount)
    assert (swap.output_mint, swap.output_amount) == (output_mint, output_amount)
    assert swap.signature == tx["transaction"]["signatures"][0]
    assert (swap.slot, swap.block_time) == (tx["slot"], tx["blockTime"])
    # Nobody else in the transaction made this swap.
    assert parse_swap(tx, "11111111111111111111111111111111") is None


def test_lookup_table_keys_line_up_with_balances() -> None:
    # json encoding: 21 static keys, then meta.loadedAddresses (2 writable, 4 readonly).
    tx = fixture("raydium_v4_buy_alt")
    assert tx["version"] == 0 and tx["meta"]["loadedAddresses"]["writable"]
    assert len(tx["transaction"]["message"]["accountKeys"]) == 21
    assert len(_account_keys(tx)) == len(tx["meta"]["preBalances"]) == 27
    # Without the loaded addresses the keys cannot be matched to balances: refuse, loudly.
    stripped = copy.deepcopy(tx)
    del stripped["meta"]["loadedAddresses"]
    with pytest.raises(ValueError, match="21 account keys for 27 balances"):
        parse_swap(stripped, "ECvj86nDupkVh1cDgxrJw3zJkw3ahcDiVB3pPTbpskjD")


def test_price_is_output_per_input_in_ui_units() -> None:
    swap = parse_swap(
        fixture("jupiter_usdc_to_token_alt"), "AVYG9UHetNHT1FEDPLv9pN2sCCH4CLsjvkzGjVXBfEiS"
    )
    assert swap is not None
    # 944_945_170 / 10**9 ORE for 100_000_000 / 10**6 USDC
    assert (swap.input_decimals, swap.output_decimals) == (6, 9)
    assert swap.price == Decimal("0.0094494517")
    sol_in = parse_swap(
        fixture("jupiter_sol_to_token_alt"), "3huskHPRJXT5pL6RW57HaA8pXRFojx6gfNVGL9cJ2vtB"
    )
    assert sol_in is not None
    # 3_861_519.639304 tokens for 0.4 SOL
    assert sol_in.price == Decimal("9653799.09826")


def test_failed_swap_is_none() -> None:
    # Jupiter route that hit SlippageToleranceExceeded (6001): only the 8_444 fee moved.
    tx = fixture("jupiter_failed_slippage")
    assert tx["meta"]["err"] == {"InstructionError": [4, {"Custom": 6001}]}
    assert parse_swap(tx, "UUAhspPgUdGuXUnokmxERH1VvNGNh1ouN3mfcbfV8yd") is None
    # The error alone decides, whatever the balances say.
    marked = fixture("raydium_v4_buy_alt")
    marked["meta"]["err"] = {"InstructionError": [4, {"Custom": 30}]}
    assert parse_swap(marked, "ECvj86nDupkVh1cDgxrJw3zJkw3ahcDiVB3pPTbpskjD") is None


def test_mainnet_token_transfer_is_none() -> None:
    # Token account #3 67_062_499_999_999 -> 67_047_499_999_999 sent to five recipients, whose
    # ATAs (#1, #2, #4, #5, #6, owned by them) it funded: wallet -10_231_400 + fee 35_000 =
    # -5 x 2_039_280. Two things given, nothing received.
    tx = fixture("spl_transfer_creating_atas")
    assert parse_swap(tx, "EohzXCJJxTUbHDQvawQvFAUUnCDu6TkaMhpLL6Armm5t") is None


# ---- synthetic transactions, built the way a devnet would record them --------------------------

WALLET = "WaLLet1111111111111111111111111111111111111"
OTHER = "0ther11111111111111111111111111111111111111"
POOL = "PooL111111111111111111111111111111111111111"
USDC = "USDC111111111111111111111111111111111111111"
BONK = "BoNK111111111111111111111111111111111111111"
FEE = 5_000


def token(index: int, mint: str, owner: str, amount: int, decimals: int = 6) -> dict[str, Any]:
    return {
        "accountIndex": index,
        "mint": mint,
        "owner": owner,
        "uiTokenAmount": {"amount": str(amount), "decimals": decimals},
    }


def tx_of(
    keys: list[str],
    pre: list[int],
    post: list[int],
    pre_tokens: Sequence[dict[str, Any]] = (),
    post_tokens: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A `json`-encoded getTransaction result, account 0 paying the fee."""
    return {
        "slot": 42,
        "blockTime": 1_700_000_000,
        "version": "legacy",
        "transaction": {"signatures": ["sig"], "message": {"accountKeys": keys}},
        "meta": {
            "err": None,
            "fee": FEE,
            "preBalances": pre,
            "postBalances": post,
            "preTokenBalances": list(pre_tokens),
            "postTokenBalances": list(post_tokens),
        },
    }


def sol_to_usdc_with_new_ata() -> dict[str, Any]:
    # 1 SOL for 25 USDC. The wallet (#0) pays the fee, the rent of its new USDC ATA (#1), and
    # wraps 1 SOL in a temporary WSOL account (#2) that goes to the pool's vault (#3) and is
    # closed, its rent back to the wallet. The pool's USDC vault is #4.
    wallet_post = 5_000_000_000 - FEE - RENT - 1_000_000_000
    return tx_of(
        keys=[WALLET, "ata", "tmp-wsol", "pool-wsol", "pool-usdc"],
        pre=[5_000_000_000, 0, 0, 50_000_000_000, RENT],
        post=[wallet_post, RENT, 0, 51_000_000_000, RENT],
        pre_tokens=[
            token(3, SOL_MINT, POOL, 50_000_000_000 - RENT, 9),
            token(4, USDC, POOL, 900_000_000),
        ],
        post_tokens=[
            token(1, USDC, WALLET, 25_000_000),
            token(3, SOL_MINT, POOL, 51_000_000_000 - RENT, 9),
            token(4, USDC, POOL, 875_000_000),
        ],
    )


def test_sol_to_token_with_a_new_ata() -> None:
    swap = parse_swap(sol_to_usdc_with_new_ata(), WALLET)
    assert swap == Swap(
        wallet=WALLET,
        signature="sig",
        slot=42,
        block_time=1_700_000_000,
        input_mint=SOL_MINT,
        input_amount=1_000_000_000,  # not the fee, not the ATA's rent
        input_decimals=9,
        output_mint=USDC,
        output_amount=25_000_000,
        output_decimals=6,
    )
    assert swap.price == Decimal(25)


def test_token_to_sol_through_a_temporary_wsol_account() -> None:
    # 10 USDC for 0.5 SOL. The wallet (#0) opens a temporary WSOL account (#2, rent from the
    # wallet), the pool's vault (#3) pays 0.5 SOL into it, it is closed into the wallet; the
    # emptied USDC account (#1) is closed too, its rent back to the wallet.
    tx = tx_of(
        keys=[WALLET, "ata", "tmp-wsol", "pool-wsol", "pool-usdc"],
        pre=[1_000_000_000, RENT, 0, 50_000_000_000, RENT],
        post=[1_000_000_000 - FEE + 500_000_000 + RENT, 0, 0, 49_500_000_000, RENT],
        pre_tokens=[
            token(1, USDC, WALLET, 10_000_000),
            token(3, SOL_MINT, POOL, 50_000_000_000 - RENT, 9),
            token(4, USDC, POOL, 900_000_000),
        ],
        post_tokens=[
            token(3, SOL_MINT, POOL, 49_500_000_000 - RENT, 9),
            token(4, USDC, POOL, 910_000_000),
        ],
    )
    swap = parse_swap(tx, WALLET)
    assert swap is not None
    assert (swap.input_mint, swap.input_amount) == (USDC, 10_000_000)
    # not the refunded rent of the closed USDC account
    assert (swap.output_mint, swap.output_amount, swap.output_decimals) == (
        SOL_MINT,
        500_000_000,
        9,
    )
    assert swap.price == Decimal("0.05")


def test_wsol_kept_wrapped_counts_once() -> None:
    # 10 USDC for 0.5 SOL left in the wallet's own WSOL account (#1): its lamports and its
    # token amount both grow by 500_000_000, and that is one 0.5 SOL, not two.
    tx = tx_of(
        keys=[WALLET, "wsol-ata", "usdc-ata", "pool-wsol", "pool-usdc"],
        pre=[1_000_000_000, RENT + 7, RENT, 50_000_000_000, RENT],
        post=[1_000_000_000 - FEE, RENT + 500_000_007, RENT, 49_500_000_000, RENT],
        pre_tokens=[
            token(1, SOL_MINT, WALLET, 7, 9),
            token(2, USDC, WALLET, 10_000_000),
        ],
        post_tokens=[
            token(1, SOL_MINT, WALLET, 500_000_007, 9),
            token(2, USDC, WALLET, 0),
        ],
    )
    swap = parse_swap(tx, WALLET)
    assert swap is not None
    assert (swap.input_mint, swap.input_amount) == (USDC, 10_000_000)
    assert (swap.output_mint, swap.output_amount) == (SOL_MINT, 500_000_000)


def test_wrapping_sol_is_not_a_swap() -> None:
    # 1 SOL moved from the wallet into its own WSOL account and synced.
    tx = tx_of(
        keys=[WALLET, "wsol-ata"],
        pre=[3_000_000_000, RENT],
        post=[2_000_000_000 - FEE, RENT + 1_000_000_000],
        pre_tokens=[token(1, SOL_MINT, WALLET, 0, 9)],
        post_tokens=[token(1, SOL_MINT, WALLET, 1_000_000_000, 9)],
    )
    assert parse_swap(tx, WALLET) is None


def test_plain_sol_transfer_is_none_for_both_ends() -> None:
    tx = tx_of(
        keys=[WALLET, OTHER],
        pre=[3_000_000_000, 1_000_000],
        post=[2_000_000_000 - FEE, 1_001_000_000],
    )
    assert parse_swap(tx, WALLET) is None
    assert parse_swap(tx, OTHER) is None


def usdc_to_bonk_paying_sol(sol_cost: int) -> dict[str, Any]:
    # 10 USDC (#1) for 1_234 BONK (#2), the wallet also paying `sol_cost` lamports to #3 (a
    # tip, or a protocol fee).
    return tx_of(
        keys=[WALLET, "usdc-ata", "bonk-ata", "tip"],
        pre=[1_000_000_000, RENT, RENT, 0],
        post=[1_000_000_000 - FEE - sol_cost, RENT, RENT, sol_cost],
        pre_tokens=[token(1, USDC, WALLET, 10_000_000), token(2, BONK, WALLET, 0, 5)],
        post_tokens=[token(1, USDC, WALLET, 0), token(2, BONK, WALLET, 1_234, 5)],
    )


@pytest.mark.parametrize("sol_cost", [1, 1_000_000, SOL_COST_LIMIT])
def test_small_sol_next_to_a_token_is_a_cost(sol_cost: int) -> None:
    swap = parse_swap(usdc_to_bonk_paying_sol(sol_cost), WALLET)
    assert swap is not None
    assert (swap.input_mint, swap.input_amount) == (USDC, 10_000_000)
    assert (swap.output_mint, swap.output_amount, swap.output_decimals) == (BONK, 1_234, 5)


def test_more_sol_next_to_a_token_is_a_second_leg() -> None:
    assert parse_swap(usdc_to_bonk_paying_sol(SOL_COST_LIMIT + 1), WALLET) is None
