"""Solana PubSub: JSON-RPC 2.0 over a WebSocket, as an Agave node's pubsub service speaks it.

The devnet upgrades `GET /` of its HTTP server to a WebSocket (so the ws URL is the HTTP URL
with the ws:// scheme). Methods: account, program, logs, signature, slot and root subscriptions
and their unsubscribes, with Agave's notification shapes:

    {"jsonrpc":"2.0","method":"accountNotification",
     "params":{"result":{"context":{"slot":N},"value":{...}},"subscription":ID}}

How notifications follow the chain. Every landed transaction is recorded in the events of its
block: the accounts it wrote (their post-transaction state; the last write in the block wins)
and the transaction itself (signature, error, logs, account keys). A subscription at
commitment C is served when the block reaches C: `processed` as each transaction lands,
`confirmed` and `finalized` when block production moves `block_at(C)` over the block (or as each
transaction lands, when that level's lag is 0), always with `context.slot` = the block's slot.
Blocks leave the record once finalized, so only `finalized_lag` blocks of events are kept.

Dispatch is indexed, never a scan of the subscriptions: account subscriptions by pubkey, program
subscriptions by program and then by one memcmp filter (offset, bytes): per changed account the
data slice `data[offset:offset + len]` of each distinct (offset, length) in use is looked up in a
dict, and only those candidates check their remaining filters. Subscriptions with identical
parameters are shared by every connection that asked for them (one id, one rendering per event),
as on Agave. Each connection has its own bounded send queue and writer task, so a slow client
only ever delays itself; a connection whose queue overflows is closed with 1008.

Agave behaviours kept on purpose (they trip clients): a signature already at the subscription's
commitment when the subscription is made is never notified (check getSignatureStatuses after
subscribing); accountSubscribe's default encoding is `binary` (legacy base58), which says
"error: data too large for bs58 encoding" for data over 128 bytes; notifications for every
writable account of a successful transaction (and the fee payer of a failed one), changed or not.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import json
import logging
import struct
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import base58
from aiohttp import WSMsgType, web
from solders.account import Account
from solders.pubkey import Pubkey
from solders.signature import Signature

from devnet.faults import Faults
from devnet.solana import tokens
from devnet.solana.chain import COMMITMENTS, SYSTEM_PROGRAM_ID, Block, SolanaChain, TxRecord
from devnet.solana.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    PARSE_ERROR,
    RpcError,
    answer,
    error_reply,
    invalid_params,
)
from devnet.solana.render import MAX_BASE58_BYTES, encode_account, writable_flags

log = logging.getLogger(__name__)

LEVELS = ("processed", "confirmed", "finalized")
QUEUE_LIMIT = 50_000  # messages waiting on one connection before it is closed
CLOSE_POLICY_VIOLATION = 1008
CLOSE_GOING_AWAY = 1001
MAX_FILTER_BYTES = 128
ACCOUNT_ENCODINGS = ("binary", "base58", "base64", "jsonParsed", "base64+zstd")
ZSTD_MAX_BLOCK = 128 * 1024
# What a node reports for an account that does not exist (AccountSharedData::default()).
_MISSING = Account(0, b"", SYSTEM_PROGRAM_ID, False, 0)

_NOTIFICATION = {
    kind: kind + "Notification"
    for kind in ("account", "program", "logs", "signature", "slot", "root")
}

Changes = dict[str, Account | None]
Filter = tuple[Any, ...]  # ("memcmp", offset, bytes) | ("dataSize", n) | ("tokenAccountState",)


def zstd_stored(data: bytes) -> bytes:
    """A valid zstd frame holding `data` in raw (stored) blocks: what `base64+zstd` carries,
    without compressing (no zstd library needed; every zstd decoder reads it)."""
    out = bytearray(b"\x28\xb5\x2f\xfd")
    out.append(0xA0)  # single segment, 4-byte content size, no checksum, no dictionary
    out += struct.pack("<I", len(data))
    chunks = [data[i : i + ZSTD_MAX_BLOCK] for i in range(0, len(data), ZSTD_MAX_BLOCK)] or [b""]
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        out += ((len(chunk) << 3) | int(last)).to_bytes(3, "little")  # block type 0: raw
        out += chunk
    return bytes(out)


def account_value(
    account: Account | None,
    encoding: str,
    data_slice: tuple[int, int] | None,
    decimals_of: Callable[[str], int | None],
) -> dict[str, Any]:
    """UiAccount::encode as the pubsub service calls it (a missing account is the default one)."""
    if account is None or not account.lamports:
        account = _MISSING
    if encoding == "jsonParsed":
        slice_cfg = {"offset": data_slice[0], "length": data_slice[1]} if data_slice else None
        return encode_account(account, encoding, slice_cfg, decimals_of)
    raw = bytes(account.data)
    if data_slice:
        raw = raw[data_slice[0] : data_slice[0] + data_slice[1]]
    data: Any
    if encoding in ("binary", "base58"):
        text = (
            base58.b58encode(raw).decode()
            if len(raw) <= MAX_BASE58_BYTES
            else "error: data too large for bs58 encoding"
        )
        data = text if encoding == "binary" else [text, "base58"]
    elif encoding == "base64+zstd":
        data = [base64.b64encode(zstd_stored(raw)).decode(), "base64+zstd"]
    else:
        data = [base64.b64encode(raw).decode(), "base64"]
    return {
        "data": data,
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


# ---- subscriptions ------------------------------------------------------------------------


class Sub:
    """One subscription, shared by every connection that subscribed with the same parameters."""

    __slots__ = (
        "conns",
        "data_slice",
        "encoding",
        "filters",
        "id",
        "index_key",
        "kind",
        "level",
        "method",
        "params",
        "received",
        "target",
    )

    def __init__(
        self,
        sub_id: int,
        kind: str,
        params: tuple[Any, ...],
        *,
        level: str = "finalized",
        target: str | None = None,
        encoding: str = "binary",
        data_slice: tuple[int, int] | None = None,
        filters: tuple[Filter, ...] = (),
        received: bool = False,
    ) -> None:
        self.id = sub_id
        self.kind = kind
        self.method = _NOTIFICATION[kind]
        self.params = params
        self.level = level
        self.target = target
        self.encoding = encoding
        self.data_slice = data_slice
        self.filters = filters
        self.received = received
        self.index_key: tuple[int, bytes] | None = None
        self.conns: list[Conn] = []

    def matches(self, data: bytes) -> bool:
        for f in self.filters:
            if f[0] == "memcmp":
                want = f[2]
                if data[f[1] : f[1] + len(want)] != want:
                    return False
            elif f[0] == "dataSize":
                if len(data) != f[1]:
                    return False
            else:  # tokenAccountState: an initialized token account
                parsed = tokens.parse_token_account(data)
                if parsed is None or parsed.state == 0:
                    return False
        return True


class ProgramIndex:
    """The program subscriptions of one program at one commitment level."""

    __slots__ = ("memcmp", "scan")

    def __init__(self) -> None:
        # (offset, length) -> bytes -> subscriptions whose indexed memcmp filter is that
        self.memcmp: dict[tuple[int, int], dict[bytes, list[Sub]]] = {}
        self.scan: list[Sub] = []  # no memcmp filter: each checks its own filters

    def add(self, sub: Sub) -> None:
        memcmps = [f for f in sub.filters if f[0] == "memcmp" and f[2]]
        if memcmps:
            _, offset, want = max(memcmps, key=lambda f: len(f[2]))  # the most selective
            sub.index_key = (offset, want)
            by_bytes = self.memcmp.setdefault((offset, len(want)), {})
            by_bytes.setdefault(want, []).append(sub)
        else:
            self.scan.append(sub)

    def remove(self, sub: Sub) -> None:
        if sub.index_key is None:
            self.scan.remove(sub)
            return
        offset, want = sub.index_key
        by_bytes = self.memcmp[(offset, len(want))]
        subs = by_bytes[want]
        subs.remove(sub)
        if not subs:
            del by_bytes[want]
            if not by_bytes:
                del self.memcmp[(offset, len(want))]

    def empty(self) -> bool:
        return not self.memcmp and not self.scan

    def matching(self, data: bytes) -> Iterable[Sub]:
        for (offset, length), by_bytes in self.memcmp.items():
            subs = by_bytes.get(data[offset : offset + length])
            if subs:
                for sub in subs:
                    if sub.matches(data):
                        yield sub
        for sub in self.scan:
            if sub.matches(data):
                yield sub


class BlockEvents:
    """What changed in one block: written accounts (state at the end of the block) and the
    transactions. `final` leaves out orphaned transactions (see server.orphan_next); it is the
    same dict as `view` until the block has one."""

    __slots__ = ("final", "slot", "txs", "view")

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.view: Changes = {}
        self.final: Changes = self.view
        self.txs: list[tuple[TxRecord, bool]] = []

    def add(self, record: TxRecord, changes: Changes, orphan: bool) -> None:
        if orphan and self.final is self.view:
            self.final = dict(self.view)
        self.view.update(changes)
        if not orphan and self.final is not self.view:
            self.final.update(changes)
        self.txs.append((record, orphan))


# ---- connections --------------------------------------------------------------------------


class Conn:
    """One WebSocket client: its subscriptions and its bounded, in-order send queue."""

    __slots__ = ("closed", "limit", "opened", "queue", "ready", "request", "subs", "tasks", "ws")

    def __init__(self, ws: web.WebSocketResponse, request: web.Request, limit: int) -> None:
        self.ws = ws
        self.request = request
        self.limit = limit
        self.subs: dict[int, Sub] = {}
        self.queue: deque[tuple[float, str]] = deque()  # (not before, text)
        self.ready = asyncio.Event()
        self.opened = time.monotonic()
        self.closed = False
        self.tasks: set[asyncio.Task[None]] = set()

    def push(self, text: str, due: float = 0.0) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.limit:
            log.warning("solana pubsub: send queue full, closing a slow connection")
            self.close(CLOSE_POLICY_VIOLATION, "notification queue full")
            return
        self.queue.append((due, text))
        self.ready.set()

    async def write_loop(self) -> None:
        queue, ws = self.queue, self.ws
        try:
            while True:
                if not queue:
                    self.ready.clear()
                    await self.ready.wait()
                    continue
                due = queue[0][0]
                if due:
                    wait = due - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue
                _, text = queue.popleft()
                await ws.send_str(text)
        except Exception:  # the socket is gone (reset, closing): so is this connection
            log.debug("solana pubsub: send failed", exc_info=True)
            self.abort()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def close(self, code: int, reason: str) -> None:
        """Close with a close frame (queued messages are dropped)."""
        if self.closed:
            return
        self.closed = True
        self.queue.clear()
        self._spawn(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=reason.encode()), 2)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a provider's proxy does."""
        self.closed = True
        self.queue.clear()
        transport = self.request.transport
        if transport is not None:
            transport.abort()


