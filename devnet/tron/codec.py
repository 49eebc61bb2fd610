"""Transactions between their three shapes: java-tron JSON, protobuf bytes and our parsed form.

java-tron's `broadcasttransaction` ignores the client's `txID` (and `raw_data_hex`): it re-encodes
the `raw_data` JSON into the protobuf `Transaction.raw` and hashes those bytes. We do the same with
tronpy's own protobuf classes, so a client whose offline txID disagrees with the node (a memo, a
missing field) gets the SIGERROR a real node would give. For `broadcasthex` the bytes are the
authority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2
from google.protobuf.message import DecodeError
from tronpy.proto import tron_pb2

from devnet.tron.crypto import format_address, parse_address, sha256

TYPE_URL_PREFIX = "type.googleapis.com/protocol."
TRANSFER = "TransferContract"
TRIGGER = "TriggerSmartContract"
# Stake 2.0 (the resource model). tronpy's protobuf module has their ContractType values but
# not their messages: they are encoded and decoded by hand below (Contract.proto numbers).
FREEZE = "FreezeBalanceV2Contract"
DELEGATE = "DelegateResourceContract"
UNDELEGATE = "UnDelegateResourceContract"
RESOURCE_CALLS = (FREEZE, DELEGATE, UNDELEGATE)
RESOURCES = ("BANDWIDTH", "ENERGY", "TRON_POWER")
# Bandwidth charges the signed transaction plus room for its result (MAX_RESULT_SIZE_IN_TX).
MAX_RESULT_SIZE_IN_TX = 64

_ContractType = tron_pb2.Transaction.Contract.ContractType


class TxFormatError(ValueError):
    """JSON or bytes that do not form a transaction; java-tron answers {"Error": ...}."""


@dataclass(slots=True)
class ParsedTx:
    """The fields of a transaction's raw_data that the devnet reads. Only the first contract
    is decoded: java-tron refuses transactions with any other count anyway."""

    raw: bytes
    txid: str
    contract_count: int = 0
    ctype: str = ""
    type_url: str = ""
    permission_id: int = 0
    owner: bytes = b""
    to: bytes = b""
    amount: int = 0
    contract_address: bytes = b""
    call_value: int = 0
    call_token_value: int = 0
    token_id: int = 0
    call_data: bytes = b""
    ref_block_bytes: bytes = b""
    ref_block_num: int = 0
    ref_block_hash: bytes = b""
    expiration: int = 0
    timestamp: int = 0
    fee_limit: int = 0
    memo: bytes = b""
    # Resource calls: `amount` is the frozen or delegated balance, `to` the receiver.
    resource: str = "BANDWIDTH"
    lock: bool = False


def _int(value: Any, name: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise TxFormatError(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise TxFormatError(f"{name} must be an integer, got {value!r}") from exc


def _hex(value: Any, name: str) -> bytes:
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise TxFormatError(f"{name} must be a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise TxFormatError(f"{name} is not valid hex: {value!r}") from exc


def _address(value: Mapping[str, Any], key: str, visible: bool) -> bytes:
    text = value.get(key)
    if text is None or text == "":
        return b""
    try:
        return parse_address(text, visible)
    except ValueError as exc:
        raise TxFormatError(f"{key}: {exc}") from exc


def raw_from_json(raw_data: Mapping[str, Any], visible: bool) -> bytes:
    """Encode java-tron's `raw_data` JSON into `Transaction.raw` bytes (the txID preimage)."""
    if not isinstance(raw_data, Mapping):
        raise TxFormatError("raw_data must be an object")
    contracts = []
    for item in raw_data.get("contract") or []:
        if not isinstance(item, Mapping):
            raise TxFormatError("contract entries must be objects")
        ctype = item.get("type")
        parameter = item.get("parameter") or {}
        value = parameter.get("value") or {}
        inner: Any
        if ctype == TRANSFER:
            inner = tron_pb2.TransferContract(
                owner_address=_address(value, "owner_address", visible),
                to_address=_address(value, "to_address", visible),
                amount=_int(value.get("amount"), "amount"),
            )
        elif ctype == TRIGGER:
            inner = tron_pb2.TriggerSmartContract(
                owner_address=_address(value, "owner_address", visible),
                contract_address=_address(value, "contract_address", visible),
                call_value=_int(value.get("call_value"), "call_value"),
                data=_hex(value.get("data"), "data"),
                call_token_value=_int(value.get("call_token_value"), "call_token_value"),
                token_id=_int(value.get("token_id"), "token_id"),
            )
        elif ctype in RESOURCE_CALLS:
            inner = _ResourceCall(ctype, value, visible)
        else:
            raise TxFormatError(
                f"contract type {ctype!r} is not supported by the devnet "
                f"(only {TRANSFER}, {TRIGGER} and {', '.join(RESOURCE_CALLS)})"
            )
        contracts.append(
            tron_pb2.Transaction.Contract(
                type=_ContractType.Value(ctype),
                parameter=any_pb2.Any(
                    type_url=parameter.get("type_url") or TYPE_URL_PREFIX + ctype,
                    value=inner.SerializeToString(),
                ),
                Permission_id=_int(item.get("Permission_id"), "Permission_id"),
            )
        )
    raw = tron_pb2.Transaction.raw(
        ref_block_bytes=_hex(raw_data.get("ref_block_bytes"), "ref_block_bytes"),
        ref_block_num=_int(raw_data.get("ref_block_num"), "ref_block_num"),
        ref_block_hash=_hex(raw_data.get("ref_block_hash"), "ref_block_hash"),
        expiration=_int(raw_data.get("expiration"), "expiration"),
        data=_hex(raw_data.get("data"), "data"),
        contract=contracts,
        timestamp=_int(raw_data.get("timestamp"), "timestamp"),
        fee_limit=_int(raw_data.get("fee_limit"), "fee_limit"),
    )
    return bytes(raw.SerializeToString())


