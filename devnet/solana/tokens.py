"""SPL Token / Token-2022 account layouts: building genesis accounts and reading them back.

Only the fixed-size base layouts are decoded (plus the Token-2022 extension list, by name),
which is what balances, `jsonParsed` account data and token balances in transaction metadata
need. Amounts are integers in base units throughout; the float `uiAmount` exists only because
the real RPC reports one.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
TOKEN_PROGRAMS = frozenset({TOKEN_PROGRAM, TOKEN_2022_PROGRAM})
TOKEN_PROGRAM_ID = Pubkey.from_string(TOKEN_PROGRAM)
TOKEN_2022_PROGRAM_ID = Pubkey.from_string(TOKEN_2022_PROGRAM)
PROGRAM_NAMES = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}

ACCOUNT_LEN = 165
MINT_LEN = 82
_ACCOUNT_TYPE_MINT = 1
_ACCOUNT_TYPE_ACCOUNT = 2
EXTENSION_IMMUTABLE_OWNER = 7

# Token-2022 ExtensionType discriminants -> the camelCase names the RPC prints.
EXTENSION_NAMES = {
    0: "uninitialized",
    1: "transferFeeConfig",
    2: "transferFeeAmount",
    3: "mintCloseAuthority",
    4: "confidentialTransferMint",
    5: "confidentialTransferAccount",
    6: "defaultAccountState",
    7: "immutableOwner",
    8: "memoTransfer",
    9: "nonTransferable",
    10: "interestBearingConfig",
    11: "cpiGuard",
    12: "permanentDelegate",
    13: "nonTransferableAccount",
    14: "transferHook",
    15: "transferHookAccount",
    16: "confidentialTransferFeeConfig",
    17: "confidentialTransferFeeAmount",
    18: "metadataPointer",
    19: "tokenMetadata",
    20: "groupPointer",
    21: "tokenGroup",
    22: "groupMemberPointer",
    23: "tokenGroupMember",
    24: "confidentialMintBurn",
    25: "scaledUiAmount",
    26: "pausable",
    27: "pausableAccount",
}
_STATES = {0: "uninitialized", 1: "initialized", 2: "frozen"}


@dataclass(frozen=True, slots=True)
class TokenAccount:
    mint: str
    owner: str
    amount: int
    delegate: str | None
    state: int
    native_reserve: int | None
    delegated_amount: int
    close_authority: str | None
    extensions: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Mint:
    mint_authority: str | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: str | None
    extensions: tuple[int, ...]


def _coption_pubkey(data: bytes, offset: int) -> str | None:
    if data[offset : offset + 4] == b"\x01\x00\x00\x00":
        return str(Pubkey.from_bytes(data[offset + 4 : offset + 36]))
    return None


def _extensions(data: bytes) -> tuple[int, ...] | None:
    """TLV entries after the account-type byte at offset 165; None when malformed."""
    found: list[int] = []
    pos = ACCOUNT_LEN + 1
    while pos + 4 <= len(data):
        ext_type, length = struct.unpack_from("<HH", data, pos)
        if ext_type == 0 and length == 0:
            break  # zero padding after the last extension
        found.append(ext_type)
        pos += 4 + length
        if pos > len(data):
            return None
    return tuple(found)


def parse_token_account(data: bytes) -> TokenAccount | None:
    """The token account in `data`, or None when `data` is not an initialized one."""
    n = len(data)
    if n < ACCOUNT_LEN:
        return None
    extensions: tuple[int, ...] = ()
    if n > ACCOUNT_LEN:
        if data[ACCOUNT_LEN] != _ACCOUNT_TYPE_ACCOUNT:
            return None
        parsed = _extensions(data)
        if parsed is None:
            return None
        extensions = parsed
    state = data[108]
    if state == 0:
        return None
    native = struct.unpack_from("<Q", data, 113)[0] if data[109] == 1 else None
    return TokenAccount(
        mint=str(Pubkey.from_bytes(data[0:32])),
        owner=str(Pubkey.from_bytes(data[32:64])),
        amount=struct.unpack_from("<Q", data, 64)[0],
        delegate=_coption_pubkey(data, 72),
        state=state,
        native_reserve=native,
        delegated_amount=struct.unpack_from("<Q", data, 121)[0],
        close_authority=_coption_pubkey(data, 129),
        extensions=extensions,
    )


def parse_mint(data: bytes) -> Mint | None:
    n = len(data)
    extensions: tuple[int, ...] = ()
    if n == MINT_LEN:
        pass
    elif n > ACCOUNT_LEN and data[ACCOUNT_LEN] == _ACCOUNT_TYPE_MINT:
        parsed = _extensions(data)
        if parsed is None:
            return None
        extensions = parsed
    else:
        return None
    if not data[45]:
        return None
    return Mint(
        mint_authority=_coption_pubkey(data, 0),
        supply=struct.unpack_from("<Q", data, 36)[0],
        decimals=data[44],
        is_initialized=True,
        freeze_authority=_coption_pubkey(data, 46),
        extensions=extensions,
    )


def ui_amount_string(amount: int, decimals: int) -> str:
    """`real_number_string_trimmed` of the RPC: exact decimal text, trailing zeros dropped."""
    if decimals == 0:
        return str(amount)
    text = str(amount).rjust(decimals + 1, "0")
    whole, frac = text[:-decimals], text[-decimals:].rstrip("0")
    return f"{whole}.{frac}" if frac else whole


def ui_token_amount(amount: int, decimals: int, *, zero_as_null: bool = False) -> dict[str, Any]:
    """A UiTokenAmount. Transaction metadata read back from the ledger reports a zero balance
    with `uiAmount: null` (the stored protobuf has no null), so callers pass zero_as_null."""
    ui: float | None = amount / 10**decimals
    if zero_as_null and amount == 0:
        ui = None
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": ui,
        "uiAmountString": ui_amount_string(amount, decimals),
    }


def parsed_token_data(program: str, data: bytes, decimals_of: Any) -> dict[str, Any] | None:
    """`jsonParsed` account data for a token program account, None when not parsable.

    `decimals_of(mint) -> int | None` supplies the mint decimals a token account needs.
    """
    info: dict[str, Any]
    account = parse_token_account(data)
    if account is not None:
        decimals = decimals_of(account.mint)
        if decimals is None:
            return None
        info = {
            "isNative": account.native_reserve is not None,
            "mint": account.mint,
            "owner": account.owner,
            "state": _STATES.get(account.state, "uninitialized"),
            "tokenAmount": ui_token_amount(account.amount, decimals),
        }
        if account.delegate is not None:
            info["delegate"] = account.delegate
            info["delegatedAmount"] = ui_token_amount(account.delegated_amount, decimals)
        if account.native_reserve is not None:
            info["rentExemptReserve"] = ui_token_amount(account.native_reserve, decimals)
        if account.close_authority is not None:
            info["closeAuthority"] = account.close_authority
        if account.extensions:
            info["extensions"] = [_ui_extension(e) for e in account.extensions]
        kind = "account"
    else:
        mint = parse_mint(data)
        if mint is None:
            return None
        info = {
            "decimals": mint.decimals,
            "freezeAuthority": mint.freeze_authority,
            "isInitialized": mint.is_initialized,
            "mintAuthority": mint.mint_authority,
            "supply": str(mint.supply),
        }
        if mint.extensions:
            info["extensions"] = [_ui_extension(e) for e in mint.extensions]
        kind = "mint"
    return {
        "program": PROGRAM_NAMES[program],
        "parsed": {"info": info, "type": kind},
        "space": len(data),
    }


def _ui_extension(ext_type: int) -> dict[str, Any]:
    name = EXTENSION_NAMES.get(ext_type)
    if name is None:
        return {"extension": "unparseableExtension"}
    if name in ("immutableOwner", "nonTransferable", "nonTransferableAccount"):
        return {"extension": name}
    # Extension state is not decoded here; the name is what clients branch on.
    return {"extension": name, "state": {}}


def mint_data(authority: Pubkey, supply: int, decimals: int) -> bytes:
    """An initialized mint: mint authority set, no freeze authority."""
    return (
        struct.pack("<I", 1)
        + bytes(authority)
        + struct.pack("<QBB", supply, decimals, 1)
        + struct.pack("<I", 0)
        + bytes(32)
    )


def token_account_data(mint: Pubkey, owner: Pubkey, amount: int, *, token_2022: bool) -> bytes:
    """An initialized token account, shaped like the ATA program creates it: Token-2022
    accounts carry the ImmutableOwner extension."""
    base = (
        bytes(mint)
        + bytes(owner)
        + struct.pack("<Q", amount)
        + struct.pack("<I", 0)
        + bytes(32)
        + bytes([1])  # state: initialized
        + struct.pack("<I", 0)
        + bytes(8)  # is_native: None
        + struct.pack("<Q", 0)  # delegated_amount
        + struct.pack("<I", 0)
        + bytes(32)  # close_authority: None
    )
    if not token_2022:
        return base
    return base + bytes([_ACCOUNT_TYPE_ACCOUNT]) + struct.pack("<HH", EXTENSION_IMMUTABLE_OWNER, 0)