# ---- the service --------------------------------------------------------------------------


def _arg(params: list[Any], index: int) -> Any:
    return params[index] if index < len(params) else None


def _config(params: list[Any], index: int) -> dict[str, Any]:
    cfg = _arg(params, index)
    if cfg is None:
        return {}
    if not isinstance(cfg, dict):
        raise invalid_params("Invalid params: invalid type: expected a configuration object")
    return cfg


def _level(cfg: dict[str, Any]) -> str:
    raw = cfg.get("commitment") or "finalized"
    level = COMMITMENTS.get(raw) if isinstance(raw, str) else None
    if level is None:
        raise invalid_params(f"Invalid params: unknown variant `{raw}`")
    return level


def _param(value: Any, parse: Callable[[str], Any], thing: str) -> str:
    """rpc_pubsub.rs `param`: the value parsed, or "Invalid Request: Invalid <thing> provided"."""
    if not isinstance(value, str):
        raise invalid_params("Invalid params: invalid type: expected a string")
    try:
        return str(parse(value))
    except ValueError:
        raise invalid_params(f"Invalid Request: Invalid {thing} provided") from None


def _encoding(cfg: dict[str, Any]) -> str:
    encoding = cfg.get("encoding") or "binary"
    if encoding not in ACCOUNT_ENCODINGS:
        raise invalid_params(
            f"Invalid params: unknown variant `{encoding}`, expected one of `binary`, "
            "`base58`, `base64`, `jsonParsed`, `base64+zstd`"
        )
    return str(encoding)


