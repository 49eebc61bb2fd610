"""Solana JSON-RPC over HTTP, backed by `SolanaChain`, and PubSub over a WebSocket on `GET /`.

The methods a wallet service uses, answered with the shapes, codes and messages of an Agave
node so that `solana.rpc.async_api.AsyncClient` and `solana.rpc.websocket_api.SolanaWsClient`
(and anything else written against a real node) parse them unchanged. Deviations from a node
are listed in the package docstring; the subscriptions live in `devnet.solana.pubsub`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import math
import os
import struct
import threading
from typing import Any

import base58
from aiohttp import web
from solders.hash import Hash
from solders.message import from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from devnet.faults import ADMIN_PREFIX, Faults, drop_connection
from devnet.http import DevnetServer
from devnet.solana import tokens
from devnet.solana.chain import (
    COMMITMENTS,
    Block,
    SolanaChain,
    TxRecord,
    derive_keypair,
)
from devnet.solana.config import LAMPORTS_PER_SOL, SolanaDevnetConfig
from devnet.solana.errors import (
    INVALID_REQUEST,
    MIN_CONTEXT_SLOT_NOT_REACHED,
    PARSE_ERROR,
    SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    answer,
    error_reply,
    invalid_params,
    preflight_failure,
)
from devnet.solana.prices import PriceApis
from devnet.solana.pubsub import PubSub
from devnet.solana.render import encode_account, render_inner_parsed, render_transaction
from devnet.solana.venue import SOL_MINT, SwapVenue

log = logging.getLogger(__name__)

API_VERSION = "2.2.7"
FEATURE_SET = 3294202862
SLOTS_PER_EPOCH = 432_000
MAX_SIGNATURES_FOR_ADDRESS = 1000
MAX_SIGNATURE_STATUSES = 256
MAX_MULTIPLE_ACCOUNTS = 100
MAX_BASE58_TX = 1683
MAX_BASE64_TX = 1644
PACKET_DATA_SIZE = 1232
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
LAMPORTS_PER_SIGNATURE = 5000


class _Call:
    """Per-HTTP-request state shared by the calls of a batch."""

    __slots__ = ("lose_response",)

    def __init__(self) -> None:
        self.lose_response = False


def _pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise invalid_params("Invalid params: expected a base58 pubkey string")
    try:
        return Pubkey.from_string(value)
    except ValueError:
        try:
            size_ok = len(base58.b58decode(value)) == 32
        except ValueError:
            size_ok = True
        raise invalid_params(
            "Invalid param: Invalid" if size_ok else "Invalid param: WrongSize"
        ) from None


def _signature(value: Any) -> str:
    if not isinstance(value, str):
        raise invalid_params("Invalid params: expected a base58 signature string")
    try:
        return str(Signature.from_string(value))
    except ValueError:
        try:
            size_ok = len(base58.b58decode(value)) == 64
        except ValueError:
            size_ok = True
        raise invalid_params(
            "Invalid param: Invalid" if size_ok else "Invalid param: WrongSize"
        ) from None


def _arg(params: list[Any], index: int, default: Any = None) -> Any:
    return params[index] if index < len(params) and params[index] is not None else default


def _config(params: list[Any], index: int) -> dict[str, Any]:
    cfg = _arg(params, index, {})
    if not isinstance(cfg, dict):
        raise invalid_params("Invalid params: expected a configuration object")
    return cfg


def _commitment(cfg: dict[str, Any], key: str = "commitment") -> str:
    raw = cfg.get(key) or "finalized"
    commitment = COMMITMENTS.get(raw)
    if commitment is None:
        raise invalid_params(f"Invalid params: unknown variant `{raw}`")
    return commitment


def _at_least_confirmed(commitment: str) -> None:
    if commitment == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")


def _check_min_context(cfg: dict[str, Any], block: Block) -> None:
    wanted = cfg.get("minContextSlot")
    if wanted is not None and block.slot < int(wanted):
        raise RpcError(
            MIN_CONTEXT_SLOT_NOT_REACHED,
            "Minimum context slot has not been reached",
            {"contextSlot": block.slot},
        )


def _context(block: Block) -> dict[str, Any]:
    return {"apiVersion": API_VERSION, "slot": block.slot}


def _decode_wire(data: Any, encoding: str, what: str) -> bytes:
    """decode_and_deserialize's size limits and messages."""
    if not isinstance(data, str):
        raise invalid_params("Invalid params: expected an encoded transaction string")
    if encoding == "base58":
        if len(data) > MAX_BASE58_TX:
            raise invalid_params(
                f"base58 encoded {what} too large: {len(data)} bytes "
                f"(max: encoded/raw {MAX_BASE58_TX}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = base58.b58decode(data)
        except ValueError as exc:
            raise invalid_params(f"invalid base58 encoding: {exc}") from None
    elif encoding == "base64":
        if len(data) > MAX_BASE64_TX:
            raise invalid_params(
                f"base64 encoded {what} too large: {len(data)} bytes "
                f"(max: encoded/raw {MAX_BASE64_TX}/{PACKET_DATA_SIZE})"
            )
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_params(f"invalid base64 encoding: {exc}") from None
    else:
        raise invalid_params(
            f"unsupported encoding: {encoding}. Supported encodings: base58, base64"
        )
    if len(raw) > PACKET_DATA_SIZE:
        raise invalid_params(
            f"decoded {what} too large: {len(raw)} bytes (max: {PACKET_DATA_SIZE} bytes)"
        )
    return raw


def _decode_transaction(data: Any, encoding: str) -> tuple[bytes, VersionedTransaction]:
    what = "solana_transaction::versioned::VersionedTransaction"
    raw = _decode_wire(data, encoding, what)
    try:
        return raw, VersionedTransaction.from_bytes(raw)
    except ValueError as exc:
        raise invalid_params(f"failed to deserialize {what}: {exc}") from None


class SolanaDevnet(DevnetServer):
    """The devnet server. `chain` is the ledger; tests may also drive it directly."""

    name = "solana"

    def __init__(
        self, config: SolanaDevnetConfig | None = None, faults: Faults | None = None
    ) -> None:
        self.config = config or SolanaDevnetConfig()
        self.chain = SolanaChain(self.config)
        self._methods = {
            name[len("rpc_") :]: getattr(self, name)
            for name in dir(self)
            if name.startswith("rpc_")
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._loaded = False
        self._save_seq = 0
        self._written_seq = 0
        self._write_lock = threading.Lock()
        # Orphans (see orphan_next): how many sends are still to be orphaned, and the visible
        # ones: signature -> (record, position among the chain's transactions).
        self._orphan_budget = 0
        self._orphans: dict[str, tuple[TxRecord, float]] = {}
        self.venue = SwapVenue(self.chain)
        self.price_apis = PriceApis(self.venue)
        super().__init__(faults)
        self.pubsub = PubSub(self.chain, self.faults)

    # ---- lifecycle ----------------------------------------------------------------------

    def setup_routes(self, app: web.Application) -> None:
        app.router.add_post("/", self._handle)
        app.router.add_get("/", self._websocket)
        app.router.add_get("/health", self._health)
        app.router.add_post(ADMIN_PREFIX + "orphan_next", self._orphan_route)
        self.venue.add_routes(app, self._load)
        self.price_apis.add_routes(app, self._load)

    def _load(self) -> None:
        if self._loaded:
            return
        path = self.config.state_path
        if path is not None and path.exists():
            self.chain.restore(json.loads(path.read_text()))
            log.info("solana devnet: restored slot %s from %s", self.chain.slot, path)
        else:
            self.chain.genesis()
            self._genesis_pools()
        self._loaded = True
        self.pubsub.attach()

    def _genesis_pools(self) -> None:
        """USDC and the Token-2022 mint against SOL at 150 a SOL, and against each other."""
        usdc, pyusd = str(self.chain.spl_mint), str(self.chain.token2022_mint)
        tokens_per_sol = 150 * 10**self.config.decimals
        sol = 10_000
        for mint in (usdc, pyusd):
            self.venue.add_liquidity(
                mint, SOL_MINT, sol * tokens_per_sol, sol * LAMPORTS_PER_SOL, 30
            )
        million = 1_000_000 * 10**self.config.decimals
        self.venue.add_liquidity(usdc, pyusd, million, million, 5)

    async def on_start(self) -> None:
        self._load()
        self.pubsub.start()
        if self.config.slot_ms > 0:
            self._tasks.append(asyncio.create_task(self._slot_clock(), name="solana-slots"))
        if self.config.state_path is not None:
            self._tasks.append(asyncio.create_task(self._autosave(), name="solana-autosave"))

    async def on_stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.pubsub.stop()
        await self.price_apis.stop()
        self.save()

    async def _slot_clock(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.config.slot_ms / 1000
        due = loop.time() + period
        while True:
            await asyncio.sleep(max(due - loop.time(), 0))
            # Catch up on slots missed while the loop was busy, but never in one huge burst.
            behind = min(int((loop.time() - due) / period) + 1, 64)
            for _ in range(behind):
                self._produce_block()
            due += behind * period
            if due < loop.time() - 64 * period:
                due = loop.time() + period

    async def _autosave(self) -> None:
        while True:
            await asyncio.sleep(self.config.save_interval_s)
            if self.chain.dirty:
                # The snapshot is taken on the loop (consistent); only the disk write is moved
                # off it.
                self._save_seq += 1
                text, seq = self.chain.snapshot(), self._save_seq
                self.chain.dirty = False
                await asyncio.to_thread(self._write, text, seq)

    def save(self) -> None:
        """Write the state file now (atomically), if a state path is configured."""
        if self.config.state_path is None or not self._loaded:
            return
        self._save_seq += 1
        self._write(self.chain.snapshot(), self._save_seq)
        self.chain.dirty = False

    def _write(self, text: str, seq: int) -> None:
        """tmp + rename; a slower write of an older snapshot never replaces a newer one."""
        path = self.config.state_path
        assert path is not None
        with self._write_lock:
            if seq <= self._written_seq:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text)
            os.replace(tmp, path)
            self._written_seq = seq

    def advance(self, n: int = 1) -> Block:
        """Produce `n` blocks now (for tests that drive slots by hand)."""
        self._load()
        block = self.chain.blocks[-1] if self.chain.blocks else None
        for _ in range(n):
            block = self._produce_block()
        assert block is not None
        return block

    def _produce_block(self) -> Block:
        """A new block; orphans whose block is now final vanish; subscribers hear of it."""
        self.pubsub.catch_up()
        block = self.chain.produce_block()
        if self._orphans:
            rooted = self.chain.block_at("finalized").slot
            for signature, (record, _) in list(self._orphans.items()):
                if record.slot <= rooted:
                    del self._orphans[signature]
        self.pubsub.on_block(block)
        return block

    @property
    def ws_url(self) -> str:
        """The PubSub endpoint: the same server, ws:// scheme."""
        return "ws" + self.url[len("http") :] if self.url else ""

    def orphan_next(self, count: int = 1) -> None:
        """The next `count` sendTransaction calls that would execute successfully land as
        orphans: seen at processed and confirmed, never finalized (see the package docs)."""
        if count < 0:
            raise ValueError("count must be >= 0")
        self._orphan_budget = count

    def info(self) -> dict[str, Any]:
        self._load()
        return {
            "url": self.url,
            "accounts": [
                {"address": str(pk), "secret_key": str(kp)}
                for kp, pk in zip(self.chain.keypairs, self.chain.pubkeys, strict=True)
            ],
            "spl_mint": str(self.chain.spl_mint),
            "spl_symbol": "USDC",
            "token2022_mint": str(self.chain.token2022_mint),
            "decimals": self.config.decimals,
            "slot_ms": self.config.slot_ms,
            "confirmed_lag": self.config.confirmed_lag,
            "finalized_lag": self.config.finalized_lag,
            "ws_url": self.ws_url,
            "swap_url": f"{self.url}/swap/v1",
            # Jupiter Price v3 (`/price/v3`) and CoinGecko (`/api/v3/simple/...`) share it.
            "price_url": self.url,
            "pools": self.venue.describe(),
        }

    # ---- HTTP / JSON-RPC ----------------------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self._load()
        return await self.pubsub.handle(request)

    async def _orphan_route(self, request: web.Request) -> web.Response:
        """POST /_devnet/orphan_next {"count": N} (default 1): see orphan_next()."""
        try:
            body = await request.json() if request.can_read_body else {}
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            count = body.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ValueError("count must be an integer >= 0")
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        self.orphan_next(count)
        return web.json_response({"pending": self._orphan_budget})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        call = _Call()
        try:
            payload = json.loads(body)
        except ValueError:
            out: Any = error_reply(None, RpcError(PARSE_ERROR, "Parse error"))
        else:
            if isinstance(payload, list):
                if not payload:
                    out = error_reply(None, RpcError(INVALID_REQUEST, "Invalid request"))
                else:
                    out = [self._dispatch(item, call) for item in payload]
            else:
                out = self._dispatch(payload, call)
        if call.lose_response:
            return drop_connection(request)
        return web.Response(
            body=json.dumps(out, separators=(",", ":")).encode(),
            content_type="application/json",
        )

    def _dispatch(self, item: Any, call: _Call) -> dict[str, Any]:
        return answer(item, self._methods, functools.partial(self._invoke, call=call))

    def _invoke(self, method: Any, params: list[Any], call: _Call) -> Any:
        self._load()
        return method(params, call)

    # ---- cluster ------------------------------------------------------------------------

    def rpc_getHealth(self, params: list[Any], call: _Call) -> Any:
        return "ok"

    def rpc_getVersion(self, params: list[Any], call: _Call) -> Any:
        return {"feature-set": FEATURE_SET, "solana-core": API_VERSION}

    def rpc_getGenesisHash(self, params: list[Any], call: _Call) -> Any:
        return self.chain.genesis_hash

    def rpc_getIdentity(self, params: list[Any], call: _Call) -> Any:
        return {"identity": str(derive_keypair(self.config.seed, "validator").pubkey())}

    def _block(self, params: list[Any], index: int) -> tuple[Block, dict[str, Any]]:
        cfg = _config(params, index)
        block = self.chain.block_at(_commitment(cfg))
        _check_min_context(cfg, block)
        return block, cfg

    def rpc_getSlot(self, params: list[Any], call: _Call) -> Any:
        return self._block(params, 0)[0].slot

    def rpc_getBlockHeight(self, params: list[Any], call: _Call) -> Any:
        return self._block(params, 0)[0].height

    def rpc_getEpochInfo(self, params: list[Any], call: _Call) -> Any:
        block = self._block(params, 0)[0]
        return {
            "absoluteSlot": block.slot,
            "blockHeight": block.height,
            "epoch": block.slot // SLOTS_PER_EPOCH,
            "slotIndex": block.slot % SLOTS_PER_EPOCH,
            "slotsInEpoch": SLOTS_PER_EPOCH,
            "transactionCount": len(self.chain.txs),
        }

    def rpc_getTransactionCount(self, params: list[Any], call: _Call) -> Any:
        block = self._block(params, 0)[0]
        return sum(1 for _ in self._txs_up_to(block.slot))

    def _txs_up_to(self, slot: int) -> Any:
        return (r for r in self.chain.txs if r.slot <= slot)

    def rpc_getFirstAvailableBlock(self, params: list[Any], call: _Call) -> Any:
        return 0

    def rpc_minimumLedgerSlot(self, params: list[Any], call: _Call) -> Any:
        return 0

    def rpc_getLatestBlockhash(self, params: list[Any], call: _Call) -> Any:
        block, _ = self._block(params, 0)
        value = {
            "blockhash": block.blockhash,
            "lastValidBlockHeight": self.chain.last_valid_block_height(block),
        }
        return {"context": _context(block), "value": value}

    def rpc_isBlockhashValid(self, params: list[Any], call: _Call) -> Any:
        raw = _arg(params, 0)
        try:
            blockhash = str(Hash.from_string(raw))
        except (ValueError, TypeError) as exc:
            raise invalid_params(f"{exc}") from None
        block, _ = self._block(params, 1)
        return {
            "context": _context(block),
            "value": self.chain.blockhash_valid_at(blockhash, block.height),
        }

    def rpc_getRecentPrioritizationFees(self, params: list[Any], call: _Call) -> Any:
        for key in _arg(params, 0, []):
            _pubkey(key)
        blocks = list(self.chain.blocks)[-150:]
        return [{"prioritizationFee": 0, "slot": b.slot} for b in blocks]

    def rpc_getMinimumBalanceForRentExemption(self, params: list[Any], call: _Call) -> Any:
        size = _arg(params, 0)
        if not isinstance(size, int) or size < 0:
            raise invalid_params("Invalid params: expected a data length")
        return self.chain.svm.minimum_balance_for_rent_exemption(size)

    def rpc_getFeeForMessage(self, params: list[Any], call: _Call) -> Any:
        raw = _decode_wire(_arg(params, 0), "base64", "solana_message::versioned::VersionedMessage")
        try:
            message = from_bytes_versioned(raw)
        except ValueError as exc:
            raise invalid_params(f"invalid transaction message: {exc}") from None
        block, _ = self._block(params, 1)
        if not self.chain.blockhash_valid_at(str(message.recent_blockhash), block.height):
            return {"context": _context(block), "value": None}
        return {"context": _context(block), "value": _fee_for(message)}

    # ---- accounts -----------------------------------------------------------------------

    def rpc_getBalance(self, params: list[Any], call: _Call) -> Any:
        pubkey = _pubkey(_arg(params, 0))
        block, _ = self._block(params, 1)
        account = self.chain.account_at(pubkey, block.slot)
        return {"context": _context(block), "value": account.lamports if account else 0}

    def _encoding(self, cfg: dict[str, Any]) -> str:
        return str(cfg.get("encoding") or "binary")

    def rpc_getAccountInfo(self, params: list[Any], call: _Call) -> Any:
        pubkey = _pubkey(_arg(params, 0))
        block, cfg = self._block(params, 1)
        account = self.chain.account_at(pubkey, block.slot)
        value = (
            encode_account(account, self._encoding(cfg), cfg.get("dataSlice"), self.chain.decimals)
            if account is not None
            else None
        )
        return {"context": _context(block), "value": value}

    def rpc_getMultipleAccounts(self, params: list[Any], call: _Call) -> Any:
        keys = _arg(params, 0, [])
        if not isinstance(keys, list):
            raise invalid_params("Invalid params: expected an array of pubkeys")
        if len(keys) > MAX_MULTIPLE_ACCOUNTS:
            raise invalid_params(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        pubkeys = [_pubkey(k) for k in keys]
        block, cfg = self._block(params, 1)
        encoding = self._encoding(cfg)
        values = []
        for pubkey in pubkeys:
            account = self.chain.account_at(pubkey, block.slot)
            values.append(
                encode_account(account, encoding, cfg.get("dataSlice"), self.chain.decimals)
                if account is not None
                else None
            )
        return {"context": _context(block), "value": values}

    def rpc_getTokenAccountBalance(self, params: list[Any], call: _Call) -> Any:
        pubkey = _pubkey(_arg(params, 0))
        block, _ = self._block(params, 1)
        account = self.chain.account_at(pubkey, block.slot)
        if account is None:
            raise invalid_params("Invalid param: could not find account")
        if str(account.owner) not in tokens.TOKEN_PROGRAMS:
            raise invalid_params("Invalid param: not a Token account")
        parsed = tokens.parse_token_account(bytes(account.data))
        if parsed is None:
            raise invalid_params("Invalid param: not a Token account")
        decimals = self.chain.decimals(parsed.mint)
        if decimals is None:
            raise invalid_params("Invalid param: could not find mint")
        return {
            "context": _context(block),
            "value": tokens.ui_token_amount(parsed.amount, decimals),
        }

    def rpc_getTokenAccountsByOwner(self, params: list[Any], call: _Call) -> Any:
        owner = _pubkey(_arg(params, 0))
        selector = _arg(params, 1)
        if not isinstance(selector, dict) or not ({"mint", "programId"} & selector.keys()):
            raise invalid_params("Invalid params: expected a mint or programId filter")
        block, cfg = self._block(params, 2)
        mint: str | None = None
        if "mint" in selector:
            mint_key = _pubkey(selector["mint"])
            mint_account = self.chain.account_at(mint_key, block.slot)
            if mint_account is None:
                raise invalid_params("Invalid param: could not find mint")
            program = str(mint_account.owner)
            if program not in tokens.TOKEN_PROGRAMS:
                raise invalid_params("Invalid param: not a Token mint")
            mint = str(mint_key)
        else:
            program = str(_pubkey(selector["programId"]))
            if program not in tokens.TOKEN_PROGRAMS:
                raise invalid_params("Invalid param: unrecognized Token program id")
        owner_str = str(owner)
        encoding = self._encoding(cfg)
        values = []
        for key in sorted(self.chain.token_accounts_by_owner.get(owner_str, ())):
            account = self.chain.account_at(Pubkey.from_string(key), block.slot)
            if account is None or str(account.owner) != program:
                continue
            parsed = tokens.parse_token_account(bytes(account.data))
            if parsed is None or parsed.owner != owner_str or (mint and parsed.mint != mint):
                continue
            values.append(
                {
                    "account": encode_account(
                        account, encoding, cfg.get("dataSlice"), self.chain.decimals
                    ),
                    "pubkey": key,
                }
            )
        return {"context": _context(block), "value": values}

    # ---- transactions -------------------------------------------------------------------

    def rpc_sendTransaction(self, params: list[Any], call: _Call) -> Any:
        cfg = _config(params, 1)
        raw, tx = _decode_transaction(_arg(params, 0), str(cfg.get("encoding") or "base58"))
        skip = bool(cfg.get("skipPreflight", False))
        commitment = "processed" if skip else _commitment(cfg, "preflightCommitment")
        _check_min_context(cfg, self.chain.block_at(commitment))
        orphan = self._orphans.get(str(tx.signatures[0]))
        if orphan and not skip and orphan[0].slot <= self.chain.block_at(commitment).slot:
            raise preflight_failure("AlreadyProcessed", [], 0)  # the fork's status cache
        signature = self._land_orphan(tx, raw, skip, commitment) if self._orphan_budget else None
        if signature is None:
            signature = self.chain.send_transaction(
                tx, raw, skip_preflight=skip, preflight_commitment=commitment
            )
            self.pubsub.catch_up()
            if signature in self.chain.by_sig:
                self._orphans.pop(signature, None)  # re-sent, it landed on the chain itself
        if self.faults.lose_response("sendTransaction"):
            call.lose_response = True
        return signature

    def rpc_requestAirdrop(self, params: list[Any], call: _Call) -> Any:
        pubkey = _pubkey(_arg(params, 0))
        lamports = _arg(params, 1)
        if not isinstance(lamports, int) or lamports < 0:
            raise invalid_params("Invalid params: expected lamports as an integer")
        signature = self.chain.airdrop(pubkey, lamports)
        self.pubsub.catch_up()
        return signature

    def rpc_simulateTransaction(self, params: list[Any], call: _Call) -> Any:
        cfg = _config(params, 1)
        _raw, tx = _decode_transaction(_arg(params, 0), str(cfg.get("encoding") or "base58"))
        sig_verify = bool(cfg.get("sigVerify", False))
        replace = bool(cfg.get("replaceRecentBlockhash", False))
        if sig_verify and replace:
            raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
        block, _ = self._block(params, 1)
        try:
            tx.sanitize()
        except ValueError:
            raise invalid_params(
                "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
            ) from None
        if sig_verify and not all(tx.verify_with_results()):
            raise RpcError(
                SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
            )
        err, logs, units, ret, post, inner, replacement = self.chain.simulate(
            tx, replace_blockhash=replace, commitment=_commitment(cfg)
        )
        keys, _, _ = self.chain.account_keys(tx)
        key_strs = [str(k) for k in keys]
        accounts = None
        wanted = cfg.get("accounts")
        if wanted:
            encoding = str(wanted.get("encoding") or "base64")
            if encoding in ("binary", "base58"):
                raise invalid_params("base58 encoding not supported")
            addresses = wanted.get("addresses") or []
            if len(addresses) > len(key_strs):
                raise invalid_params(f"Too many accounts provided; max {len(key_strs)}")
            accounts = []
            for address in addresses:
                pubkey = _pubkey(address)
                account = None if err is not None else post.get(str(pubkey))
                if account is None and err is None:
                    account = self.chain.account(pubkey)
                accounts.append(
                    encode_account(account, encoding, None, self.chain.decimals)
                    if account is not None and account.lamports
                    else None
                )
        loaded = 0
        for key in keys:
            account = self.chain.svm.get_account(key)
            loaded += len(account.data) if account is not None else 0
        value = {
            "accounts": accounts,
            "err": err,
            "innerInstructions": (
                render_inner_parsed(inner, key_strs) if cfg.get("innerInstructions") else None
            ),
            "loadedAccountsDataSize": loaded if logs else 0,
            "logs": logs,
            "replacementBlockhash": replacement,
            "returnData": ret,
            "unitsConsumed": units,
        }
        return {"context": _context(block), "value": value}

    def rpc_getSignatureStatuses(self, params: list[Any], call: _Call) -> Any:
        signatures = _arg(params, 0, [])
        if not isinstance(signatures, list):
            raise invalid_params("Invalid params: expected an array of signatures")
        if len(signatures) > MAX_SIGNATURE_STATUSES:
            raise invalid_params(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        keys = [_signature(s) for s in signatures]
        search_history = bool(_config(params, 1).get("searchTransactionHistory", False))
        chain = self.chain
        rooted = chain.block_at("finalized")
        values: list[Any] = []
        for key in keys:
            record = chain.by_sig.get(key) or self._visible_orphan(key)
            status: Any = None
            if record is not None:
                err = record.err
                if record.seq < 0 or chain.in_status_cache(record):
                    level = chain.confirmation_status(record)
                    status = {
                        "confirmationStatus": level,
                        "confirmations": (
                            None if level == "finalized" else chain.height - record.height
                        ),
                        "err": err,
                        "slot": record.slot,
                        "status": {"Ok": None} if err is None else {"Err": err},
                    }
                elif search_history and record.slot <= rooted.slot:
                    status = {
                        "confirmationStatus": "finalized",
                        "confirmations": None,
                        "err": err,
                        "slot": record.slot,
                        "status": {"Ok": None} if err is None else {"Err": err},
                    }
            values.append(status)
        return {"context": _context(chain.blocks[-1]), "value": values}

    def rpc_getSignaturesForAddress(self, params: list[Any], call: _Call) -> Any:
        address = str(_pubkey(_arg(params, 0)))
        cfg = _config(params, 1)
        limit = cfg.get("limit")
        if limit is None:
            limit = MAX_SIGNATURES_FOR_ADDRESS
        if not isinstance(limit, int) or not 1 <= limit <= MAX_SIGNATURES_FOR_ADDRESS:
            raise invalid_params(f"Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}")
        before = _signature(cfg["before"]) if cfg.get("before") else None
        until = _signature(cfg["until"]) if cfg.get("until") else None
        commitment = _commitment(cfg)
        _at_least_confirmed(commitment)
        block = self.chain.block_at(commitment)
        _check_min_context(cfg, block)
        rooted = self.chain.block_at("finalized").slot
        if self._orphans:
            records = self._signatures_with_orphans(address, before, until, limit, block.slot)
        else:
            records = self.chain.signatures_for_address(
                address, before=before, until=until, limit=limit, highest_slot=block.slot
            )
        return [
            {
                "blockTime": r.block_time,
                "confirmationStatus": "finalized" if r.slot <= rooted else "confirmed",
                "err": r.err,
                "memo": r.memo,
                "signature": r.signature,
                "slot": r.slot,
            }
            for r in records
        ]

    def rpc_getTransaction(self, params: list[Any], call: _Call) -> Any:
        signature = _signature(_arg(params, 0))
        cfg_raw = _arg(params, 1, {})
        # The deprecated form passes the encoding as a bare string.
        cfg = {"encoding": cfg_raw} if isinstance(cfg_raw, str) else _config(params, 1)
        commitment = _commitment(cfg)
        _at_least_confirmed(commitment)
        record = self.chain.by_sig.get(signature) or self._visible_orphan(signature)
        if record is None or record.slot > self.chain.block_at(commitment).slot:
            return None
        version = cfg.get("maxSupportedTransactionVersion")
        return render_transaction(
            record,
            str(cfg.get("encoding") or "json"),
            int(version) if version is not None else None,
        )

    # ---- orphans ----------------------------------------------------------------------------

    def _land_orphan(
        self, tx: VersionedTransaction, raw: bytes, skip: bool, commitment: str
    ) -> str | None:
        """Land `tx` as an orphan if the chain would accept and successfully execute it: the
        simulated result is recorded (statuses, history, notifications) but never applied to
        the LiteSVM state. None: not orphaned (the chain handles it the normal way)."""
        chain = self.chain
        try:
            tx.sanitize()
        except ValueError:
            return None
        signature = str(tx.signatures[0])
        if signature in chain.by_sig or signature in self._orphans:
            return None
        if not all(tx.verify_with_results()) or not chain.age_ok(tx, chain.height):
            return None
        if not skip and not chain.age_ok(tx, chain.block_at(commitment).height):
            return None
        keys, loaded_w, loaded_r = chain.account_keys(tx)
        pre = [chain.svm.get_account(k) for k in keys]
        result = chain.svm.simulate_transaction(tx)
        if isinstance(result, FailedTransactionMetadata):
            return None
        written = {str(k): a for k, a in result.post_accounts()}
        key_strs = [str(k) for k in keys]
        post = [written.get(k, a) for k, a in zip(key_strs, pre, strict=True)]
        record = chain.make_record(
            tx, raw, signature, key_strs, loaded_w, loaded_r, pre, post, result.meta(), None, -1
        )
        self._orphan_budget -= 1
        self._orphans[signature] = (record, len(chain.txs) - 0.5)
        self.pubsub.on_orphan(record, {k: a if a.lamports else None for k, a in written.items()})
        return signature

    def _visible_orphan(self, signature: str) -> TxRecord | None:
        entry = self._orphans.get(signature)
        if entry is None or entry[0].slot <= self.chain.block_at("finalized").slot:
            return None
        return entry[0]

    def _signatures_with_orphans(
        self, address: str, before: str | None, until: str | None, limit: int, highest_slot: int
    ) -> list[TxRecord]:
        """getSignaturesForAddress with the visible orphans merged in landing order."""
        chain = self.chain

        def position(signature: str) -> float | None:
            record = chain.by_sig.get(signature)
            if record is not None:
                return record.seq
            entry = self._orphans.get(signature)
            return entry[1] if entry is not None else None

        def anchor(index: int) -> str | None:
            """The real transaction at this index, for the chain's own before/until."""
            return chain.txs[index].signature if 0 <= index < len(chain.txs) else None

        high = position(before) if before is not None else None
        if before is not None and high is None:
            return []  # an unknown `before`: the node answers an empty list
        low = position(until) if until is not None else None
        real = chain.signatures_for_address(
            address,
            # An orphan sits between two real transactions (position n - 0.5).
            before=anchor(math.ceil(high)) if high is not None else None,
            until=anchor(math.floor(low)) if low is not None else None,
            limit=limit,
            highest_slot=highest_slot,
        )
        rooted = chain.block_at("finalized").slot
        merged: list[tuple[float, TxRecord]] = [(r.seq, r) for r in real]
        for record, pos in self._orphans.values():
            if (
                address in record.keys
                and rooted < record.slot <= highest_slot
                and (high is None or pos < high)
                and (low is None or pos > low)
            ):
                merged.append((pos, record))
        merged.sort(key=lambda item: item[0], reverse=True)
        return [record for _, record in merged[:limit]]


def _fee_for(message: Any) -> int:
    """Signature fees plus the priority fee a compute-budget price asks for."""
    keys = [str(k) for k in message.account_keys]
    price = 0
    limit: int | None = None
    other = 0
    for ix in message.instructions:
        data = bytes(ix.data)
        if keys[ix.program_id_index] == COMPUTE_BUDGET_PROGRAM and data:
            if data[0] == 2 and len(data) >= 5:
                limit = struct.unpack_from("<I", data, 1)[0]
            elif data[0] == 3 and len(data) >= 9:
                price = struct.unpack_from("<Q", data, 1)[0]
        else:
            other += 1
    if limit is None:
        limit = min(200_000 * other, 1_400_000)
    priority = math.ceil(price * limit / 1_000_000)
    return LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures + priority
