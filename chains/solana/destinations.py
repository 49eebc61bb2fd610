"""Solana destination checks: addresses a withdrawal must not pay, decided from the recipient's
account (as getAccountInfo returns it) without I/O. The read lives in `activities/solana/`.

Refused, always (nothing legitimate is ever sent there, and what is sent stays stuck):
- the hot wallet itself;
- a token (SPL or Token-2022) account given as the recipient of a token: the transfer would go
  to the associated token account *of that token account*, which nobody can spend from;
- a mint (the asset's own mint id, any listed mint, or any account shaped like a mint).
Refused unless the sender is built with `allow_program_owned=True` (worker setting
WITHDRAWAL_ALLOW_PROGRAM_OWNED), for people who do mean a program's address, such as a
multisig vault (a PDA):
- SOL to an account owned by a program other than the System Program (a token account, a
  mint, a program's state) or to a system account holding data (a durable-nonce account);
- SOL to an off-curve address (a program-derived address: only its program can sign for it);
- SOL or a token to an executable account (a program).
A token to an off-curve or program-owned *wallet* is allowed: its associated token account
belongs to that address, the usual way programs and multisigs hold tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from solders.pubkey import Pubkey

from core.assets import Asset

SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = (TOKEN_PROGRAM, TOKEN_2022_PROGRAM)
MINT_LEN = 82  # spl-token Mint::LEN
ACCOUNT_LEN = 165  # spl-token Account::LEN
MULTISIG_LEN = 355  # spl-token Multisig::LEN
# Token-2022 pads an extended mint to ACCOUNT_LEN and writes its AccountType at that offset.
ACCOUNT_TYPE_MINT = 1
ACCOUNT_TYPE_ACCOUNT = 2


@dataclass(frozen=True)
class AccountView:
    """What the check needs of an existing account (getAccountInfo's owner, executable, data)."""

    owner: str
    executable: bool
    data: bytes


def token_kind(account: AccountView) -> str | None:
    """'mint', 'account' or 'multisig' for an account of a token program, else None."""
    if account.owner not in TOKEN_PROGRAMS:
        return None
    size = len(account.data)
    if size == MINT_LEN:
        return "mint"
    if size == ACCOUNT_LEN:
        return "account"
    if size == MULTISIG_LEN and account.owner == TOKEN_PROGRAM:
        return "multisig"
    if account.owner == TOKEN_2022_PROGRAM and size > ACCOUNT_LEN:
        kind = account.data[ACCOUNT_LEN]
        return {ACCOUNT_TYPE_MINT: "mint", ACCOUNT_TYPE_ACCOUNT: "account"}.get(kind)
    return None


def is_on_curve(address: str) -> bool:
    """Whether the address is an Ed25519 point (a key someone can hold), not a PDA."""
    return bool(Pubkey.from_string(address).is_on_curve())


def destination_refusal(
    to: str,
    asset: Asset,
    account: AccountView | None,
    *,
    hot_wallet: str,
    mints: Iterable[str] = (),
    allow_program_owned: bool = False,
) -> str | None:
    """Why a withdrawal of `asset` must not pay `to` (one line), or None if it may.

    `account`: the recipient's account as the chain has it, None if it does not exist.
    `mints`: every mint this deployment lists (the asset's own is always included).
    """
    what = asset.symbol
    if to == hot_wallet:
        return f"the destination {to} is the hot wallet itself"
    known_mints = {*mints} | (set() if asset.native else {asset.id})
    kind = token_kind(account) if account is not None else None
    if to in known_mints or kind == "mint":
        return f"the destination {to} is a token mint, not a wallet: {what} sent there is lost"
    if account is not None and account.executable and not allow_program_owned:
        return (
            f"the destination {to} is a program (executable account), not a wallet; "
            "set WITHDRAWAL_ALLOW_PROGRAM_OWNED to allow it"
        )
    if not asset.native:
        if kind in ("account", "multisig"):
            return (
                f"the destination {to} is a token {kind}, not a wallet: send {what} to the "
                "wallet that owns it"
            )
        return None
    if account is not None and not allow_program_owned:
        if account.owner != SYSTEM_PROGRAM:
            owned = f"a token {kind}" if kind else f"owned by the program {account.owner}"
            return (
                f"the destination {to} is {owned}, not a wallet: {what} sent there may be "
                "lost; set WITHDRAWAL_ALLOW_PROGRAM_OWNED to allow it"
            )
        if account.data:
            return (
                f"the destination {to} is a system account holding {len(account.data)} bytes "
                "of data (a durable-nonce account?), not a wallet; set "
                "WITHDRAWAL_ALLOW_PROGRAM_OWNED to allow it"
            )
    if not allow_program_owned and not is_on_curve(to):
        return (
            f"the destination {to} is off the Ed25519 curve (a program-derived address): no "
            "key can sign for it; set WITHDRAWAL_ALLOW_PROGRAM_OWNED to allow it"
        )
    return None
