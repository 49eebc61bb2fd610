"""TRON's resource model, Stake 2.0: staking TRX for energy (FreezeBalanceV2), lending that
energy to another account (DelegateResource) and taking it back (UnDelegateResource).

tronpy builds these contracts but its protobuf module lacks their messages, so their ids
can't be computed offline there: they are encoded here (java-tron's Contract.proto field
numbers), and `check_resource_call` checks a built one before anything signs it. Pure code.
"""

from __future__ import annotations

import hashlib
from typing import Any

from google.protobuf import any_pb2
from tronpy.proto import tron_pb2

FREEZE = "FreezeBalanceV2Contract"
DELEGATE = "DelegateResourceContract"
UNDELEGATE = "UnDelegateResourceContract"
CONTRACTS = (FREEZE, DELEGATE, UNDELEGATE)
RESOURCE_CODES = {"BANDWIDTH": 0, "ENERGY": 1, "TRON_POWER": 2}
TYPE_URL = "type.googleapis.com/protocol."
MIN_DELEGATION_SUN = 1_000_000  # java-tron refuses to delegate less than 1 TRX


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # int64 on the wire: two's complement
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    """One proto3 field; a zero or empty value is absent, as proto3 encodes it."""
    if not value:
        return b""
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


def _address(value: dict[str, Any], key: str) -> bytes:
    return bytes.fromhex(str(value.get(key) or ""))


def contract_bytes(ctype: str, value: dict[str, Any]) -> bytes:
    """The contract message of a resource call, from tronpy's JSON (hex addresses)."""
    resource = RESOURCE_CODES[str(value.get("resource") or "BANDWIDTH")]
    owner = _field(1, _address(value, "owner_address"))
    if ctype == FREEZE:
        return owner + _field(2, int(value.get("frozen_balance") or 0)) + _field(3, resource)
    body = (
        owner
        + _field(2, resource)
        + _field(3, int(value.get("balance") or 0))
        + _field(4, _address(value, "receiver_address"))
    )
    if ctype == DELEGATE:
        body += _field(5, int(bool(value.get("lock")))) + _field(
            6, int(value.get("lock_period") or 0)
        )
    return body


def raw_bytes(raw_data: dict[str, Any]) -> bytes:
    """`Transaction.raw` of a resource call: the bytes its id hashes and its signature covers."""
    [contract] = raw_data["contract"]
    ctype = contract["type"]
    raw = tron_pb2.Transaction.raw(
        ref_block_bytes=bytes.fromhex(raw_data["ref_block_bytes"]),
        ref_block_num=int(raw_data.get("ref_block_num") or 0),
        ref_block_hash=bytes.fromhex(raw_data["ref_block_hash"]),
        expiration=int(raw_data["expiration"]),
        contract=[
            tron_pb2.Transaction.Contract(
                type=tron_pb2.Transaction.Contract.ContractType.Value(ctype),
                parameter=any_pb2.Any(
                    type_url=TYPE_URL + ctype,
                    value=contract_bytes(ctype, contract["parameter"]["value"]),
                ),
                Permission_id=int(contract.get("Permission_id") or 0),
            )
        ],
        timestamp=int(raw_data.get("timestamp") or 0),
        fee_limit=int(raw_data.get("fee_limit") or 0),
    )
    return bytes(raw.SerializeToString())


def txid(raw_data: dict[str, Any]) -> str:
    return hashlib.sha256(raw_bytes(raw_data)).hexdigest()


def is_resource_call(raw_data: dict[str, Any]) -> bool:
    contracts = raw_data.get("contract") or []
    return len(contracts) == 1 and contracts[0].get("type") in CONTRACTS


def check_resource_call(
    raw_data: dict[str, Any], *, ctype: str, owner_hex: str, receiver_hex: str, balance: int
) -> None:
    """Raise ValueError unless `raw_data` is exactly this energy delegation (or its undoing):
    `balance` sun of `owner`'s stake for `receiver`, unlocked, and nothing else."""
    want = {
        "owner_address": owner_hex,
        "receiver_address": receiver_hex,
        "balance": balance,
        "resource": "ENERGY",
    }
    contracts = raw_data.get("contract") or []
    got = None
    if len(contracts) == 1 and contracts[0].get("type") == ctype:
        value = contracts[0]["parameter"]["value"]
        got = {k: v for k, v in value.items() if v not in (0, "", None, False)}
    if got != want or raw_data.get("data"):
        raise ValueError(f"the built {ctype} is not the one asked for ({got}): refusing to sign")


def delegation_for(energy: int, total_limit: int, total_weight: int) -> int:
    """The stake, in sun (whole TRX, at least 1), whose energy covers `energy`: what
    `DelegateResource.balance` must be. One staked TRX yields total_limit / total_weight
    energy a day (getaccountresource's TotalEnergyLimit and TotalEnergyWeight)."""
    trx = -(-energy * total_weight // max(total_limit, 1))
    return max(trx * 1_000_000, MIN_DELEGATION_SUN)


def stake_in_use(energy_used: int, total_limit: int, total_weight: int) -> int:
    """The sun of stake an account's own energy use holds: java-tron lends only the rest."""
    return -(-energy_used * total_weight // max(total_limit, 1)) * 1_000_000
