"""`jsonParsed` instruction decoding, shaped like the node's `solana-transaction-status` parsers.

Covers the programs a wallet service meets: System, SPL Token / Token-2022 (the base
instruction set), Associated Token Account and Memo. Anything else, or anything these cannot
decode, is returned "partially decoded" (program id, account list, base58 data) exactly as the
node does for programs it has no parser for.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import base58
from solders.pubkey import Pubkey

from devnet.solana.tokens import EXTENSION_NAMES, TOKEN_PROGRAMS, ui_token_amount

SYSTEM_PROGRAM = "11111111111111111111111111111111"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
MEMO_PROGRAMS = frozenset(
    {"Memo1UhkJRfHyvLMcVucJwxXeuD728EqVDDwQDxFMNo", "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"}
)


class _NotParsable(Exception):
    pass


def _key(keys: Sequence[str], accounts: Sequence[int], position: int) -> str:
    if position >= len(accounts) or accounts[position] >= len(keys):
        raise _NotParsable
    return keys[accounts[position]]


def _need(accounts: Sequence[int], n: int) -> None:
    if len(accounts) < n:
        raise _NotParsable


def _u64(data: bytes, offset: int) -> int:
    if len(data) < offset + 8:
        raise _NotParsable
    return int(struct.unpack_from("<Q", data, offset)[0])


def _pubkey(data: bytes, offset: int) -> str:
    if len(data) < offset + 32:
        raise _NotParsable
    return str(Pubkey.from_bytes(data[offset : offset + 32]))


def _rust_string(data: bytes, offset: int) -> tuple[str, int]:
    length = _u64(data, offset)
    start = offset + 8
    if len(data) < start + length:
        raise _NotParsable
    return data[start : start + length].decode("utf-8", "replace"), start + length


def _system(data: bytes, accounts: Sequence[int], keys: Sequence[str]) -> dict[str, Any]:
    if len(data) < 4:
        raise _NotParsable
    tag = struct.unpack_from("<I", data, 0)[0]
    k = lambda i: _key(keys, accounts, i)  # noqa: E731
    if tag == 0:
        _need(accounts, 2)
        info = {
            "source": k(0),
            "newAccount": k(1),
            "lamports": _u64(data, 4),
            "space": _u64(data, 12),
            "owner": _pubkey(data, 20),
        }
        return {"type": "createAccount", "info": info}
    if tag == 1:
        _need(accounts, 1)
        return {"type": "assign", "info": {"account": k(0), "owner": _pubkey(data, 4)}}
    if tag == 2:
        _need(accounts, 2)
        info = {"source": k(0), "destination": k(1), "lamports": _u64(data, 4)}
        return {"type": "transfer", "info": info}
    if tag == 3:
        _need(accounts, 2)
        base = _pubkey(data, 4)
        seed, pos = _rust_string(data, 36)
        info = {
            "source": k(0),
            "newAccount": k(1),
            "base": base,
            "seed": seed,
            "lamports": _u64(data, pos),
            "space": _u64(data, pos + 8),
            "owner": _pubkey(data, pos + 16),
        }
        return {"type": "createAccountWithSeed", "info": info}
    if tag == 4:
        _need(accounts, 3)
        info = {"nonceAccount": k(0), "recentBlockhashesSysvar": k(1), "nonceAuthority": k(2)}
        return {"type": "advanceNonce", "info": info}
    if tag == 5:
        _need(accounts, 5)
        info = {
            "nonceAccount": k(0),
            "destination": k(1),
            "recentBlockhashesSysvar": k(2),
            "rentSysvar": k(3),
            "nonceAuthority": k(4),
            "lamports": _u64(data, 4),
        }
        return {"type": "withdrawFromNonce", "info": info}
    if tag == 6:
        _need(accounts, 3)
        info = {
            "nonceAccount": k(0),
            "recentBlockhashesSysvar": k(1),
            "rentSysvar": k(2),
            "nonceAuthority": _pubkey(data, 4),
        }
        return {"type": "initializeNonce", "info": info}
    if tag == 7:
        _need(accounts, 2)
        info = {"nonceAccount": k(0), "nonceAuthority": k(1), "newAuthorized": _pubkey(data, 4)}
        return {"type": "authorizeNonce", "info": info}
    if tag == 8:
        _need(accounts, 1)
        return {"type": "allocate", "info": {"account": k(0), "space": _u64(data, 4)}}
    if tag == 12:
        _need(accounts, 1)
        return {"type": "upgradeNonce", "info": {"nonceAccount": k(0)}}
    raise _NotParsable


def _signers(
    info: dict[str, Any],
    last_nonsigner: int,
    keys: Sequence[str],
    accounts: Sequence[int],
    single: str,
    multisig: str,
) -> dict[str, Any]:
    """The node's `parse_signers`: extra trailing accounts mean a multisig authority."""
    if len(accounts) > last_nonsigner + 1:
        info[multisig] = _key(keys, accounts, last_nonsigner)
        info["signers"] = [
            _key(keys, accounts, i) for i in range(last_nonsigner + 1, len(accounts))
        ]
    else:
        info[single] = _key(keys, accounts, last_nonsigner)
    return info


