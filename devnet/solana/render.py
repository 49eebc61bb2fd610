"""Wire shapes of accounts and transactions, as the node's `solana-account-decoder` and
`solana-transaction-status` encode them (json, jsonParsed, base64, base58)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import base58
from solders.account import Account
from solders.message import Message

from devnet.solana import tokens
from devnet.solana.chain import TxRecord
from devnet.solana.errors import (
    INVALID_REQUEST,
    UNSUPPORTED_TRANSACTION_VERSION,
    RpcError,
    invalid_params,
)
from devnet.solana.instructions import parse_instruction

MAX_BASE58_BYTES = 128

# Reserved account keys (builtins and sysvars) are never writable at runtime, even when the
# message header marks them so; jsonParsed `writable` reports the runtime view.
RESERVED_KEYS = frozenset(
    {
        "11111111111111111111111111111111",
        "Vote111111111111111111111111111111111111111",
        "Stake11111111111111111111111111111111111111",
        "Config1111111111111111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
        "LoaderV411111111111111111111111111111111111",
        "ComputeBudget111111111111111111111111111111",
        "AddressLookupTab1e1111111111111111111111111",
        "Ed25519SigVerify111111111111111111111111111",
        "KeccakSecp256k11111111111111111111111111111",
        "Secp256r1SigVerify1111111111111111111111111",
        "NativeLoader1111111111111111111111111111111",
        "Feature111111111111111111111111111111111111",
        "SysvarC1ock11111111111111111111111111111111",
        "SysvarEpochSchedu1e111111111111111111111111",
        "SysvarFees111111111111111111111111111111111",
        "SysvarRecentB1ockHashes11111111111111111111",
        "SysvarRent111111111111111111111111111111111",
        "SysvarRewards111111111111111111111111111111",
        "SysvarS1otHashes111111111111111111111111111",
        "SysvarS1otHistory11111111111111111111111111",
        "SysvarStakeHistory1111111111111111111111111",
        "Sysvar1nstructions1111111111111111111111111",
        "SysvarEpochRewards1111111111111111111111111",
        "SysvarLastRestartS1ot1111111111111111111111",
    }
)
UPGRADEABLE_LOADER = "BPFLoaderUpgradeab1e11111111111111111111111"


def encode_account(
    account: Account,
    encoding: str,
    data_slice: dict[str, Any] | None,
    decimals_of: Callable[[str], int | None],
) -> dict[str, Any]:
    raw = bytes(account.data)
    owner = str(account.owner)
    data: Any = None
    if encoding == "jsonParsed":
        if owner in tokens.TOKEN_PROGRAMS:
            data = tokens.parsed_token_data(owner, raw, decimals_of)
        if data is None:
            encoding = "base64"  # the node falls back to base64 for unparsable accounts
    if data is None:
        if data_slice:
            offset = int(data_slice.get("offset", 0))
            length = int(data_slice.get("length", 0))
            raw = raw[offset : offset + length]
        if encoding == "base64":
            data = [base64.b64encode(raw).decode(), "base64"]
        elif encoding in ("base58", "binary"):
            if len(raw) > MAX_BASE58_BYTES:
                raise RpcError(
                    INVALID_REQUEST,
                    "Encoded binary (base 58) data should be less than 128 bytes, please use "
                    "Base64 encoding.",
                )
            text = base58.b58encode(raw).decode()
            data = [text, "base58"] if encoding == "base58" else text
        else:
            raise invalid_params(f"Invalid params: unsupported account encoding {encoding!r}")
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": owner,
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def _token_balances(rows: list[list[Any]]) -> list[dict[str, Any]]:
    return [
        {
            "accountIndex": index,
            "mint": mint,
            "owner": owner,
            "programId": program,
            "uiTokenAmount": tokens.ui_token_amount(amount, decimals, zero_as_null=True),
        }
        for index, mint, owner, program, amount, decimals in rows
    ]


def writable_flags(record: TxRecord) -> list[bool]:
    """Runtime writability of every account key (static, then loaded)."""
    message = record.tx.message
    header = message.header
    static = len(message.account_keys)
    signed = header.num_required_signatures
    flags = []
    for i in range(static):
        if i < signed:
            flags.append(i < signed - header.num_readonly_signed_accounts)
        else:
            flags.append(i < static - header.num_readonly_unsigned_accounts)
    flags += [True] * len(record.meta["lw"]) + [False] * len(record.meta["lr"])
    keys = record.keys
    invoked = {ix.program_id_index for ix in message.instructions}
    demote_programs = UPGRADEABLE_LOADER not in keys
    return [
        flag and keys[i] not in RESERVED_KEYS and not (demote_programs and i in invoked)
        for i, flag in enumerate(flags)
    ]


def _inner(record: TxRecord, parsed: bool) -> list[dict[str, Any]]:
    keys = record.keys
    out = []
    for index, group in record.meta["inner"]:
        if parsed:
            instructions = [
                parse_instruction(keys[pidx], accounts, base58.b58decode(data), keys, stack)
                for pidx, accounts, data, stack in group
            ]
        else:
            instructions = [
                {"accounts": accounts, "data": data, "programIdIndex": pidx, "stackHeight": stack}
                for pidx, accounts, data, stack in group
            ]
        out.append({"index": index, "instructions": instructions})
    return out


def render_meta(record: TxRecord, parsed: bool) -> dict[str, Any]:
    meta = record.meta
    err = meta["err"]
    out: dict[str, Any] = {
        "computeUnitsConsumed": meta["cu"],
        "err": err,
        "fee": meta["fee"],
        "innerInstructions": _inner(record, parsed),
        "logMessages": meta["logs"],
        "postBalances": meta["post"],
        "postTokenBalances": _token_balances(meta["postTok"]),
        "preBalances": meta["pre"],
        "preTokenBalances": _token_balances(meta["preTok"]),
        "rewards": [],
        "status": {"Ok": None} if err is None else {"Err": err},
    }
    if not parsed:
        out["loadedAddresses"] = {"readonly": meta["lr"], "writable": meta["lw"]}
    if meta["ret"] is not None:
        program, data = meta["ret"]
        out["returnData"] = {"data": [data, "base64"], "programId": program}
    return out


def _lookups(message: Any) -> list[dict[str, Any]]:
    return [
        {
            "accountKey": str(lookup.account_key),
            "readonlyIndexes": list(bytes(lookup.readonly_indexes)),
            "writableIndexes": list(bytes(lookup.writable_indexes)),
        }
        for lookup in message.address_table_lookups
    ]


def render_transaction_body(record: TxRecord, encoding: str) -> Any:
    tx = record.tx
    if encoding == "base64":
        return [base64.b64encode(record.raw).decode(), "base64"]
    if encoding == "base58":
        return [base58.b58encode(record.raw).decode(), "base58"]
    if encoding == "binary":
        return base58.b58encode(record.raw).decode()
    message = tx.message
    legacy = isinstance(message, Message)
    signatures = [str(s) for s in tx.signatures]
    if encoding == "json":
        header = message.header
        body: dict[str, Any] = {
            "accountKeys": [str(k) for k in message.account_keys],
            "header": {
                "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts,
                "numRequiredSignatures": header.num_required_signatures,
            },
            "instructions": [
                {
                    "accounts": list(bytes(ix.accounts)),
                    "data": base58.b58encode(bytes(ix.data)).decode(),
                    "programIdIndex": ix.program_id_index,
                    "stackHeight": None,
                }
                for ix in message.instructions
            ],
            "recentBlockhash": str(message.recent_blockhash),
        }
    else:  # jsonParsed
        keys = record.keys
        static = len(message.account_keys)
        writable = writable_flags(record)
        signed = message.header.num_required_signatures
        body = {
            "accountKeys": [
                {
                    "pubkey": key,
                    "signer": i < signed,
                    "source": "transaction" if i < static else "lookupTable",
                    "writable": writable[i],
                }
                for i, key in enumerate(keys)
            ],
            "instructions": [
                parse_instruction(
                    keys[ix.program_id_index], list(bytes(ix.accounts)), bytes(ix.data), keys, None
                )
                for ix in message.instructions
            ],
            "recentBlockhash": str(message.recent_blockhash),
        }
    if not legacy:
        body["addressTableLookups"] = _lookups(message)
    return {"message": body, "signatures": signatures}


def render_transaction(
    record: TxRecord, encoding: str, max_supported_version: int | None
) -> dict[str, Any]:
    """getTransaction's result for a landed transaction."""
    legacy = isinstance(record.tx.message, Message)
    if not legacy and (max_supported_version is None or max_supported_version < 0):
        raise RpcError(
            UNSUPPORTED_TRANSACTION_VERSION,
            "Transaction version (0) is not supported by the requesting client. Please try the "
            "request again with the following configuration parameter: "
            '"maxSupportedTransactionVersion": 0',
        )
    if encoding not in ("json", "jsonParsed", "base64", "base58", "binary"):
        raise invalid_params(f"Invalid params: unknown variant `{encoding}`")
    result: dict[str, Any] = {
        "blockTime": record.block_time,
        "meta": render_meta(record, encoding == "jsonParsed"),
        "slot": record.slot,
        "transaction": render_transaction_body(record, encoding),
    }
    if max_supported_version is not None:
        result["version"] = "legacy" if legacy else 0
    return result


def render_inner_parsed(
    inner: Sequence[Sequence[Any]], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """simulateTransaction's innerInstructions (always parsed, as the node does)."""
    return [
        {
            "index": index,
            "instructions": [
                parse_instruction(keys[pidx], accounts, data, keys, stack)
                for pidx, accounts, data, stack in group
            ],
        }
        for index, group in inner
    ]
