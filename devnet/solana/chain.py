"""The ledger behind the Solana devnet.

LiteSVM executes transactions (real programs, real fee and rent rules); this module keeps what a
node keeps around execution and LiteSVM does not: blocks with slots, block heights, blockhashes
and their expiry, commitment levels, the status cache, the transaction index with metadata
(pre/post balances and token balances read from account states around execution), an
address -> signatures index, recent account history for commitment-aware reads, and a JSON
snapshot of all of it for restarts.

Everything here is synchronous and runs on the event loop thread, so a request sees the chain
either entirely before or entirely after a block boundary or a transaction.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import os
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import base58
from solders.account import Account
from solders.address_lookup_table_account import AddressLookupTable
from solders.clock import Clock
from solders.hash import Hash
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from spl.token.instructions import get_associated_token_address

from devnet.solana import tokens
from devnet.solana.config import SolanaDevnetConfig
from devnet.solana.errors import (
    SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    invalid_params,
    preflight_failure,
)
from devnet.solana.instructions import memo_of

STATE_VERSION = 1
SYSTEM_PROGRAM = "11111111111111111111111111111111"
SYSTEM_PROGRAM_ID = Pubkey.from_string(SYSTEM_PROGRAM)
# Accounts LiteSVM provides itself (programs, sysvars): never snapshotted.
_BUILTIN_OWNERS = frozenset(
    {
        "NativeLoader1111111111111111111111111111111",
        "Sysvar1111111111111111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
    }
)
COMMITMENTS = {
    "processed": "processed",
    "confirmed": "confirmed",
    "finalized": "finalized",
    # Deprecated names a node still accepts.
    "recent": "processed",
    "single": "confirmed",
    "singleGossip": "confirmed",
    "root": "finalized",
    "max": "finalized",
}
FAUCET_LAMPORTS = 500_000_000 * 1_000_000_000


def derive_keypair(seed: str, label: str) -> Keypair:
    return Keypair.from_seed(hashlib.sha256(f"{seed}-solana-{label}".encode()).digest())


@dataclass(frozen=True, slots=True)
class Block:
    slot: int
    height: int
    blockhash: str
    time: int


@dataclass(slots=True)
class TxRecord:
    """A landed transaction. `meta` is compact and JSON-ready (it is what gets persisted):
    err, fee, pre/post lamports, pre/post token balances as [index, mint, owner, program,
    amount, decimals], logs, inner instructions as [index, [[program index, accounts, base58
    data, stack height]]], compute units, return data [program, base64] and loaded addresses."""

    seq: int
    signature: str
    slot: int
    height: int
    block_time: int
    raw: bytes
    tx: VersionedTransaction
    keys: list[str]
    meta: dict[str, Any]
    memo: str | None
    _persisted: str | None = field(default=None, repr=False)

    @property
    def err(self) -> Any:
        return self.meta["err"]

    def persisted(self) -> str:
        """This record as a JSON array, cached: records never change once landed."""
        if self._persisted is None:
            self._persisted = json.dumps(
                [
                    self.signature,
                    self.slot,
                    self.height,
                    self.block_time,
                    base64.b64encode(self.raw).decode(),
                    self.meta,
                ],
                separators=(",", ":"),
            )
        return self._persisted


def _inner_instructions(meta: TransactionMetadata) -> list[list[Any]]:
    """[[outer index, [[program index, accounts, data, stack height]]]], non-empty groups."""
    out: list[list[Any]] = []
    for index, group in enumerate(meta.inner_instructions()):
        rows = []
        for inner in group:
            ix = inner.instruction()
            rows.append(
                [ix.program_id_index, list(ix.accounts), bytes(ix.data), inner.stack_height()]
            )
        if rows:
            out.append([index, rows])
    return out


def _err_json(result: FailedTransactionMetadata) -> Any:
    return json.loads(result.to_json())["err"]


def _lamports(account: Account | None) -> int:
    return account.lamports if account is not None else 0


class SolanaChain:
    def __init__(self, config: SolanaDevnetConfig) -> None:
        self.config = config
        # LiteSVM's own blockhash, signature and duplicate checks are off: the node-level
        # rules (150-block expiry, status cache, preflight vs landing) are enforced here.
        self.svm = (
            LiteSVM().with_blockhash_check(False).with_sigverify(False).with_transaction_history(0)
        )
        self.keypairs = [derive_keypair(config.seed, str(i)) for i in range(config.accounts)]
        self.pubkeys = [kp.pubkey() for kp in self.keypairs]
        self.faucet = derive_keypair(config.seed, "faucet")
        self.faucet_pubkey = self.faucet.pubkey()
        self.spl_mint = derive_keypair(config.seed, "spl-mint").pubkey()
        self.token2022_mint = derive_keypair(config.seed, "token2022-mint").pubkey()

        self.genesis_hash = ""
        self.slot = 0
        self.height = 0
        self.blocks: deque[Block] = deque(
            maxlen=max(config.finalized_lag, config.confirmed_lag, config.blockhash_valid_blocks)
            + 2
        )
        self.blockhash_height: dict[str, int] = {}
        self._blockhash_order: deque[tuple[int, str]] = deque()

        self.txs: list[TxRecord] = []
        self.by_sig: dict[str, TxRecord] = {}
        self.by_address: dict[str, list[int]] = {}
        # pubkey -> [(slot, state before the first change in that slot)], only for slots not
        # yet finalized: enough to answer reads at confirmed/finalized commitment.
        self._history: dict[str, list[tuple[int, Account | None]]] = {}
        self._history_order: deque[tuple[int, str]] = deque()
        self.token_accounts_by_owner: dict[str, set[str]] = {}
        self._decimals: dict[str, int] = {}
        self.known: set[str] = set()
        # The swap venue's pools: (mint A, mint B, fee in bps); their reserves are accounts.
        self.pools: list[tuple[str, str, int]] = []
        self.dirty = False

    # ---- genesis and blocks -------------------------------------------------------------

    def genesis(self) -> None:
        cfg = self.config
        self.genesis_hash = str(Hash(os.urandom(32)))
        now = int(time.time())
        for pk in self.pubkeys:
            self._put(pk, Account(cfg.lamports_per_account, b"", SYSTEM_PROGRAM_ID, False, 0))
        self._put(self.faucet_pubkey, Account(FAUCET_LAMPORTS, b"", SYSTEM_PROGRAM_ID, False, 0))
        supply = cfg.token_units_per_account * len(self.pubkeys)
        for mint, program in (
            (self.spl_mint, tokens.TOKEN_PROGRAM_ID),
            (self.token2022_mint, tokens.TOKEN_2022_PROGRAM_ID),
        ):
            data = tokens.mint_data(self.pubkeys[0], supply, cfg.decimals)
            self._put(mint, self._rent_exempt(data, program))
            for owner in self.pubkeys:
                ata = get_associated_token_address(owner, mint, program)
                data = tokens.token_account_data(
                    mint,
                    owner,
                    cfg.token_units_per_account,
                    token_2022=program == tokens.TOKEN_2022_PROGRAM_ID,
                )
                self._put(ata, self._rent_exempt(data, program))
        self._add_block(Block(0, 0, self._blockhash_for(0), now))
        # Slot 0 is the rooted genesis block; transactions land from slot 1 on, so no
        # commitment level ever covers a transaction before its lag has passed.
        self.produce_block()

    def put_account(self, pubkey: Pubkey, lamports: int | None, data: bytes, owner: Pubkey) -> None:
        """Set an account outright (devnet privilege, as genesis does); lamports None: the
        rent-exempt minimum for its data."""
        if lamports is None:
            self._put(pubkey, self._rent_exempt(data, owner))
        else:
            self._put(pubkey, Account(lamports, data, owner, False, 0))
        self.dirty = True

    def _rent_exempt(self, data: bytes, owner: Pubkey) -> Account:
        lamports = self.svm.minimum_balance_for_rent_exemption(len(data))
        return Account(lamports, data, owner, False, 0)

    def _put(self, pubkey: Pubkey, account: Account) -> None:
        self.svm.set_account(pubkey, account)
        key = str(pubkey)
        self.known.add(key)
        self._index_token_account(key, account)

    def _blockhash_for(self, slot: int) -> str:
        seed = base58.b58decode(self.genesis_hash) + struct.pack("<Q", slot)
        return str(Hash(hashlib.sha256(seed).digest()))

    def _add_block(self, block: Block) -> None:
        self.blocks.append(block)
        self.slot, self.height = block.slot, block.height
        self.blockhash_height[block.blockhash] = block.height
        self._blockhash_order.append((block.height, block.blockhash))
        horizon = block.height - self.config.blockhash_valid_blocks - 1
        while self._blockhash_order and self._blockhash_order[0][0] < horizon:
            _, old = self._blockhash_order.popleft()
            self.blockhash_height.pop(old, None)
        self.svm.set_clock(Clock(block.slot, 0, 0, 0, block.time))

    def produce_block(self) -> Block:
        slot = self.slot + 1
        if self.config.skip_every and slot % self.config.skip_every == 0:
            slot += 1  # a skipped slot: no block, so no block height and no blockhash
        block = Block(slot, self.height + 1, self._blockhash_for(slot), int(time.time()))
        self._add_block(block)
        # A durable nonce can advance once per blockhash, as on a real node.
        self.svm.expire_blockhash()
        self._prune_history()
        self.dirty = True
        return block

    # ---- commitment ---------------------------------------------------------------------

    def block_at(self, commitment: str) -> Block:
        """The newest block at this commitment level (processed, confirmed, finalized)."""
        if commitment == "processed":
            lag = 0
        elif commitment == "confirmed":
            lag = self.config.confirmed_lag
        else:
            lag = self.config.finalized_lag
        return self.blocks[max(len(self.blocks) - 1 - lag, 0)]

    def confirmation_status(self, record: TxRecord) -> str:
        if record.slot <= self.block_at("finalized").slot:
            return "finalized"
        if record.slot <= self.block_at("confirmed").slot:
            return "confirmed"
        return "processed"

    def blockhash_valid_at(self, blockhash: str, height: int) -> bool:
        bh_height = self.blockhash_height.get(blockhash)
        return (
            bh_height is not None
            and bh_height <= height <= bh_height + self.config.blockhash_valid_blocks
        )

    def last_valid_block_height(self, block: Block) -> int:
        return block.height + self.config.blockhash_valid_blocks

    # ---- accounts -----------------------------------------------------------------------

    def account(self, pubkey: Pubkey) -> Account | None:
        account = self.svm.get_account(pubkey)
        if account is None or account.lamports == 0:
            return None  # a node reports wiped (zero-lamport) accounts as missing
        return account

    def account_at(self, pubkey: Pubkey, slot: int) -> Account | None:
        """The account as of the end of `slot` (for confirmed/finalized reads)."""
        if slot < self.slot:
            history = self._history.get(str(pubkey))
            if history:
                for changed_slot, before in history:
                    if changed_slot > slot:
                        return before if before is not None and before.lamports else None
        return self.account(pubkey)

    def decimals(self, mint: str) -> int | None:
        cached = self._decimals.get(mint)
        if cached is None:
            account = self.svm.get_account(Pubkey.from_string(mint))
            parsed = tokens.parse_mint(bytes(account.data)) if account is not None else None
            if parsed is None:
                return None
            cached = self._decimals[mint] = parsed.decimals
        return cached

    def _index_token_account(self, key: str, account: Account | None) -> None:
        if account is None or str(account.owner) not in tokens.TOKEN_PROGRAMS:
            return
        parsed = tokens.parse_token_account(bytes(account.data))
        if parsed is not None:
            self.token_accounts_by_owner.setdefault(parsed.owner, set()).add(key)

    def _remember_change(self, key: str, before: Account | None) -> None:
        history = self._history.setdefault(key, [])
        if not history or history[-1][0] != self.slot:
            history.append((self.slot, before))
            self._history_order.append((self.slot, key))

    def _prune_history(self) -> None:
        finalized = self.block_at("finalized").slot
        while self._history_order and self._history_order[0][0] <= finalized:
            slot, key = self._history_order.popleft()
            history = self._history.get(key)
            if history and history[0][0] == slot:
                history.pop(0)
                if not history:
                    del self._history[key]

    # ---- transactions -------------------------------------------------------------------

    def account_keys(self, tx: VersionedTransaction) -> tuple[list[Pubkey], list[str], list[str]]:
        """Static keys plus the addresses loaded from lookup tables (writable, readonly)."""
        message = tx.message
        keys = list(message.account_keys)
        lookups = getattr(message, "address_table_lookups", None)
        writable: list[str] = []
        readonly: list[str] = []
        if lookups:
            loaded_w: list[Pubkey] = []
            loaded_r: list[Pubkey] = []
            for lookup in lookups:
                table = self.svm.get_account(lookup.account_key)
                if table is None:
                    return keys, [], []  # execution reports AddressLookupTableNotFound
                try:
                    addresses = AddressLookupTable.deserialize(bytes(table.data)).addresses
                    loaded_w += [addresses[i] for i in bytes(lookup.writable_indexes)]
                    loaded_r += [addresses[i] for i in bytes(lookup.readonly_indexes)]
                except (ValueError, IndexError):
                    return keys, [], []
            keys += loaded_w + loaded_r
            writable = [str(k) for k in loaded_w]
            readonly = [str(k) for k in loaded_r]
        return keys, writable, readonly

    def _nonce_matches(self, tx: VersionedTransaction) -> bool:
        """A durable-nonce transaction is valid while the nonce account holds its blockhash."""
        if not tx.uses_durable_nonce():
            return False
        message = tx.message
        first = message.instructions[0]
        if not first.accounts:
            return False
        nonce = self.svm.get_account(message.account_keys[first.accounts[0]])
        if nonce is None or len(nonce.data) < 72:
            return False
        data = bytes(nonce.data)
        return data[4:8] == b"\x01\x00\x00\x00" and data[40:72] == bytes(message.recent_blockhash)

    def age_ok(self, tx: VersionedTransaction, height: int) -> bool:
        return self.blockhash_valid_at(
            str(tx.message.recent_blockhash), height
        ) or self._nonce_matches(tx)

    def send_transaction(
        self,
        tx: VersionedTransaction,
        raw: bytes,
        *,
        skip_preflight: bool,
        preflight_commitment: str = "finalized",
    ) -> str:
        """sendTransaction: preflight like a node (against the preflight-commitment block for
        blockhash and status checks), then land it in the current slot, or drop it silently
        the way a leader drops a transaction it cannot process."""
        try:
            tx.sanitize()
        except ValueError as exc:
            raise invalid_params(
                "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
            ) from exc
        signature = str(tx.signatures[0])
        verified = all(tx.verify_with_results())
        known = self.by_sig.get(signature)
        if not skip_preflight:
            if not verified:
                raise RpcError(
                    SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
                )
            bank = self.block_at(preflight_commitment)
            if not self.age_ok(tx, bank.height):
                raise preflight_failure("BlockhashNotFound", [], 0)
            if known is not None and known.slot <= bank.slot:
                raise preflight_failure("AlreadyProcessed", [], 0)
            if known is None:
                simulated = self.svm.simulate_transaction(tx)
                if isinstance(simulated, FailedTransactionMetadata):
                    meta = simulated.meta()
                    raise preflight_failure(
                        _err_json(simulated),
                        list(meta.logs()),
                        meta.compute_units_consumed(),
                        self._loaded_bytes(tx),
                    )
        # Landing: what the leader checks before it executes.
        if not verified or known is not None or not self.age_ok(tx, self.height):
            return signature
        self._execute(tx, raw, signature)
        return signature

    def _loaded_bytes(self, tx: VersionedTransaction) -> int:
        total = 0
        for key in tx.message.account_keys:
            account = self.svm.get_account(key)
            if account is not None:
                total += len(account.data)
        return total

    def _execute(self, tx: VersionedTransaction, raw: bytes, signature: str) -> TxRecord | None:
        keys, loaded_w, loaded_r = self.account_keys(tx)
        get = self.svm.get_account
        pre = [get(k) for k in keys]
        result = self.svm.send_transaction(tx)
        post = [get(k) for k in keys]
        if isinstance(result, FailedTransactionMetadata):
            # Only failures that still charged the fee are committed to a block.
            if _lamports(post[0]) >= _lamports(pre[0]):
                return None
            meta = result.meta()
            err = _err_json(result)
        else:
            meta = result
            err = None
        return self._record(tx, raw, signature, keys, loaded_w, loaded_r, pre, post, meta, err)

    def _token_balances(self, accounts: list[Account | None], skip: set[int]) -> list[list[Any]]:
        out: list[list[Any]] = []
        for index, account in enumerate(accounts):
            if account is None or index in skip:
                continue
            program = str(account.owner)
            if program not in tokens.TOKEN_PROGRAMS:
                continue
            parsed = tokens.parse_token_account(bytes(account.data))
            if parsed is None:
                continue
            decimals = self.decimals(parsed.mint)
            if decimals is None:
                continue
            out.append([index, parsed.mint, parsed.owner, program, parsed.amount, decimals])
        return out

    def _record(
        self,
        tx: VersionedTransaction,
        raw: bytes,
        signature: str,
        keys: list[Pubkey],
        loaded_w: list[str],
        loaded_r: list[str],
        pre: list[Account | None],
        post: list[Account | None],
        meta: TransactionMetadata,
        err: Any,
    ) -> TxRecord:
        key_strs = [str(k) for k in keys]
        record = self.make_record(
            tx, raw, signature, key_strs, loaded_w, loaded_r, pre, post, meta, err, len(self.txs)
        )
        self._index(record)
        for key, before, after in zip(key_strs, pre, post, strict=True):
            if before != after:
                self._remember_change(key, before)
                self._index_token_account(key, after)
        self.dirty = True
        return record

    def make_record(
        self,
        tx: VersionedTransaction,
        raw: bytes,
        signature: str,
        key_strs: list[str],
        loaded_w: list[str],
        loaded_r: list[str],
        pre: list[Account | None],
        post: list[Account | None],
        meta: TransactionMetadata,
        err: Any,
        seq: int,
    ) -> TxRecord:
        """The record of `tx` executed in the newest block, as the node reports it; not
        indexed (an orphan's record is built the same way, and never indexed)."""
        message = tx.message
        instructions = message.instructions
        # Like the node: token balances only for transactions that reference a token program,
        # and never for the invoked programs themselves.
        if any(k in tokens.TOKEN_PROGRAMS for k in key_strs):
            invoked = {ix.program_id_index for ix in instructions}
            pre_tok = self._token_balances(pre, invoked)
            post_tok = self._token_balances(post, invoked)
        else:
            pre_tok, post_tok = [], []
        inner = [
            [index, [[p, a, base58.b58encode(d).decode(), h] for p, a, d, h in group]]
            for index, group in _inner_instructions(meta)
        ]
        ret = meta.return_data()
        ret_json = (
            [str(ret.program_id), base64.b64encode(bytes(ret.data)).decode()]
            if ret is not None and ret.data
            else None
        )
        block = self.blocks[-1]
        return TxRecord(
            seq=seq,
            signature=signature,
            slot=block.slot,
            height=block.height,
            block_time=block.time,
            raw=raw,
            tx=tx,
            keys=key_strs,
            meta={
                "err": err,
                "fee": meta.fee(),
                "pre": [_lamports(a) for a in pre],
                "post": [_lamports(a) for a in post],
                "preTok": pre_tok,
                "postTok": post_tok,
                "logs": list(meta.logs()),
                "inner": inner,
                "cu": meta.compute_units_consumed(),
                "ret": ret_json,
                "lw": loaded_w,
                "lr": loaded_r,
            },
            memo=self._memo(tx, key_strs),
        )

    @staticmethod
    def _memo(tx: VersionedTransaction, keys: list[str]) -> str | None:
        pairs = [
            (keys[ix.program_id_index], bytes(ix.data))
            for ix in tx.message.instructions
            if ix.program_id_index < len(keys)
        ]
        return memo_of(pairs)

    def _index(self, record: TxRecord) -> None:
        self.txs.append(record)
        self.by_sig[record.signature] = record
        for key in record.keys:
            self.by_address.setdefault(key, []).append(record.seq)
        self.known.update(record.keys)

    def airdrop(self, pubkey: Pubkey, lamports: int) -> str:
        """A real transfer from the faucet account, so it shows up in every index."""
        for block in reversed(self.blocks):
            if not self.blockhash_valid_at(block.blockhash, self.height):
                break
            tx = Transaction(
                [self.faucet],
                Message(
                    [
                        transfer(
                            TransferParams(
                                from_pubkey=self.faucet_pubkey, to_pubkey=pubkey, lamports=lamports
                            )
                        )
                    ],
                    self.faucet_pubkey,
                ),
                Hash.from_string(block.blockhash),
            )
            vtx = VersionedTransaction.from_legacy(tx)
            if str(vtx.signatures[0]) not in self.by_sig:  # same amount twice in one slot
                return self.send_transaction(
                    vtx, bytes(vtx), skip_preflight=False, preflight_commitment="processed"
                )
        raise RpcError(-32603, "Internal error")

    def simulate(
        self, tx: VersionedTransaction, *, replace_blockhash: bool, commitment: str
    ) -> tuple[Any, list[str] | None, int, Any, dict[str, Account], list[list[Any]], Any]:
        """simulateTransaction against the current state: (err, logs, units, return data,
        post-simulation accounts by address, inner instructions, replacement blockhash)."""
        bank = self.block_at(commitment)
        replacement = None
        if replace_blockhash:
            tx = _with_blockhash(tx, Hash.from_string(bank.blockhash))
            replacement = {
                "blockhash": bank.blockhash,
                "lastValidBlockHeight": self.last_valid_block_height(bank),
            }
        elif not self.age_ok(tx, bank.height):
            return "BlockhashNotFound", [], 0, None, {}, [], replacement
        known = self.by_sig.get(str(tx.signatures[0]))
        if known is not None and known.slot <= bank.slot:
            return "AlreadyProcessed", [], 0, None, {}, [], replacement
        result = self.svm.simulate_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            return (
                _err_json(result),
                list(meta.logs()),
                meta.compute_units_consumed(),
                None,
                {},
                [],
                replacement,
            )
        meta = result.meta()
        ret = meta.return_data()
        ret_json = (
            {
                "programId": str(ret.program_id),
                "data": [base64.b64encode(bytes(ret.data)).decode(), "base64"],
            }
            if ret is not None and ret.data
            else None
        )
        post = {str(k): a for k, a in result.post_accounts()}
        inner = _inner_instructions(meta)
        return (
            None,
            list(meta.logs()),
            meta.compute_units_consumed(),
            ret_json,
            post,
            inner,
            replacement,
        )

    # ---- queries ------------------------------------------------------------------------

    def signatures_for_address(
        self,
        address: str,
        *,
        before: str | None,
        until: str | None,
        limit: int,
        highest_slot: int,
    ) -> list[TxRecord]:
        """Newest first, only transactions whose account keys include `address`."""
        seqs = self.by_address.get(address)
        if not seqs:
            return []
        end = len(seqs)
        if before is not None:
            anchor = self.by_sig.get(before)
            if anchor is None:
                return []  # the node answers an unknown `before` with an empty list
            end = bisect.bisect_left(seqs, anchor.seq)
        start = 0
        if until is not None:
            stop = self.by_sig.get(until)
            if stop is not None:
                start = bisect.bisect_right(seqs, stop.seq)
        out: list[TxRecord] = []
        for i in range(end - 1, start - 1, -1):
            record = self.txs[seqs[i]]
            if record.slot > highest_slot:
                continue
            out.append(record)
            if len(out) >= limit:
                break
        return out

    def in_status_cache(self, record: TxRecord) -> bool:
        rooted = self.block_at("finalized").height
        return record.height > rooted - self.config.status_cache_blocks

    # ---- persistence --------------------------------------------------------------------

    def snapshot(self) -> str:
        """The whole chain as one JSON document (tx records are cached fragments)."""
        accounts: dict[str, list[Any]] = {}
        for key in sorted(self.known):
            account = self.svm.get_account(Pubkey.from_string(key))
            if account is None or account.executable or str(account.owner) in _BUILTIN_OWNERS:
                continue
            accounts[key] = [
                account.lamports,
                base64.b64encode(bytes(account.data)).decode(),
                str(account.owner),
                account.rent_epoch,
            ]
        head = {
            "version": STATE_VERSION,
            "seed": self.config.seed,
            "accounts_count": self.config.accounts,
            "genesis_hash": self.genesis_hash,
            "blocks": [[b.slot, b.height, b.blockhash, b.time] for b in self.blocks],
            "blockhashes": [[h, bh] for h, bh in self._blockhash_order],
            "known": sorted(self.known),
            "accounts": accounts,
            "pools": self.pools,
        }
        txs = ",".join(record.persisted() for record in self.txs)
        return json.dumps(head, separators=(",", ":"))[:-1] + ',"txs":[' + txs + "]}"

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported Solana devnet state version {state.get('version')}")
        if state["seed"] != self.config.seed or state["accounts_count"] != self.config.accounts:
            raise ValueError(
                "Solana devnet state was created with another seed or account count; "
                "delete it or use the same settings"
            )
        self.genesis_hash = state["genesis_hash"]
        for key, (lamports, data, owner, rent_epoch) in state["accounts"].items():
            account = Account(
                lamports, base64.b64decode(data), Pubkey.from_string(owner), False, rent_epoch
            )
            self.svm.set_account(Pubkey.from_string(key), account)
            self._index_token_account(key, account)
        self.known = set(state["known"])
        self.pools = [(a, b, fee) for a, b, fee in state.get("pools", [])]
        for slot, height, blockhash, when in state["blocks"]:
            self.blocks.append(Block(slot, height, blockhash, when))
        last = self.blocks[-1]
        self.slot, self.height = last.slot, last.height
        for height, blockhash in state["blockhashes"]:
            self._blockhash_order.append((height, blockhash))
            self.blockhash_height[blockhash] = height
        self.svm.set_clock(Clock(last.slot, 0, 0, 0, last.time))
        for signature, slot, height, block_time, raw_b64, meta in state["txs"]:
            raw = base64.b64decode(raw_b64)
            tx = VersionedTransaction.from_bytes(raw)
            keys = [str(k) for k in tx.message.account_keys] + meta["lw"] + meta["lr"]
            record = TxRecord(
                seq=len(self.txs),
                signature=signature,
                slot=slot,
                height=height,
                block_time=block_time,
                raw=raw,
                tx=tx,
                keys=keys,
                meta=meta,
                memo=self._memo(tx, keys),
            )
            self._index(record)
        self.dirty = False


def _with_blockhash(tx: VersionedTransaction, blockhash: Hash) -> VersionedTransaction:
    message = tx.message
    if isinstance(message, Message):
        header = message.header
        new_message: Any = Message.new_with_compiled_instructions(
            header.num_required_signatures,
            header.num_readonly_signed_accounts,
            header.num_readonly_unsigned_accounts,
            list(message.account_keys),
            blockhash,
            list(message.instructions),
        )
    elif isinstance(message, MessageV0):
        new_message = MessageV0(
            message.header,
            list(message.account_keys),
            blockhash,
            list(message.instructions),
            list(message.address_table_lookups),
        )
    else:
        raise invalid_params("replaceRecentBlockhash: unsupported message version")
    return VersionedTransaction.populate(new_message, list(tx.signatures))