def _token(data: bytes, accounts: Sequence[int], keys: Sequence[str]) -> dict[str, Any]:
    if not data:
        raise _NotParsable
    tag = data[0]
    k = lambda i: _key(keys, accounts, i)  # noqa: E731
    amount = lambda: str(_u64(data, 1))  # noqa: E731

    def checked() -> dict[str, Any]:
        if len(data) < 10:
            raise _NotParsable
        return ui_token_amount(_u64(data, 1), data[9])

    def coption(offset: int) -> str | None:
        if len(data) <= offset:
            raise _NotParsable
        return _pubkey(data, offset + 1) if data[offset] == 1 else None

    if tag in (0, 20):  # InitializeMint / InitializeMint2
        _need(accounts, 2 if tag == 0 else 1)
        if len(data) < 35:
            raise _NotParsable
        info: dict[str, Any] = {
            "mint": k(0),
            "decimals": data[1],
            "mintAuthority": _pubkey(data, 2),
        }
        if tag == 0:
            info["rentSysvar"] = k(1)
        freeze = coption(34)
        if freeze is not None:
            info["freezeAuthority"] = freeze
        return {"type": "initializeMint" if tag == 0 else "initializeMint2", "info": info}
    if tag == 1:
        _need(accounts, 4)
        info = {"account": k(0), "mint": k(1), "owner": k(2), "rentSysvar": k(3)}
        return {"type": "initializeAccount", "info": info}
    if tag == 16:
        _need(accounts, 3)
        info = {"account": k(0), "mint": k(1), "owner": _pubkey(data, 1), "rentSysvar": k(2)}
        return {"type": "initializeAccount2", "info": info}
    if tag == 18:
        _need(accounts, 2)
        info = {"account": k(0), "mint": k(1), "owner": _pubkey(data, 1)}
        return {"type": "initializeAccount3", "info": info}
    if tag == 3:
        _need(accounts, 3)
        info = {"source": k(0), "destination": k(1), "amount": amount()}
        return {
            "type": "transfer",
            "info": _signers(info, 2, keys, accounts, "authority", "multisigAuthority"),
        }
    if tag == 4:
        _need(accounts, 3)
        info = {"source": k(0), "delegate": k(1), "amount": amount()}
        return {
            "type": "approve",
            "info": _signers(info, 2, keys, accounts, "owner", "multisigOwner"),
        }
    if tag == 5:
        _need(accounts, 2)
        info = {"source": k(0)}
        return {
            "type": "revoke",
            "info": _signers(info, 1, keys, accounts, "owner", "multisigOwner"),
        }
    if tag == 7:
        _need(accounts, 3)
        info = {"mint": k(0), "account": k(1), "amount": amount()}
        return {
            "type": "mintTo",
            "info": _signers(info, 2, keys, accounts, "mintAuthority", "multisigMintAuthority"),
        }
    if tag == 8:
        _need(accounts, 3)
        info = {"account": k(0), "mint": k(1), "amount": amount()}
        return {
            "type": "burn",
            "info": _signers(info, 2, keys, accounts, "authority", "multisigAuthority"),
        }
    if tag == 9:
        _need(accounts, 3)
        info = {"account": k(0), "destination": k(1)}
        return {
            "type": "closeAccount",
            "info": _signers(info, 2, keys, accounts, "owner", "multisigOwner"),
        }
    if tag in (10, 11):
        _need(accounts, 3)
        info = {"account": k(0), "mint": k(1)}
        return {
            "type": "freezeAccount" if tag == 10 else "thawAccount",
            "info": _signers(info, 2, keys, accounts, "freezeAuthority", "multisigFreezeAuthority"),
        }
    if tag == 12:
        _need(accounts, 4)
        info = {"source": k(0), "mint": k(1), "destination": k(2), "tokenAmount": checked()}
        return {
            "type": "transferChecked",
            "info": _signers(info, 3, keys, accounts, "authority", "multisigAuthority"),
        }
    if tag == 13:
        _need(accounts, 4)
        info = {"source": k(0), "mint": k(1), "delegate": k(2), "tokenAmount": checked()}
        return {
            "type": "approveChecked",
            "info": _signers(info, 3, keys, accounts, "owner", "multisigOwner"),
        }
    if tag == 14:
        _need(accounts, 3)
        info = {"mint": k(0), "account": k(1), "tokenAmount": checked()}
        return {
            "type": "mintToChecked",
            "info": _signers(info, 2, keys, accounts, "mintAuthority", "multisigMintAuthority"),
        }
    if tag == 15:
        _need(accounts, 3)
        info = {"account": k(0), "mint": k(1), "tokenAmount": checked()}
        return {
            "type": "burnChecked",
            "info": _signers(info, 2, keys, accounts, "authority", "multisigAuthority"),
        }
    if tag == 17:
        _need(accounts, 1)
        return {"type": "syncNative", "info": {"account": k(0)}}
    if tag == 21:
        _need(accounts, 1)
        info = {"mint": k(0)}
        ext = data[1:]
        if len(ext) % 2:
            raise _NotParsable
        types = [struct.unpack_from("<H", ext, i)[0] for i in range(0, len(ext), 2)]
        if types:
            info["extensionTypes"] = [EXTENSION_NAMES.get(t, "unparseableExtension") for t in types]
        return {"type": "getAccountDataSize", "info": info}
    if tag == 22:
        _need(accounts, 1)
        return {"type": "initializeImmutableOwner", "info": {"account": k(0)}}
    if tag == 23:
        _need(accounts, 1)
        return {"type": "amountToUiAmount", "info": {"mint": k(0), "amount": amount()}}
    raise _NotParsable