def _data_slice(cfg: dict[str, Any]) -> tuple[int, int] | None:
    raw = cfg.get("dataSlice")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid_params("Invalid params: invalid type: expected a dataSlice object")
    offset, length = raw.get("offset"), raw.get("length")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        raise invalid_params("Invalid params: dataSlice needs offset and length (u64)")
    return (offset, length)


def _filter(raw: Any) -> Filter:
    """One RpcFilterType: {"dataSize": n}, {"memcmp": {...}} or "tokenAccountState"."""
    if raw == "tokenAccountState":
        return ("tokenAccountState",)
    if isinstance(raw, dict) and len(raw) == 1:
        if "dataSize" in raw:
            size = raw["dataSize"]
            if not isinstance(size, int) or size < 0:
                raise invalid_params("Invalid params: invalid type: dataSize must be a u64")
            return ("dataSize", size)
        memcmp = raw.get("memcmp")
        if isinstance(memcmp, dict):
            offset = memcmp.get("offset")
            if not isinstance(offset, int) or offset < 0:
                raise invalid_params("Invalid params: memcmp offset must be a usize")
            return ("memcmp", offset, _memcmp_bytes(memcmp))
    raise invalid_params(f"Invalid params: unknown filter {json.dumps(raw)}")


def _memcmp_bytes(memcmp: dict[str, Any]) -> bytes:
    """The bytes of a memcmp filter: a raw array, or a base58 (default) or base64 string."""
    encoding = memcmp.get("encoding") or "base58"
    value = memcmp.get("bytes")
    if isinstance(value, list):
        if not all(isinstance(b, int) and 0 <= b < 256 for b in value):
            raise invalid_params("Invalid params: memcmp bytes must be an array of u8")
        data = bytes(value)
    elif isinstance(value, str) and encoding in ("base58", "base64", "bytes"):
        if encoding != "base64" and len(value) > 175:
            raise invalid_params(
                "Invalid param: encoded binary (base 58) data should be less than 129 bytes"
            )
        try:
            data = (
                base64.b64decode(value, validate=True)
                if encoding == "base64"
                else base58.b58decode(value)
            )
        except (ValueError, binascii.Error):
            raise invalid_params(f"Invalid param: {encoding} decode error") from None
    else:
        raise invalid_params("Invalid params: memcmp needs `bytes` (a string or an array of u8)")
    if len(data) > MAX_FILTER_BYTES:
        raise invalid_params("Invalid param: encoded binary data should be less than 129 bytes")
    return data


