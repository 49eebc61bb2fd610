"""State, validation, execution and block production of the TRON devnet, without HTTP.

Transactions are executed when they are accepted (java-tron does the same on the node that
receives them, in its pending session), so balances move at once; their receipts become
visible when the next block includes them, and the `walletsolidity` view follows `solid_lag`
blocks behind. Validation runs in java-tron's order so that a transaction failing two checks
reports the same error a real node would.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from devnet.tron.codec import (
    DELEGATE,
    FREEZE,
    RESOURCE_CALLS,
    TRANSFER,
    TRIGGER,
    UNDELEGATE,
    ParsedTx,
    bandwidth_size,
    encode_block_header_raw,
    encode_transaction,
    merkle_root,
    parse_raw,
)
from devnet.tron.config import TronDevnetConfig
from devnet.tron.crypto import (
    SignatureError,
    address_of_private_key,
    derive_private_key,
    keccak256,
    recover_signer,
    sha256,
    sign_digest,
    to_base58,
)
from devnet.tron.trc20 import TRANSFER_TOPIC, CallResult, Trc20Token

BLOCK_INTERVAL_MS = 3000  # TRON's slot; bandwidth recovery counts in slots of this length
NET_WINDOW_SLOTS = 28_800  # 24 h
MAX_TIME_UNTIL_EXPIRATION_MS = 24 * 3600 * 1000
TX_ID_CACHE_TTL_MS = 3600 * 1000
TRANSACTION_MAX_BYTE_SIZE = 500 * 1024
BLOCK_VERSION = 30
STATE_FORMAT = 1

SUCCESS = "SUCCESS"
REVERT = "REVERT"
OUT_OF_ENERGY = "OUT_OF_ENERGY"


class Rejection(Exception):
    """A broadcast refused with a java-tron `response_code` and its message text."""

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.detail = detail if detail is not None else message


def contract_validate_error(detail: str) -> Rejection:
    return Rejection("CONTRACT_VALIDATE_ERROR", "Contract validate error : " + detail, detail)


def bandwidth_error() -> Rejection:
    return Rejection("BANDWITH_ERROR", "Account resource insufficient error.")  # sic, java-tron


@dataclass(slots=True)
class Account:
    balance: int = 0
    create_time: int = 0
    free_net_usage: int = 0
    latest_free_slot: int = 0
    latest_op_time: int = 0
    is_contract: bool = False
    # Stake 2.0, energy only: sun staked (FreezeBalanceV2), lent to others and borrowed.
    frozen_energy: int = 0
    delegated_energy: int = 0
    acquired_energy: int = 0
    energy_usage: int = 0
    latest_energy_slot: int = 0

    def snapshot(self) -> list[Any]:
        return [
            self.balance,
            self.create_time,
            self.free_net_usage,
            self.latest_free_slot,
            self.latest_op_time,
            self.is_contract,
            self.frozen_energy,
            self.delegated_energy,
            self.acquired_energy,
            self.energy_usage,
            self.latest_energy_slot,
        ]

    @classmethod
    def restore(cls, values: list[Any]) -> Account:
        return cls(*values)


@dataclass(slots=True)
class TxRecord:
    """An accepted transaction. `info` is its TransactionInfo in java-tron's hex form, without
    the block fields, which come from the block that includes it."""

    tx: ParsedTx
    signatures: list[bytes]
    ret: str
    info: dict[str, Any]
    block: int = -1
    index: int = -1
    # Post-transaction account/token states, replayed into the solid view when the block
    # solidifies and dropped afterwards.
    effects: list[list[Any]] | None = None


@dataclass(slots=True)
class Block:
    number: int
    timestamp: int
    parent_id: bytes
    tx_root: bytes
    block_id: bytes
    witness_signature: bytes
    txids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Outcome:
    """What an actuator did, before it is written up as a TransactionInfo."""

    status: str
    fee: int = 0  # burned by the actuator itself (account activation)
    output: bytes = b""
    energy: int = 0
    energy_fee: int = 0
    energy_from_stake: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    token_changes: list[bytes] = field(default_factory=list)


def decayed_usage(usage: int, last_slot: int, now_slot: int) -> int:
    """java-tron's linear bandwidth recovery over a 24 h window (ResourceProcessor.increase)."""
    if usage <= 0 or now_slot <= last_slot:
        return max(usage, 0)
    delta = now_slot - last_slot
    if delta >= NET_WINDOW_SLOTS:
        return 0
    return usage * (NET_WINDOW_SLOTS - delta) // NET_WINDOW_SLOTS


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class TronChain:
    """The chain. Every method is synchronous: the HTTP layer calls them from one event loop,
    so each call is atomic without locks."""

    def __init__(self, config: TronDevnetConfig) -> None:
        self.config = config
        self.witness_key = derive_private_key(config.seed, "witness")
        self.witness = address_of_private_key(self.witness_key)
        self.account_keys = [
            derive_private_key(config.seed, str(i)) for i in range(config.accounts)
        ]
        token_address = bytes([0x41]) + keccak256(f"{config.seed}-tron-trc20".encode())[12:]
        self.token = Trc20Token(
            token_address, config.trc20_name, config.trc20_symbol, config.trc20_decimals
        )
        self.token_origin = self.witness
        self.accounts: dict[bytes, Account] = {}
        self.delegations: dict[bytes, int] = {}  # owner + receiver -> energy stake lent, sun
        self.solid_accounts: dict[bytes, list[Any]] = {}
        self.solid_tokens: dict[bytes, int] = {}
        self.blocks: list[Block] = []
        self.block_numbers: dict[bytes, int] = {}
        self.tapos: dict[bytes, bytes] = {}
        self.txs: dict[str, TxRecord] = {}
        self.pending: list[str] = []
        self.solid_applied = 0
        self.addr_txs: dict[bytes, list[tuple[int, int]]] = {}
        self.addr_trc20: dict[bytes, list[tuple[int, int, int]]] = {}
        self._id_cache: dict[str, int] = {}
        self.dirty = False
        self._genesis()

    # ----------------------------------------------------------------- genesis and persistence

    def _genesis(self) -> None:
        cfg = self.config
        for key in self.account_keys:
            address = address_of_private_key(key)
            self.accounts[address] = Account(balance=cfg.initial_trx_sun)
            self.token.balances[address] = cfg.initial_token_units
        self.accounts.setdefault(self.witness, Account())
        self.accounts[self.token.address] = Account(is_contract=True)
        self.solid_accounts = {a: acct.snapshot() for a, acct in self.accounts.items()}
        self.solid_tokens = dict(self.token.balances)
        parent = sha256(f"{cfg.seed}-tron-genesis".encode())
        self._append_block(0, parent, [])

    def _append_block(self, timestamp: int, parent_id: bytes, txids: list[str]) -> Block:
        number = len(self.blocks)
        leaves = [
            sha256(encode_transaction(self.txs[t].tx.raw, self.txs[t].signatures)) for t in txids
        ]
        tx_root = merkle_root(leaves)
        raw = encode_block_header_raw(
            number=number,
            timestamp=timestamp,
            tx_root=tx_root,
            parent_hash=parent_id,
            witness_address=self.witness,
            version=BLOCK_VERSION if number else 0,
        )
        digest = sha256(raw)
        block_id = number.to_bytes(8, "big") + digest[8:]
        signature = sign_digest(self.witness_key, digest) if number else b""
        block = Block(number, timestamp, parent_id, tx_root, block_id, signature, txids)
        self._index_block(block)
        return block

    def _index_block(self, block: Block) -> None:
        self.blocks.append(block)
        self.block_numbers[block.block_id] = block.number
        # RecentBlockStore: TaPoS looks blocks up by bytes 6..8 of their id (65,536 slots).
        self.tapos[block.block_id[6:8]] = block.block_id[8:16]
        for index, txid in enumerate(block.txids):
            record = self.txs[txid]
            record.block, record.index = block.number, index
            self._index_tx(record)

    def _index_tx(self, record: TxRecord) -> None:
        tx, position = record.tx, (record.block, record.index)
        self.addr_txs.setdefault(tx.owner, []).append(position)
        if tx.ctype == TRANSFER and tx.to != tx.owner:
            self.addr_txs.setdefault(tx.to, []).append(position)
        for log_index, (sender, receiver, _value) in self.transfer_events(record):
            entry = (record.block, record.index, log_index)
            self.addr_trc20.setdefault(sender, []).append(entry)
            if receiver != sender:
                self.addr_trc20.setdefault(receiver, []).append(entry)

    def transfer_events(self, record: TxRecord) -> Iterator[tuple[int, tuple[bytes, bytes, int]]]:
        """(log index, (from, to, value)) for each Transfer log of the token in `record`."""
        token20 = self.token.address[1:].hex()
        for index, log in enumerate(record.info.get("log", ())):
            topics = log["topics"]
            if log["address"] == token20 and len(topics) == 3 and topics[0] == TRANSFER_TOPIC.hex():
                sender = bytes.fromhex("41" + topics[1][24:])
                receiver = bytes.fromhex("41" + topics[2][24:])
                yield index, (sender, receiver, int(log["data"], 16))

    def to_state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "seed": self.config.seed,
            "token": self.token.address.hex(),
            "accounts": {a.hex(): acct.snapshot() for a, acct in self.accounts.items()},
            "solid_accounts": {a.hex(): snap for a, snap in self.solid_accounts.items()},
            "tokens": {a.hex(): v for a, v in self.token.balances.items()},
            "solid_tokens": {a.hex(): v for a, v in self.solid_tokens.items()},
            "solid_applied": self.solid_applied,
            "delegations": {k.hex(): v for k, v in self.delegations.items()},
            "blocks": [
                [
                    b.timestamp,
                    b.parent_id.hex(),
                    b.tx_root.hex(),
                    b.block_id.hex(),
                    b.witness_signature.hex(),
                    b.txids,
                ]
                for b in self.blocks
            ],
            "txs": [
                {
                    "raw": r.tx.raw.hex(),
                    "sigs": [s.hex() for s in r.signatures],
                    "ret": r.ret,
                    "info": r.info,
                    "effects": [[k, a.hex(), v] for k, a, v in r.effects] if r.effects else None,
                }
                for r in self.txs.values()
            ],
            "pending": self.pending,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Replace the genesis state with a saved one; indexes are rebuilt from the blocks."""
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"unsupported TRON devnet state format {state.get('format')!r}")
        if state.get("seed") != self.config.seed or state.get("token") != self.token.address.hex():
            raise ValueError("the state file was written by a devnet with another seed")
        self.accounts = {bytes.fromhex(a): Account.restore(v) for a, v in state["accounts"].items()}
        self.solid_accounts = {bytes.fromhex(a): v for a, v in state["solid_accounts"].items()}
        self.token.balances = {bytes.fromhex(a): v for a, v in state["tokens"].items()}
        self.solid_tokens = {bytes.fromhex(a): v for a, v in state["solid_tokens"].items()}
        self.solid_applied = state["solid_applied"]
        self.delegations = {bytes.fromhex(k): v for k, v in state.get("delegations", {}).items()}
        self.txs = {}
        for item in state["txs"]:
            effects = item.get("effects")
            record = TxRecord(
                tx=parse_raw(bytes.fromhex(item["raw"])),
                signatures=[bytes.fromhex(s) for s in item["sigs"]],
                ret=item["ret"],
                info=item["info"],
                effects=[[k, bytes.fromhex(a), v] for k, a, v in effects] if effects else None,
            )
            self.txs[record.tx.txid] = record
        self.pending = list(state["pending"])
        self.blocks, self.block_numbers, self.tapos = [], {}, {}
        self.addr_txs, self.addr_trc20, self._id_cache = {}, {}, {}
        for number, (ts, parent, root, block_id, sig, txids) in enumerate(state["blocks"]):
            block = Block(
                number,
                ts,
                bytes.fromhex(parent),
                bytes.fromhex(root),
                bytes.fromhex(block_id),
                bytes.fromhex(sig),
                list(txids),
            )
            self._index_block(block)
        self.dirty = False

    # ------------------------------------------------------------------------------ queries

    @property
    def head(self) -> Block:
        return self.blocks[-1]

    @property
    def solid_number(self) -> int:
        return max(0, self.head.number - self.config.solid_lag)

    @property
    def solid_block(self) -> Block:
        return self.blocks[self.solid_number]

    def now_ms(self) -> int:
        """The chain's notion of now: wall clock, never behind the head block."""
        return max(wall_ms(), self.head.timestamp)

    def block(self, number: int, solid: bool = False) -> Block | None:
        limit = self.solid_number if solid else self.head.number
        return self.blocks[number] if 0 <= number <= limit else None

    def block_by_id(self, block_id: bytes) -> Block | None:
        number = self.block_numbers.get(block_id)
        return None if number is None else self.blocks[number]

    def record(self, txid: str, solid: bool = False) -> TxRecord | None:
        """An accepted transaction once a block holds it (pending ones are not found, as on
        java-tron), and only once solidified when `solid`."""
        record = self.txs.get(txid.lower())
        if record is None or record.block < 0:
            return None
        if solid and record.block > self.solid_number:
            return None
        return record

    def pending_record(self, txid: str) -> TxRecord | None:
        record = self.txs.get(txid.lower())
        return record if record is not None and record.block < 0 else None

    def account(self, address: bytes, solid: bool = False) -> Account | None:
        if solid:
            snap = self.solid_accounts.get(address)
            return None if snap is None else Account.restore(snap)
        return self.accounts.get(address)

    def token_balance(self, address: bytes, solid: bool = False) -> int:
        if solid:
            return self.solid_tokens.get(address, 0)
        return self.token.balance_of(address)

    def free_net_used(self, account: Account) -> int:
        return decayed_usage(
            account.free_net_usage, account.latest_free_slot, self.now_ms() // BLOCK_INTERVAL_MS
        )

    def energy_limit(self, account: Account) -> int:
        """Energy a day from the account's own stake (which lending lowers, as java-tron's
        frozenV2 does) and what it borrowed: staked TRX times the energy per staked TRX."""
        sun = account.frozen_energy + account.acquired_energy
        return sun // 1_000_000 * self.config.energy_per_trx

    def energy_used(self, account: Account) -> int:
        return decayed_usage(
            account.energy_usage, account.latest_energy_slot, self.now_ms() // BLOCK_INTERVAL_MS
        )

    def constant_call(
        self, caller: bytes, contract: bytes, data: bytes, call_value: int = 0, solid: bool = False
    ) -> CallResult | None:
        """Run a call without changing anything, on the latest or the solidified state; None
        when `contract` is not a contract."""
        if contract != self.token.address:
            return None
        token = dataclasses.replace(self.token, balances=self.solid_tokens) if solid else self.token
        return token.call(caller, data, call_value)

    # ------------------------------------------------------------------------- broadcast

    def submit(
        self, tx: ParsedTx, signatures: list[bytes], injected: str | None = None
    ) -> TxRecord:
        """Validate and execute a signed transaction, or raise `Rejection` (state untouched).
        `injected`: refuse it with this reason (a fault), as a validation error would.

        Order follows Wallet.broadcastTransaction then Manager.pushTransaction/processTransaction.
        """
        for sig in signatures:
            if len(sig) != 65:
                raise Rejection(
                    "SIGERROR", f"Validate signature error: Signature size is {len(sig)}"
                )
        now = self.now_ms()
        if self.config.tx_id_cache:
            # Faithful to java-tron, the id is cached before validation: rebroadcasting a refused
            # transaction unchanged within the hour gets DUP_TRANSACTION_ERROR, not a new verdict.
            self._prune_id_cache(now)
            if tx.txid in self._id_cache:
                raise Rejection("DUP_TRANSACTION_ERROR", "Transaction already exists.")
            self._id_cache[tx.txid] = now
        if injected is not None:
            raise contract_validate_error(injected)
        if tx.contract_count == 0:
            raise contract_validate_error("Contract not exists")
        next_slot = max(self.head.timestamp + self.config.block_ms, now)
        if tx.expiration < next_slot:
            raise Rejection("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")
        self._check_signatures(tx, signatures)
        self._check_tapos(tx)
        size = len(encode_transaction(tx.raw, signatures))
        if size > TRANSACTION_MAX_BYTE_SIZE:
            raise Rejection(
                "TOO_BIG_TRANSACTION_ERROR", f"Too big transaction, the size is {size} bytes"
            )
        if tx.expiration > now + MAX_TIME_UNTIL_EXPIRATION_MS:
            raise Rejection("TRANSACTION_EXPIRATION_ERROR", "Transaction expired")
        if tx.contract_count != 1:
            raise contract_validate_error(
                "tx contract size should be exactly 1, this is extend feature ,actual :"
                f"{tx.contract_count}"
            )
        if tx.txid in self.txs:
            raise Rejection("DUP_TRANSACTION_ERROR", "Dup transaction.")
        record = self._execute(tx, signatures, now)
        self.txs[tx.txid] = record
        self.pending.append(tx.txid)
        self.dirty = True
        return record

    def _prune_id_cache(self, now: int) -> None:
        cache = self._id_cache
        while cache:
            oldest = next(iter(cache))
            if now - cache[oldest] < TX_ID_CACHE_TTL_MS:
                break
            del cache[oldest]

    def _check_signatures(self, tx: ParsedTx, signatures: list[bytes]) -> None:
        """Only the default permissions exist here: owner (id 0) and active (id 2), each with
        the owner's own key at weight 1 and threshold 1."""
        if not signatures:
            raise Rejection("SIGERROR", "Validate signature error: miss sig or contract")
        if tx.permission_id not in (0, 2):
            raise Rejection("SIGERROR", "Validate signature error: permission isn't exit")
        if len(signatures) > 1:
            raise Rejection(
                "SIGERROR",
                "Validate signature error: Signature count is "
                f"{len(signatures)} more than key counts of permission : 1",
            )
        digest = bytes.fromhex(tx.txid)
        try:
            signer = recover_signer(digest, signatures[0])
        except SignatureError as exc:
            raise Rejection("SIGERROR", f"Validate signature error: {exc}") from exc
        if signer != tx.owner:
            raise Rejection(
                "SIGERROR",
                f"Validate signature error: {tx.txid} is signed by {to_base58(signer)} "
                "but it is not contained of permission.",
            )

    def _check_tapos(self, tx: ParsedTx) -> None:
        if self.tapos.get(tx.ref_block_bytes) != tx.ref_block_hash:
            raise Rejection("TAPOS_ERROR", "Tapos check error.")

    def _execute(self, tx: ParsedTx, signatures: list[bytes], now: int) -> TxRecord:
        cfg = self.config
        owner = self.accounts.get(tx.owner)
        if owner is None:  # BandwidthProcessor.consume, before any actuator runs
            raise contract_validate_error("account does not exist")
        if tx.ctype not in (TRANSFER, TRIGGER, *RESOURCE_CALLS):
            raise contract_validate_error(f"{tx.ctype} is not supported by the devnet")
        size = bandwidth_size(tx.raw, signatures)
        slot = now // BLOCK_INTERVAL_MS
        balance = owner.balance
        net_usage = net_fee = 0
        free_usage = None
        if tx.ctype == TRANSFER and tx.to not in self.accounts:
            # Creating an account never uses free bandwidth: a flat fee is burned instead.
            if balance < cfg.create_account_fee:
                raise bandwidth_error()
            net_fee = cfg.create_account_fee
        else:
            used = decayed_usage(owner.free_net_usage, owner.latest_free_slot, slot)
            if size <= cfg.free_net_limit - used:
                net_usage, free_usage = size, used + size
            else:
                net_fee = size * cfg.bandwidth_price
                if balance < net_fee:
                    raise bandwidth_error()
        balance -= net_fee
        memo_fee = 0
        if tx.memo and cfg.memo_fee:
            if balance < cfg.memo_fee:
                raise bandwidth_error()
            memo_fee = cfg.memo_fee
            balance -= memo_fee

        # Validation is over once the actuator returns: from here on the state changes.
        if tx.ctype == TRANSFER:
            outcome = self._execute_transfer(tx, owner, balance, now)
        elif tx.ctype == TRIGGER:
            outcome = self._execute_trigger(tx, owner, balance, slot)
        else:
            outcome = self._execute_resource_call(tx, owner, balance)
        owner.latest_op_time = now
        if free_usage is not None:
            owner.free_net_usage, owner.latest_free_slot = free_usage, slot

        # TransactionInfo in java-tron's field order; block fields are added when rendering.
        info: dict[str, Any] = {"id": tx.txid}
        fee = outcome.fee + net_fee + memo_fee + outcome.energy_fee
        if fee:
            info["fee"] = fee
        info["contractResult"] = [outcome.output.hex()]
        if tx.ctype == TRIGGER:
            info["contract_address"] = tx.contract_address.hex()
        receipt: dict[str, Any] = {}
        if outcome.energy_fee:
            receipt["energy_fee"] = outcome.energy_fee
        if outcome.energy_from_stake:
            receipt["energy_usage"] = outcome.energy_from_stake
        if outcome.energy:
            receipt["energy_usage_total"] = outcome.energy
        if net_usage:
            receipt["net_usage"] = net_usage
        if net_fee:
            receipt["net_fee"] = net_fee
        if tx.ctype == TRIGGER:  # TRX transfers have no receipt.result, as on mainnet
            receipt["result"] = outcome.status
        info["receipt"] = receipt
        if outcome.logs:
            info["log"] = outcome.logs
        if outcome.message:
            info["result"] = "FAILED"
            info["resMessage"] = outcome.message.encode().hex()

        touched = [tx.owner, tx.to] if tx.ctype in (TRANSFER, DELEGATE, UNDELEGATE) else [tx.owner]
        effects: list[list[Any]] = [["a", a, self.accounts[a].snapshot()] for a in touched]
        effects += [["t", a, self.token.balance_of(a)] for a in outcome.token_changes]
        return TxRecord(tx, signatures, outcome.status, info, effects=effects)

    def check_transfer(self, owner_address: bytes, to: bytes, amount: int, balance: int) -> int:
        """TransferActuator.validate; returns the activation fee. Raises `Rejection`."""
        if len(owner_address) != 21 or owner_address[0] != 0x41:
            raise contract_validate_error("Invalid ownerAddress!")
        if len(to) != 21 or to[0] != 0x41:
            raise contract_validate_error("Invalid toAddress!")
        if to == owner_address:
            raise contract_validate_error("Cannot transfer TRX to yourself.")
        if owner_address not in self.accounts:
            raise contract_validate_error("Validate TransferContract error, no OwnerAccount.")
        if amount <= 0:
            raise contract_validate_error("Amount must be greater than 0.")
        receiver = self.accounts.get(to)
        fee = self.config.create_new_account_fee_in_system_contract if receiver is None else 0
        if receiver is not None and receiver.is_contract:
            raise contract_validate_error("Cannot transfer TRX to a smartContract.")
        if balance < amount + fee:
            raise contract_validate_error(
                "Validate TransferContract error, balance is not sufficient."
            )
        return fee

    def _execute_transfer(self, tx: ParsedTx, owner: Account, balance: int, now: int) -> Outcome:
        fee = self.check_transfer(tx.owner, tx.to, tx.amount, balance)
        owner.balance = balance - tx.amount - fee
        receiver = self.accounts.get(tx.to)
        if receiver is None:
            self.accounts[tx.to] = Account(balance=tx.amount, create_time=now)
        else:
            receiver.balance += tx.amount
        return Outcome(SUCCESS, fee=fee)

    def _execute_resource_call(self, tx: ParsedTx, owner: Account, balance: int) -> Outcome:
        """FreezeBalanceV2, DelegateResource, UnDelegateResource (their actuators' checks and
        messages), for ENERGY; bandwidth staking is not modelled."""
        if tx.resource != "ENERGY":
            raise contract_validate_error(f"the devnet stakes ENERGY only, not {tx.resource}")
        if tx.ctype == FREEZE:
            if tx.amount < 1_000_000:
                raise contract_validate_error(
                    "frozenBalance must be greater than or equal to 1 TRX"
                )
            if tx.amount > balance:
                raise contract_validate_error(
                    "frozenBalance must be less than or equal to accountBalance"
                )
            owner.balance = balance - tx.amount
            owner.frozen_energy += tx.amount
            return Outcome(SUCCESS)
        receiver = self.accounts.get(tx.to)
        if tx.to == tx.owner:
            raise contract_validate_error("receiverAddress must not be the same as ownerAddress")
        if receiver is None:
            raise contract_validate_error(f"Account[{tx.to.hex()}] not exists")
        key = tx.owner + tx.to
        if tx.ctype == DELEGATE:
            if tx.amount < 1_000_000:
                raise contract_validate_error(
                    "delegateBalance must be greater than or equal to 1 TRX"
                )
            if receiver.is_contract:
                raise contract_validate_error(
                    "Do not allow delegate resources to contract addresses"
                )
            # What its own use holds is not lendable (DelegateResourceActuator.validate).
            used = -(-self.energy_used(owner) // self.config.energy_per_trx) * 1_000_000
            if owner.frozen_energy - used < tx.amount:
                raise contract_validate_error(
                    "delegateBalance must be less than or equal to available FreezeEnergyV2 balance"
                )
            owner.frozen_energy -= tx.amount
            owner.delegated_energy += tx.amount
            receiver.acquired_energy += tx.amount
            self.delegations[key] = self.delegations.get(key, 0) + tx.amount
        else:
            if self.delegations.get(key, 0) < tx.amount:
                raise contract_validate_error(
                    "insufficient delegatedFrozenBalance(Energy), request="
                    f"{tx.amount}, unfreezeBalance={self.delegations.get(key, 0)}"
                )
            owner.delegated_energy -= tx.amount
            owner.frozen_energy += tx.amount
            receiver.acquired_energy -= tx.amount
            self.delegations[key] -= tx.amount
            if not self.delegations[key]:
                del self.delegations[key]
        owner.balance = balance
        return Outcome(SUCCESS)

    def _execute_trigger(self, tx: ParsedTx, owner: Account, balance: int, slot: int) -> Outcome:
        cfg = self.config
        if tx.contract_address != self.token.address:
            raise contract_validate_error("No contract or not a valid smart contract")
        if tx.fee_limit < 0 or tx.fee_limit > cfg.max_fee_limit:
            raise contract_validate_error(f"feeLimit must be >= 0 and <= {cfg.max_fee_limit}")
        if tx.call_value < 0 or tx.call_value > balance:
            raise contract_validate_error(
                "Validate InternalTransfer error, balance is not sufficient."
            )
        # VMActuator: the account's staked (or borrowed) energy first, then energy bought with
        # TRX, capped by fee_limit.
        used = decayed_usage(owner.energy_usage, owner.latest_energy_slot, slot)
        staked = max(0, self.energy_limit(owner) - used)
        bought = max(0, min(balance - tx.call_value, tx.fee_limit)) // cfg.energy_price
        energy_limit = staked + bought
        result = self.token.call(tx.owner, tx.call_data, tx.call_value)
        outcome = Outcome(result.status, output=result.output, energy=result.energy)
        if result.energy > energy_limit:
            # Out of energy burns the whole limit and undoes the call.
            op_energy = 20_000 if result.energy > 20_000 else 5_000
            outcome = Outcome(OUT_OF_ENERGY, energy=energy_limit)
            outcome.message = (
                "Not enough energy for 'SSTORE' operation executing: "
                f"curInvokeEnergyLimit[{energy_limit}], curOpEnergy[{op_energy}], "
                f"usedEnergy[{max(0, result.energy - op_energy)}]"
            )
        elif result.status == REVERT:
            outcome.message = "REVERT opcode executed"
        else:
            self.token.balances.update(result.changes)
            outcome.token_changes = list(result.changes)
            outcome.logs = result.logs
        from_stake = min(outcome.energy, staked)
        owner.energy_usage, owner.latest_energy_slot = used + from_stake, slot
        outcome.energy_fee = (outcome.energy - from_stake) * cfg.energy_price
        outcome.energy_from_stake = from_stake
        owner.balance = balance - outcome.energy_fee
        return outcome

    # ------------------------------------------------------------------------- blocks

    def produce_block(self) -> Block:
        """Seal the pending transactions into the next block and solidify what is old enough."""
        head = self.head
        timestamp = max(wall_ms(), head.timestamp + 1)
        txids, self.pending = self.pending, []
        block = self._append_block(timestamp, head.block_id, txids)
        self._solidify()
        self.dirty = True
        return block

    def _solidify(self) -> None:
        target = self.solid_number
        for number in range(self.solid_applied + 1, target + 1):
            for txid in self.blocks[number].txids:
                record = self.txs[txid]
                for kind, address, value in record.effects or ():
                    if kind == "a":
                        self.solid_accounts[address] = value
                    else:
                        self.solid_tokens[address] = value
                record.effects = None
        self.solid_applied = max(self.solid_applied, target)

    # ------------------------------------------------------------------------- TronGrid

    def _page(
        self,
        entries: list[Any],
        cursor: tuple[int, ...] | None,
        descending: bool,
        limit: int,
        accept: Any,
        min_ts: int | None,
        max_ts: int | None,
    ) -> tuple[list[Any], tuple[int, ...] | None]:
        """Walk an address index from `cursor` (exclusive) and keep up to `limit` entries that
        `accept`; returns them and the cursor of the last one when more remain."""
        if descending:
            i = (bisect.bisect_left(entries, cursor) if cursor else len(entries)) - 1
            step = -1
        else:
            i = bisect.bisect_right(entries, cursor) if cursor else 0
            step = 1
        out: list[Any] = []
        while 0 <= i < len(entries):
            entry = entries[i]
            i += step
            ts = self.blocks[entry[0]].timestamp
            if min_ts is not None and ts < min_ts:
                if descending:
                    break
                continue
            if max_ts is not None and ts > max_ts:
                if descending:
                    continue
                break
            if not accept(entry):
                continue
            if len(out) == limit:
                return out, tuple(out[-1])
            out.append(entry)
        return out, None

    def _confirmed_ok(self, block_number: int, confirmed: bool | None) -> bool:
        if confirmed is None:
            return True
        return (block_number <= self.solid_number) == confirmed

    def account_transactions(
        self,
        address: bytes,
        *,
        confirmed: bool | None,
        direction: str | None,
        min_ts: int | None,
        max_ts: int | None,
        descending: bool,
        limit: int,
        cursor: tuple[int, ...] | None,
    ) -> tuple[list[TxRecord], tuple[int, ...] | None]:
        def accept(entry: tuple[int, int]) -> bool:
            if not self._confirmed_ok(entry[0], confirmed):
                return False
            tx = self.txs[self.blocks[entry[0]].txids[entry[1]]].tx
            if direction == "from":
                return tx.owner == address
            if direction == "to":
                return tx.ctype == TRANSFER and tx.to == address
            return True

        entries, next_cursor = self._page(
            self.addr_txs.get(address, []), cursor, descending, limit, accept, min_ts, max_ts
        )
        return [self.txs[self.blocks[b].txids[i]] for b, i in entries], next_cursor

    def trc20_transfers(
        self,
        address: bytes,
        *,
        confirmed: bool | None,
        direction: str | None,
        min_ts: int | None,
        max_ts: int | None,
        descending: bool,
        limit: int,
        cursor: tuple[int, ...] | None,
        contract: bytes | None,
    ) -> tuple[list[tuple[TxRecord, bytes, bytes, int]], tuple[int, ...] | None]:
        """(record, from, to, value) of Transfer events touching `address`."""
        if contract is not None and contract != self.token.address:
            return [], None

        def event(entry: tuple[int, int, int]) -> tuple[TxRecord, bytes, bytes, int]:
            record = self.txs[self.blocks[entry[0]].txids[entry[1]]]
            log = record.info["log"][entry[2]]
            sender = bytes.fromhex("41" + log["topics"][1][24:])
            receiver = bytes.fromhex("41" + log["topics"][2][24:])
            return record, sender, receiver, int(log["data"], 16)

        def accept(entry: tuple[int, int, int]) -> bool:
            if not self._confirmed_ok(entry[0], confirmed):
                return False
            _, sender, receiver, _ = event(entry)
            if direction == "from":
                return sender == address
            if direction == "to":
                return receiver == address
            return True

        entries, next_cursor = self._page(
            self.addr_trc20.get(address, []), cursor, descending, limit, accept, min_ts, max_ts
        )
        return [event(e) for e in entries], next_cursor