def _ata(data: bytes, accounts: Sequence[int], keys: Sequence[str]) -> dict[str, Any]:
    kind = {b"": "create", b"\x00": "create", b"\x01": "createIdempotent"}.get(bytes(data))
    if kind is None:
        raise _NotParsable
    _need(accounts, 6)
    k = lambda i: _key(keys, accounts, i)  # noqa: E731
    info = {
        "source": k(0),
        "account": k(1),
        "wallet": k(2),
        "mint": k(3),
        "systemProgram": k(4),
        "tokenProgram": k(5),
    }
    return {"type": kind, "info": info}


def parse_instruction(
    program_id: str,
    accounts: Sequence[int],
    data: bytes,
    keys: Sequence[str],
    stack_height: int | None,
) -> dict[str, Any]:
    """One `jsonParsed` instruction: parsed when the program is known, partially decoded
    otherwise. `accounts` are indexes into `keys` (static keys then loaded addresses)."""
    parsed: Any = None
    program = None
    try:
        if any(i >= len(keys) for i in accounts):
            raise _NotParsable
        if program_id == SYSTEM_PROGRAM:
            program, parsed = "system", _system(data, accounts, keys)
        elif program_id in TOKEN_PROGRAMS:
            program, parsed = "spl-token", _token(data, accounts, keys)
        elif program_id == ATA_PROGRAM:
            program, parsed = "spl-associated-token-account", _ata(data, accounts, keys)
        elif program_id in MEMO_PROGRAMS:
            program, parsed = "spl-memo", data.decode("utf-8")
    except (_NotParsable, UnicodeDecodeError, struct.error, ValueError):
        program = None
    if program is not None:
        return {
            "parsed": parsed,
            "program": program,
            "programId": program_id,
            "stackHeight": stack_height,
        }
    return {
        "accounts": [keys[i] for i in accounts if i < len(keys)],
        "data": base58.b58encode(data).decode(),
        "programId": program_id,
        "stackHeight": stack_height,
    }


def memo_of(instructions: Sequence[tuple[str, bytes]]) -> str | None:
    """The `memo` field of getSignaturesForAddress: every memo instruction, `[len] text`."""
    memos = [
        f"[{len(data)}] {data.decode('utf-8', 'replace')}"
        for program_id, data in instructions
        if program_id in MEMO_PROGRAMS
    ]
    return "; ".join(memos) if memos else None