def parse_raw(raw: bytes) -> ParsedTx:
    """Decode `Transaction.raw` bytes; the txID is sha256 of exactly these bytes."""
    try:
        msg = tron_pb2.Transaction.raw.FromString(raw)
    except DecodeError as exc:
        raise TxFormatError(f"raw_data does not decode: {exc}") from exc
    tx = ParsedTx(
        raw=raw,
        txid=sha256(raw).hex(),
        contract_count=len(msg.contract),
        ref_block_bytes=msg.ref_block_bytes,
        ref_block_num=msg.ref_block_num,
        ref_block_hash=msg.ref_block_hash,
        expiration=msg.expiration,
        timestamp=msg.timestamp,
        fee_limit=msg.fee_limit,
        memo=msg.data,
    )
    if not msg.contract:
        return tx
    contract = msg.contract[0]
    try:
        tx.ctype = _ContractType.Name(contract.type)
    except ValueError:
        tx.ctype = f"ContractType{contract.type}"
    tx.type_url = contract.parameter.type_url
    tx.permission_id = contract.Permission_id
    try:
        if tx.ctype == TRANSFER:
            transfer = tron_pb2.TransferContract.FromString(contract.parameter.value)
            tx.owner, tx.to, tx.amount = (
                transfer.owner_address,
                transfer.to_address,
                transfer.amount,
            )
        elif tx.ctype == TRIGGER:
            trigger = tron_pb2.TriggerSmartContract.FromString(contract.parameter.value)
            tx.owner = trigger.owner_address
            tx.contract_address = trigger.contract_address
            tx.call_value = trigger.call_value
            tx.call_data = trigger.data
            tx.call_token_value = trigger.call_token_value
            tx.token_id = trigger.token_id
        elif tx.ctype in RESOURCE_CALLS:
            _parse_resource_call(tx, contract.parameter.value)
    except DecodeError as exc:
        raise TxFormatError(f"contract parameter does not decode: {exc}") from exc
    return tx


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    if not value:
        return b""  # proto3 leaves zero values out
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value & (1 << 64) - 1)


class _ResourceCall:
    """A resource call's message from java-tron JSON, with the one method raw_from_json needs."""

    def __init__(self, ctype: str, value: Mapping[str, Any], visible: bool) -> None:
        resource = str(value.get("resource") or "BANDWIDTH")
        if resource not in RESOURCES:
            raise TxFormatError(f"resource: unknown {resource!r}")
        owner = _field(1, _address(value, "owner_address", visible))
        code = RESOURCES.index(resource)
        if ctype == FREEZE:
            self.body = owner + _field(2, _int(value.get("frozen_balance"), "frozen_balance"))
            self.body += _field(3, code)
            return
        self.body = owner + _field(2, code) + _field(3, _int(value.get("balance"), "balance"))
        self.body += _field(4, _address(value, "receiver_address", visible))
        if ctype == DELEGATE:
            self.body += _field(5, int(bool(value.get("lock"))))
            self.body += _field(6, _int(value.get("lock_period"), "lock_period"))

    def SerializeToString(self) -> bytes:
        return self.body


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data):
            raise DecodeError("truncated varint")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _parse_resource_call(tx: ParsedTx, data: bytes) -> None:
    fields: dict[int, int | bytes] = {}
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at)
        if key & 7 == 0:
            fields[key >> 3], at = _read_varint(data, at)
        elif key & 7 == 2:
            size, at = _read_varint(data, at)
            fields[key >> 3], at = data[at : at + size], at + size
        else:
            raise DecodeError(f"unexpected wire type {key & 7}")
    owner = fields.get(1, b"")
    tx.owner = owner if isinstance(owner, bytes) else b""
    code_field, amount_field = (3, 2) if tx.ctype == FREEZE else (2, 3)
    code, amount = fields.get(code_field, 0), fields.get(amount_field, 0)
    tx.resource = RESOURCES[code] if isinstance(code, int) and code < len(RESOURCES) else "?"
    tx.amount = amount if isinstance(amount, int) else 0
    receiver = fields.get(4, b"")
    tx.to = receiver if isinstance(receiver, bytes) and tx.ctype != FREEZE else b""
    tx.lock = bool(fields.get(5, 0)) if tx.ctype == DELEGATE else False


