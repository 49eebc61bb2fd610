"""Taking a venue's partly signed swap (chains/solana/signing.py): the wallet signs only what it
agreed to, and only at its own index."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)
from spl.token.models import TransferCheckedParams

from chains.solana import SOL_MINT, TOKEN_PROGRAM
from chains.solana.signing import SwapTerms, add_signature, swap_refusal

WALLET = Keypair()
POOL = Keypair()
MINT = Keypair().pubkey()
TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
SOLD = 1_000_000_000
BOUGHT = 150_000_000
TERMS = SwapTerms(
    wallet=str(WALLET.pubkey()),
    sold=SOL_MINT,
    amount=SOLD,
    bought=str(MINT),
    minimum=149_000_000,
    priority_fee=10_000,
    programs={str(MINT): TOKEN_PROGRAM},
)


def pay_sol(source: Keypair, dest: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=source.pubkey(), to_pubkey=dest, lamports=lamports))


def pay_token(owner: Keypair, dest_owner: Pubkey, amount: int) -> Instruction:
    return transfer_checked(
        TransferCheckedParams(
            program_id=TOKEN,
            source=get_associated_token_address(owner.pubkey(), MINT, TOKEN),
            mint=MINT,
            dest=get_associated_token_address(dest_owner, MINT, TOKEN),
            owner=owner.pubkey(),
            amount=amount,
            decimals=6,
        )
    )


def venue_tx(
    *, legs: Sequence[Instruction] | None = None, price: int = 80_000
) -> VersionedTransaction:
    """What the devnet venue builds for SOL -> token, with the pool's signature in place."""
    instructions = [
        set_compute_unit_limit(120_000),
        set_compute_unit_price(price),
        create_idempotent_associated_token_account(WALLET.pubkey(), WALLET.pubkey(), MINT, TOKEN),
        *(
            legs
            if legs is not None
            else [pay_sol(WALLET, POOL.pubkey(), SOLD), pay_token(POOL, WALLET.pubkey(), BOUGHT)]
        ),
    ]
    message = MessageV0.try_compile(WALLET.pubkey(), instructions, [], Hash.default())
    signers = list(message.account_keys[: message.header.num_required_signatures])
    signatures = [Signature.default()] * len(signers)
    return VersionedTransaction.populate(message, signatures)


def test_the_venues_swap_is_taken_and_signed_at_the_wallets_index() -> None:
    tx = venue_tx()
    assert swap_refusal(tx, TERMS) is None
    signed = add_signature(tx, WALLET)
    assert signed.signatures[0] != Signature.default()
    assert signed.signatures[1] == Signature.default()  # the pool's slot is left as it was


@pytest.mark.parametrize(
    ("legs", "refusal"),
    [
        # A second leg out of the wallet: a drain hidden in the swap.
        (
            [
                pay_sol(WALLET, POOL.pubkey(), SOLD),
                pay_sol(WALLET, Keypair().pubkey(), 5),
                pay_token(POOL, WALLET.pubkey(), BOUGHT),
            ],
            "would pay 5 lamports, not the amount sold",
        ),
        (
            [pay_sol(WALLET, POOL.pubkey(), SOLD + 1), pay_token(POOL, WALLET.pubkey(), BOUGHT)],
            "not the amount sold",
        ),
        (
            [pay_sol(WALLET, POOL.pubkey(), SOLD), pay_token(POOL, WALLET.pubkey(), 148_999_999)],
            "below the minimum",
        ),
        ([pay_sol(WALLET, POOL.pubkey(), SOLD)], "would receive 0"),
        # The wallet's tokens out: not what it sold.
        (
            [pay_sol(WALLET, POOL.pubkey(), SOLD), pay_token(WALLET, POOL.pubkey(), 1)],
            "other than the sold",
        ),
        # Handing authority over the wallet's token account to someone else.
        (
            [
                pay_sol(WALLET, POOL.pubkey(), SOLD),
                pay_token(POOL, WALLET.pubkey(), BOUGHT),
                Instruction(
                    TOKEN,
                    bytes([6, 2, 1]) + bytes(POOL.pubkey()),
                    [
                        AccountMeta(
                            get_associated_token_address(WALLET.pubkey(), MINT, TOKEN), False, True
                        ),
                        AccountMeta(WALLET.pubkey(), True, False),
                    ],
                ),
            ],
            "other than a transfer",
        ),
        (
            [
                pay_sol(WALLET, POOL.pubkey(), SOLD),
                pay_token(POOL, WALLET.pubkey(), BOUGHT),
                Instruction(
                    Keypair().pubkey(), b"\x01", [AccountMeta(WALLET.pubkey(), True, True)]
                ),
            ],
            "unexpected program",
        ),
    ],
)
def test_a_swap_that_is_not_what_was_agreed_is_refused(
    legs: list[Instruction], refusal: str
) -> None:
    reason = swap_refusal(venue_tx(legs=legs), TERMS)
    assert reason is not None and refusal in reason, reason


def test_a_priority_fee_above_the_ceiling_is_refused() -> None:
    assert swap_refusal(venue_tx(price=83_333), TERMS) is None  # 9,999.96 -> 10,000 lamports
    reason = swap_refusal(venue_tx(price=83_334), TERMS)
    assert reason is not None and "above the ceiling 10000" in reason


def test_a_transaction_the_wallet_does_not_pay_for_is_refused() -> None:
    other = Keypair()
    message = MessageV0.try_compile(
        other.pubkey(), [pay_sol(other, WALLET.pubkey(), 1)], [], Hash.default()
    )
    tx = VersionedTransaction.populate(message, [Signature.default()])
    assert swap_refusal(tx, TERMS) == "the wallet is not the fee payer"
    with pytest.raises(Exception, match="not a signer"):
        add_signature(tx, WALLET)
