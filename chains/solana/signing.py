"""Taking a swap someone else built and partly signed: check it, then add the signature.

A request-for-quote swap (Jupiter's RFQ, the devnet venue) arrives already signed by the market
maker. The taker must sign the same message and put the signature at its own index, keeping
the others: `VersionedTransaction(tx.message, [keypair])` rebuilds the signature list with the
taker alone and fails ("not enough signers"). Pure code: the keypair comes from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.keypair import Keypair
from solders.message import to_bytes_versioned
from solders.transaction import VersionedTransaction

from chains.solana import (
    ATA_PROGRAM,
    SOL_MINT,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    associated_token_address,
)
from core.errors import InvalidInput


def add_signature(tx: VersionedTransaction, keypair: Keypair) -> VersionedTransaction:
    """`tx` with `keypair`'s signature at its index among the required signers."""
    message = tx.message
    signers = list(message.account_keys[: message.header.num_required_signatures])
    if keypair.pubkey() not in signers:
        raise InvalidInput(f"{keypair.pubkey()} is not a signer of this transaction")
    signatures = list(tx.signatures)
    signatures[signers.index(keypair.pubkey())] = keypair.sign_message(to_bytes_versioned(message))
    return VersionedTransaction.populate(message, signatures)


COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
DEFAULT_UNIT_LIMIT = 200_000  # per instruction, when a transaction sets no limit


@dataclass(frozen=True)
class SwapTerms:
    """What the wallet agreed to: sell exactly `amount` of `sold`, get at least `minimum` of
    `bought`, and pay at most `priority_fee` lamports of priority fee. Mints as swap APIs
    name them (SOL_MINT for SOL); `programs` maps each token mint to its token program."""

    wallet: str
    sold: str
    amount: int
    bought: str
    minimum: int
    priority_fee: int
    programs: dict[str, str]


def swap_refusal(tx: VersionedTransaction, terms: SwapTerms) -> str | None:
    """Why the wallet must not sign this swap transaction, or None.

    A venue's transaction is checked, not trusted: the wallet signs only for one leg out of it
    (exactly the amount sold), for opening its own token accounts, and for compute-budget
    settings within the priority-fee ceiling; a leg paying the wallet at least the minimum must
    be in it. Programs other than System, Token, Token-2022, the ATA program and Compute
    Budget, and address lookup tables (accounts this check can't see) are refused.
    """
    message = tx.message
    if getattr(message, "address_table_lookups", None):
        return "the transaction loads accounts from lookup tables: it can't be checked"
    keys = [str(k) for k in message.account_keys]
    if not keys or keys[0] != terms.wallet:
        return "the wallet is not the fee payer"
    atas = {m: associated_token_address(terms.wallet, m, p) for m, p in terms.programs.items()}
    out_legs = in_total = 0
    limit: int | None = None
    price = 0
    for ix in message.instructions:
        program = keys[ix.program_id_index]
        accounts = [keys[i] for i in bytes(ix.accounts)]
        data = bytes(ix.data)
        if program == COMPUTE_BUDGET_PROGRAM:
            if data[:1] == b"\x02" and len(data) == 5:
                limit = int.from_bytes(data[1:5], "little")
            elif data[:1] == b"\x03" and len(data) == 9:
                price = int.from_bytes(data[1:9], "little")
            else:
                return "an unexpected compute-budget instruction"
            continue
        if program == SYSTEM_PROGRAM:
            if data[:4] != (2).to_bytes(4, "little") or len(data) != 12 or len(accounts) != 2:
                return "a System instruction other than a transfer"
            lamports = int.from_bytes(data[4:12], "little")
            source, dest = accounts
            if source == terms.wallet:
                if terms.sold != SOL_MINT or lamports != terms.amount:
                    return f"the wallet would pay {lamports} lamports, not the amount sold"
                out_legs += 1
            elif dest == terms.wallet and terms.bought == SOL_MINT:
                in_total += lamports
            continue
        if program == ATA_PROGRAM:
            # Opening an account is fine when it is the wallet's own (it keeps the rent).
            if data not in (b"", b"\x00", b"\x01") or len(accounts) < 4:
                return "an unexpected associated-token-account instruction"
            if accounts[0] == terms.wallet and accounts[2] != terms.wallet:
                return "the wallet would pay to open someone else's token account"
            continue
        if program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            refusal, moved_out, moved_in = _token_leg(data, accounts, terms, atas)
            if refusal is not None:
                return refusal
            out_legs += moved_out
            in_total += moved_in
            continue
        return f"an instruction of an unexpected program {program}"
    if out_legs != 1:
        return f"the wallet would pay {out_legs} legs, not one"
    if in_total < terms.minimum:
        return f"the wallet would receive {in_total}, below the minimum {terms.minimum}"
    units = limit if limit is not None else DEFAULT_UNIT_LIMIT * len(message.instructions)
    priority = -(-price * units // 1_000_000)
    if priority > terms.priority_fee:
        return f"a priority fee of {priority} lamports, above the ceiling {terms.priority_fee}"
    return None


def _token_leg(
    data: bytes, accounts: list[str], terms: SwapTerms, atas: dict[str, str]
) -> tuple[str | None, int, int]:
    """(refusal, legs out of the wallet, amount into the wallet's account of the bought mint)
    of one token instruction: only transfers and transferChecked are allowed."""
    if data[:1] == b"\x0c" and len(data) == 10 and len(accounts) >= 4:  # transferChecked
        source, mint, dest, owner = accounts[:4]
    elif data[:1] == b"\x03" and len(data) == 9 and len(accounts) >= 3:  # transfer
        source, dest, owner = accounts[:3]
        mint = None
    else:
        return "a token instruction other than a transfer", 0, 0
    amount = int.from_bytes(data[1:9], "little")
    if owner == terms.wallet:
        if source != atas.get(terms.sold) or mint not in (None, terms.sold):
            return "the wallet would pay from an account other than the sold token's", 0, 0
        if amount != terms.amount:
            return f"the wallet would pay {amount}, not the amount sold {terms.amount}", 0, 0
        return None, 1, 0
    if dest == atas.get(terms.bought) and mint in (None, terms.bought):
        return None, 0, amount
    return None, 0, 0