def encode_transaction(raw: bytes, signatures: Iterable[bytes]) -> bytes:
    """`Transaction{raw_data=1, signature=2}` bytes, as `broadcasthex` takes them."""
    out = bytearray(b"\x0a" + _varint(len(raw)) + raw)
    for sig in signatures:
        out += b"\x12" + _varint(len(sig)) + sig
    return bytes(out)


def decode_transaction(data: bytes) -> tuple[bytes, list[bytes]]:
    try:
        msg = tron_pb2.Transaction.FromString(data)
    except DecodeError as exc:
        raise TxFormatError(f"transaction does not decode: {exc}") from exc
    return bytes(msg.raw_data.SerializeToString()), [bytes(s) for s in msg.signature]


def bandwidth_size(raw: bytes, signatures: list[bytes]) -> int:
    """Bytes of bandwidth a transaction consumes (java-tron BandwidthProcessor with VM on)."""
    size = 1 + len(_varint(len(raw))) + len(raw)
    for sig in signatures:
        size += 1 + len(_varint(len(sig))) + len(sig)
    return size + MAX_RESULT_SIZE_IN_TX


def render_raw(tx: ParsedTx, visible: bool) -> dict[str, Any]:
    """java-tron's JSON for raw_data: proto field names, zero values left out, addresses
    base58 when `visible` and hex otherwise."""

    def put_address(target: dict[str, Any], key: str, address: bytes) -> None:
        if address:
            target[key] = format_address(address, visible)

    value: dict[str, Any] = {}
    if tx.ctype == TRANSFER:
        if tx.amount:
            value["amount"] = tx.amount
        put_address(value, "owner_address", tx.owner)
        put_address(value, "to_address", tx.to)
    elif tx.ctype == TRIGGER:
        if tx.call_data:
            value["data"] = tx.call_data.hex()
        put_address(value, "owner_address", tx.owner)
        put_address(value, "contract_address", tx.contract_address)
        for key, number in (
            ("call_value", tx.call_value),
            ("call_token_value", tx.call_token_value),
            ("token_id", tx.token_id),
        ):
            if number:
                value[key] = number
    elif tx.ctype in RESOURCE_CALLS:
        put_address(value, "owner_address", tx.owner)
        if tx.amount:
            value["frozen_balance" if tx.ctype == FREEZE else "balance"] = tx.amount
        if tx.resource != "BANDWIDTH":
            value["resource"] = tx.resource
        put_address(value, "receiver_address", tx.to)
        if tx.lock:
            value["lock"] = True
    raw: dict[str, Any] = {}
    if tx.contract_count:
        contract: dict[str, Any] = {
            "parameter": {"value": value, "type_url": tx.type_url},
            "type": tx.ctype,
        }
        if tx.permission_id:
            contract["Permission_id"] = tx.permission_id
        raw["contract"] = [contract]
    if tx.ref_block_bytes:
        raw["ref_block_bytes"] = tx.ref_block_bytes.hex()
    if tx.ref_block_num:
        raw["ref_block_num"] = tx.ref_block_num
    if tx.ref_block_hash:
        raw["ref_block_hash"] = tx.ref_block_hash.hex()
    if tx.expiration:
        raw["expiration"] = tx.expiration
    if tx.memo:
        raw["data"] = tx.memo.hex()
    if tx.timestamp:
        raw["timestamp"] = tx.timestamp
    if tx.fee_limit:
        raw["fee_limit"] = tx.fee_limit
    return raw


def encode_block_header_raw(
    *,
    number: int,
    timestamp: int,
    tx_root: bytes,
    parent_hash: bytes,
    witness_address: bytes,
    version: int,
) -> bytes:
    """`BlockHeader.raw` protobuf bytes; the block hash is sha256 of these (java-tron
    BlockCapsule), and the block id replaces its first 8 bytes with the block number."""
    out = bytearray()
    if timestamp:
        out += b"\x08" + _varint(timestamp)
    if tx_root:
        out += b"\x12" + _varint(len(tx_root)) + tx_root
    if parent_hash:
        out += b"\x1a" + _varint(len(parent_hash)) + parent_hash
    if number:
        out += b"\x38" + _varint(number)
    if witness_address:
        out += b"\x4a" + _varint(len(witness_address)) + witness_address
    if version:
        out += b"\x50" + _varint(version)
    return bytes(out)


def merkle_root(leaves: list[bytes]) -> bytes:
    """Binary sha256 tree; an odd node is carried up unchanged. All zeros when empty."""
    if not leaves:
        return bytes(32)
    level = leaves
    while len(level) > 1:
        nxt = [sha256(level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]