def _result(slot: int, value_json: str) -> str:
    return f'{{"context":{{"slot":{slot}}},"value":{value_json}}}'


class PubSub:
    """The subscriptions, their indexes, the per-block event record and the connections."""

    def __init__(self, chain: SolanaChain, faults: Faults, queue_limit: int = QUEUE_LIMIT) -> None:
        self.chain = chain
        self.faults = faults
        self.queue_limit = queue_limit
        self.conns: set[Conn] = set()
        self._next_id = 0
        self._by_params: dict[tuple[Any, ...], Sub] = {}
        self._accounts: dict[str, dict[str, list[Sub]]] = {lvl: {} for lvl in LEVELS}
        self._programs: dict[str, dict[str, ProgramIndex]] = {lvl: {} for lvl in LEVELS}
        self._logs_all: dict[str, list[Sub]] = {lvl: [] for lvl in LEVELS}
        self._logs_mentions: dict[str, dict[str, list[Sub]]] = {lvl: {} for lvl in LEVELS}
        self._signatures: dict[str, dict[str, list[Sub]]] = {lvl: {} for lvl in LEVELS}
        self._slots: list[Sub] = []
        self._roots: list[Sub] = []
        self._pending: deque[BlockEvents] = deque()
        self._covered = dict.fromkeys(LEVELS, 0)  # newest slot each level has been served
        self._seen_txs = 0
        self._attached = False
        self._reaper: asyncio.Task[None] | None = None
        self.notifications = 0  # queued for sending (after the lose fault)
        self.lost = 0  # dropped by ws_lose_rate
        self._methods: dict[str, Callable[[Conn, list[Any]], Any]] = {
            "accountSubscribe": self._account_subscribe,
            "accountUnsubscribe": self._unsubscribe,
            "programSubscribe": self._program_subscribe,
            "programUnsubscribe": self._unsubscribe,
            "logsSubscribe": self._logs_subscribe,
            "logsUnsubscribe": self._unsubscribe,
            "signatureSubscribe": self._signature_subscribe,
            "signatureUnsubscribe": self._unsubscribe,
            "slotSubscribe": self._slot_subscribe,
            "slotUnsubscribe": self._unsubscribe,
            "rootSubscribe": self._root_subscribe,
            "rootUnsubscribe": self._unsubscribe,
        }

    # ---- lifecycle ------------------------------------------------------------------------

    def attach(self) -> None:
        """Start following the chain from its current state (after genesis or a restore)."""
        chain = self.chain
        self._seen_txs = len(chain.txs)
        self._pending = deque([BlockEvents(chain.blocks[-1].slot)])
        for level in LEVELS:
            self._covered[level] = chain.block_at(level).slot
        self._attached = True

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="solana-ws")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        conns = list(self.conns)
        for conn in conns:
            conn.close(CLOSE_GOING_AWAY, "devnet stopping")
        tasks = [task for conn in conns for task in conn.tasks]
        if tasks:
            await asyncio.wait(tasks, timeout=3)

    async def _reap(self) -> None:
        """ws_drop_every_s: abort connections that have been open that long."""
        while True:
            drop = self.faults.ws_drop_every_s
            if drop > 0:
                now = time.monotonic()
                for conn in list(self.conns):
                    if not conn.closed and now - conn.opened >= drop:
                        conn.abort()
            await asyncio.sleep(min(drop / 10, 0.05) if drop > 0 else 0.1)

    def counts(self) -> dict[str, int]:
        return {
            "connections": len(self.conns),
            "subscriptions": len(self._by_params),
            "connection_subscriptions": sum(len(c.subs) for c in self.conns),
            "pending_blocks": len(self._pending),
            "notifications": self.notifications,
            "lost": self.lost,
        }

    # ---- the WebSocket ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=1024 * 1024)
        if not ws.can_prepare(request).ok:
            raise web.HTTPMethodNotAllowed(request.method, ["POST"])
        await ws.prepare(request)
        conn = Conn(ws, request, self.queue_limit)
        self.conns.add(conn)
        writer = asyncio.get_running_loop().create_task(conn.write_loop())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self.handle_text(conn, msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self.handle_text(conn, msg.data.decode("utf-8", "replace"))
                else:
                    break
        finally:
            conn.closed = True
            self._drop_conn(conn)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def handle_text(self, conn: Conn, text: str) -> None:
        try:
            payload = json.loads(text)
        except ValueError:
            conn.push(_error_json(None, RpcError(PARSE_ERROR, "Parse error")))
            return
        if isinstance(payload, list):
            if not payload:
                conn.push(_error_json(None, RpcError(INVALID_REQUEST, "Invalid request")))
                return
            out = [r for r in (self._call(conn, item) for item in payload) if r is not None]
            if out:
                conn.push(json.dumps(out, separators=(",", ":")))
            return
        reply = self._call(conn, payload)
        if reply is not None:
            conn.push(json.dumps(reply, separators=(",", ":")))

    def _call(self, conn: Conn, item: Any) -> dict[str, Any] | None:
        reply = answer(item, self._methods, functools.partial(self._invoke, conn=conn))
        if "result" in reply and "id" not in item:
            return None  # a JSON-RPC notification: no reply
        return reply

    def _invoke(self, method: Any, params: list[Any], conn: Conn) -> Any:
        if not self._attached:
            self.attach()
        return method(conn, params)

    def _subscribe(self, conn: Conn, params: tuple[Any, ...], make: Callable[[int], Sub]) -> int:
        sub = self._by_params.get(params)
        if sub is not None and conn in sub.conns:
            return sub.id  # the same subscription again: Agave answers the same id
        limit = self.faults.ws_max_subscriptions
        if limit and len(conn.subs) >= limit:
            raise RpcError(
                INTERNAL_ERROR,
                "Internal Error: Subscription refused. Node subscription limit reached",
            )
        if sub is None:
            sub = make(self._next_id)
            self._next_id += 1
            self._by_params[params] = sub
            self._index(sub)
        sub.conns.append(conn)
        conn.subs[sub.id] = sub
        return sub.id

    def _unsubscribe(self, conn: Conn, params: list[Any]) -> bool:
        sub_id = _arg(params, 0)
        if not isinstance(sub_id, int) or isinstance(sub_id, bool):
            raise invalid_params("Invalid params: invalid type: expected u64")
        sub = conn.subs.pop(sub_id, None)
        if sub is None:
            raise RpcError(INVALID_PARAMS, "Invalid subscription id.")
        sub.conns.remove(conn)
        if not sub.conns:
            self._forget(sub)
        return True

    def _drop_conn(self, conn: Conn) -> None:
        self.conns.discard(conn)
        for sub in conn.subs.values():
            sub.conns.remove(conn)
            if not sub.conns:
                self._forget(sub)
        conn.subs.clear()

    def _forget(self, sub: Sub) -> None:
        if self._by_params.get(sub.params) is sub:
            del self._by_params[sub.params]
        self._unindex(sub)

    def _index(self, sub: Sub) -> None:
        kind, level, target = sub.kind, sub.level, sub.target
        if kind == "account":
            assert target is not None
            self._accounts[level].setdefault(target, []).append(sub)
        elif kind == "program":
            assert target is not None
            self._programs[level].setdefault(target, ProgramIndex()).add(sub)
        elif kind == "logs":
            if target is None:
                self._logs_all[level].append(sub)
            else:
                self._logs_mentions[level].setdefault(target, []).append(sub)
        elif kind == "signature":
            assert target is not None
            self._signatures[level].setdefault(target, []).append(sub)
        elif kind == "slot":
            self._slots.append(sub)
        else:
            self._roots.append(sub)

    def _unindex(self, sub: Sub) -> None:
        kind, level, target = sub.kind, sub.level, sub.target
        if kind == "program":
            assert target is not None
            index = self._programs[level][target]
            index.remove(sub)
            if index.empty():
                del self._programs[level][target]
            return
        if kind == "logs" and target is None:
            self._logs_all[level].remove(sub)
            return
        if kind in ("slot", "root"):
            (self._slots if kind == "slot" else self._roots).remove(sub)
            return
        table = {
            "account": self._accounts,
            "logs": self._logs_mentions,
            "signature": self._signatures,
        }[kind][level]
        assert target is not None
        subs = table[target]
        subs.remove(sub)
        if not subs:
            del table[target]

    def _account_subscribe(self, conn: Conn, params: list[Any]) -> int:
        pubkey = _param(_arg(params, 0), Pubkey.from_string, "pubkey")
        cfg = _config(params, 1)
        level, encoding, data_slice = _level(cfg), _encoding(cfg), _data_slice(cfg)
        key = ("account", pubkey, level, encoding, data_slice)
        return self._subscribe(
            conn,
            key,
            lambda sid: Sub(
                sid,
                "account",
                key,
                level=level,
                target=pubkey,
                encoding=encoding,
                data_slice=data_slice,
            ),
        )

    def _program_subscribe(self, conn: Conn, params: list[Any]) -> int:
        program = _param(_arg(params, 0), Pubkey.from_string, "pubkey")
        cfg = _config(params, 1)
        level, encoding, data_slice = _level(cfg), _encoding(cfg), _data_slice(cfg)
        raw_filters = cfg.get("filters") or []
        if not isinstance(raw_filters, list):
            raise invalid_params("Invalid params: invalid type: filters must be an array")
        filters = tuple(_filter(f) for f in raw_filters)
        key = ("program", program, level, encoding, data_slice, filters)
        return self._subscribe(
            conn,
            key,
            lambda sid: Sub(
                sid,
                "program",
                key,
                level=level,
                target=program,
                encoding=encoding,
                data_slice=data_slice,
                filters=filters,
            ),
        )

    def _logs_subscribe(self, conn: Conn, params: list[Any]) -> int:
        raw = _arg(params, 0)
        mention: str | None
        if raw in ("all", "allWithVotes"):
            mention = None  # the devnet has no vote transactions: both are the same
        elif isinstance(raw, dict) and isinstance(raw.get("mentions"), list):
            mentions = raw["mentions"]
            if len(mentions) != 1:
                raise invalid_params("Invalid Request: Only 1 address supported")
            mention = _param(mentions[0], Pubkey.from_string, "mentions")
        else:
            raise invalid_params(
                "Invalid params: unknown variant, expected `all`, `allWithVotes` or `mentions`"
            )
        level = _level(_config(params, 1))
        key = ("logs", raw if mention is None else mention, level)
        return self._subscribe(
            conn, key, lambda sid: Sub(sid, "logs", key, level=level, target=mention)
        )

    def _signature_subscribe(self, conn: Conn, params: list[Any]) -> int:
        signature = _param(_arg(params, 0), Signature.from_string, "signature")
        cfg = _config(params, 1)
        level = _level(cfg)
        received = bool(cfg.get("enableReceivedNotification") or False)
        key = ("signature", signature, level, received)
        return self._subscribe(
            conn,
            key,
            lambda sid: Sub(
                sid, "signature", key, level=level, target=signature, received=received
            ),
        )

    def _slot_subscribe(self, conn: Conn, params: list[Any]) -> int:
        return self._subscribe(conn, ("slot",), lambda sid: Sub(sid, "slot", ("slot",)))

    def _root_subscribe(self, conn: Conn, params: list[Any]) -> int:
        return self._subscribe(conn, ("root",), lambda sid: Sub(sid, "root", ("root",)))

    # ---- following the chain ---------------------------------------------------------------

    def catch_up(self) -> None:
        """Record (and serve at processed) the transactions landed since the last call."""
        if not self._attached:
            return
        txs = self.chain.txs
        while self._seen_txs < len(txs):
            record = txs[self._seen_txs]
            self._seen_txs += 1
            self._landed(record, self._written(record), orphan=False)

    def on_orphan(self, record: TxRecord, changes: Changes) -> None:
        """A transaction that lands for processed/confirmed subscribers only."""
        if not self._attached:
            return
        self.catch_up()
        self._landed(record, changes, orphan=True)

    def _written(self, record: TxRecord) -> Changes:
        """The accounts a landed transaction stored, at their state right after it."""
        if record.err is None:
            keys = [k for k, w in zip(record.keys, writable_flags(record), strict=True) if w]
        else:
            keys = record.keys[:1]  # a failed transaction only charges its fee payer
        account = self.chain.account
        return {key: account(Pubkey.from_string(key)) for key in keys}

    def _events(self, slot: int) -> BlockEvents | None:
        for events in reversed(self._pending):
            if events.slot == slot:
                return events
            if events.slot < slot:
                break
        return None

    def _landed(self, record: TxRecord, changes: Changes, orphan: bool) -> None:
        events = self._events(record.slot)
        if events is None:
            return
        events.add(record, changes, orphan)
        self._notify_received(record)
        for level in LEVELS:
            if orphan and level == "finalized":
                continue
            if level == "processed" or self._covered[level] >= record.slot:
                self._emit(level, record.slot, changes, [(record, orphan)])

    def on_block(self, block: Block) -> None:
        """A block was produced: slot/root notifications, and the blocks it moves to
        confirmed and finalized are served."""
        if not self._attached:
            self.attach()
            return
        self.catch_up()
        chain = self.chain
        parent = self._pending[-1].slot if self._pending else block.slot - 1
        self._pending.append(BlockEvents(block.slot))
        self._covered["processed"] = block.slot
        root = chain.block_at("finalized").slot
        if self._slots:
            result = json.dumps({"parent": parent, "root": root, "slot": block.slot})
            for sub in self._slots:
                self._deliver(sub, result)
        for level in ("confirmed", "finalized"):
            target = chain.block_at(level).slot
            covered = self._covered[level]
            if target <= covered:
                continue
            for events in list(self._pending):
                if covered < events.slot <= target:
                    self._emit_block(level, events)
            self._covered[level] = target
            if level == "finalized":
                for sub in self._roots:
                    self._deliver(sub, str(target))
        while len(self._pending) > 1 and self._pending[0].slot <= self._covered["finalized"]:
            self._pending.popleft()

    def _emit_block(self, level: str, events: BlockEvents) -> None:
        if level == "finalized":
            txs = [t for t in events.txs if not t[1]]
            self._emit(level, events.slot, events.final, txs)
        else:
            self._emit(level, events.slot, events.view, events.txs)

    # ---- notifications ---------------------------------------------------------------------

    def _emit(
        self, level: str, slot: int, changes: Changes, txs: list[tuple[TxRecord, bool]]
    ) -> None:
        decimals = self.chain.decimals
        if changes:
            cache: dict[tuple[Any, ...], str] = {}

            def rendered(key: str, account: Account | None, sub: Sub) -> str:
                ck = (key, sub.encoding, sub.data_slice)
                text = cache.get(ck)
                if text is None:
                    value = account_value(account, sub.encoding, sub.data_slice, decimals)
                    text = cache[ck] = json.dumps(value, separators=(",", ":"))
                return text

            accounts = self._accounts[level]
            if accounts:
                for key, account in changes.items():
                    subs = accounts.get(key)
                    if subs:
                        for sub in subs:
                            self._deliver(sub, _result(slot, rendered(key, account, sub)))
            programs = self._programs[level]
            if programs:
                for key, account in changes.items():
                    if account is None:
                        continue
                    index = programs.get(str(account.owner))
                    if index is None:
                        continue
                    for sub in index.matching(bytes(account.data)):
                        value = f'{{"pubkey":"{key}","account":{rendered(key, account, sub)}}}'
                        self._deliver(sub, _result(slot, value))
        if not txs:
            return
        logs_all, mentions = self._logs_all[level], self._logs_mentions[level]
        signatures = self._signatures[level]
        for record, _orphan in txs:
            if logs_all or mentions:
                value = json.dumps(
                    {
                        "signature": record.signature,
                        "err": record.err,
                        "logs": record.meta["logs"],
                    },
                    separators=(",", ":"),
                )
                for sub in logs_all:
                    self._deliver(sub, _result(slot, value))
                if mentions:
                    for key in dict.fromkeys(record.keys):
                        for sub in mentions.get(key, ()):
                            self._deliver(sub, _result(slot, value))
            if signatures:
                subs = signatures.get(record.signature)
                if subs:
                    value = json.dumps({"err": record.err}, separators=(",", ":"))
                    for sub in list(subs):
                        self._deliver(sub, _result(slot, value))
                        self._finish(sub)

    def _notify_received(self, record: TxRecord) -> None:
        value = _result(record.slot, '"receivedSignature"')
        for level in LEVELS:
            for sub in self._signatures[level].get(record.signature, ()):
                if sub.received:
                    self._deliver(sub, value)

    def _finish(self, sub: Sub) -> None:
        """A one-shot subscription was served: it is gone on every connection."""
        for conn in sub.conns:
            conn.subs.pop(sub.id, None)
        sub.conns.clear()
        self._forget(sub)

    def _deliver(self, sub: Sub, result_json: str) -> None:
        text = (
            f'{{"jsonrpc":"2.0","method":"{sub.method}","params":'
            f'{{"result":{result_json},"subscription":{sub.id}}}}}'
        )
        faults = self.faults
        lose = faults.ws_lose_rate
        delay = faults.ws_delay_ms
        due = time.monotonic() + delay / 1000 if delay else 0.0
        for conn in sub.conns:
            if lose and faults.roll(lose):
                self.lost += 1
                continue
            self.notifications += 1
            conn.push(text, due)


def _error_json(request_id: Any, exc: RpcError) -> str:
    return json.dumps(error_reply(request_id, exc), separators=(",", ":"))
