"""The TRON devnet's HTTP face: java-tron's full-node API under /wallet and /walletsolidity, and
TronGrid's /v1/accounts/{address}/transactions[/trc20].

Every java-tron route answers GET (query string) and POST (JSON body), always with HTTP 200 and
errors in the body ({"Error": ...} or {"code": ..., "message": ...}) as java-tron does.
TronGrid's gateway sits in front: with `require_api_key` set, a call without that key in its
TRON-PRO-API-KEY header gets 401, and injected 429 and 403 faults carry TronGrid's bodies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from devnet.faults import ADMIN_PREFIX, Faults, drop_connection, faults_middleware
from devnet.http import DevnetServer
from devnet.tron import views
from devnet.tron.chain import (
    REVERT,
    Block,
    Rejection,
    TronChain,
    TxRecord,
    wall_ms,
)
from devnet.tron.codec import (
    TRANSFER,
    TRIGGER,
    ParsedTx,
    TxFormatError,
    decode_transaction,
    parse_raw,
    raw_from_json,
)
from devnet.tron.config import TronDevnetConfig
from devnet.tron.crypto import (
    AddressError,
    SignatureError,
    address_of_private_key,
    format_address,
    keccak256,
    parse_address,
    parse_address_any,
    recover_signer,
    to_base58,
)

log = logging.getLogger(__name__)

Params = dict[str, Any]
Handler = Callable[[Params, bool], Any]
_dumps = partial(json.dumps, separators=(",", ":"))
TX_EXPIRATION_MS = 60_000  # java-tron's default trx.expiration.timeInMilliseconds
GRID_MAX_LIMIT = 200
API_KEY_HEADER = "TRON-PRO-API-KEY"


class ApiError(Exception):
    """Becomes java-tron's {"Error": "class <java class> : <message>"} reply."""

    def __init__(self, message: str, java_class: str = "java.lang.IllegalArgumentException"):
        super().__init__(message)
        self.java_class = java_class


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def _grid_error(message: str, status: int, headers: dict[str, str] | None = None) -> web.Response:
    """TronGrid's gateway refusal: an HTTP error status and {"Success": false, "Error": ...}."""
    return web.json_response(
        {"Success": False, "Error": message}, status=status, headers=headers, dumps=_dumps
    )


def _grid_429(request: web.Request, faults: Faults) -> web.StreamResponse:
    return _grid_error(
        f"request rate exceeded the allowed_rps(15), and the query server is suspended for "
        f"{faults.retry_after} s",
        429,
        {"Retry-After": str(faults.retry_after)},
    )


def _grid_403(request: web.Request, faults: Faults) -> web.StreamResponse:
    return _grid_error(
        "Exceed the user daily usage (100000), the maximum query frequency is 1 time per second",
        403,
    )


def _bool(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _int(params: Params, key: str, default: int = 0) -> int:
    value = params.get(key, default)
    if isinstance(value, bool):
        raise ApiError(f"{key} must be a number")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ApiError(f"{key} must be a number, got {value!r}") from exc


def _address(params: Params, key: str, visible: bool, *, lenient: bool = False) -> bytes:
    value = params.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(f"{key} isn't set.", "java.security.InvalidParameterException")
    try:
        return parse_address_any(value) if lenient else parse_address(value, visible)
    except AddressError as exc:
        raise ApiError(str(exc)) from exc


def _hex_bytes(value: Any, key: str) -> bytes:
    if value in (None, ""):
        return b""
    try:
        return bytes.fromhex(str(value))
    except ValueError as exc:
        raise ApiError(f"{key} is not valid hex") from exc


class TronDevnet(DevnetServer):
    """Local TRON full node + TronGrid stand-in that real `tronpy` talks to unchanged."""

    name = "tron"

    def __init__(self, config: TronDevnetConfig | None = None, faults: Faults | None = None):
        self.config = config or TronDevnetConfig()
        self.chain = TronChain(self.config)
        self._tasks: list[asyncio.Task[None]] = []
        self._writing: asyncio.Future[None] | None = None
        super().__init__(faults)

    def middlewares(self) -> list[Any]:
        # The key is checked first, as TronGrid does: a refused call is never rate-limited.
        return [
            self._api_key_middleware,
            faults_middleware(self.faults, _grid_429, on_403=_grid_403),
        ]

    @web.middleware
    async def _api_key_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        required = self.config.require_api_key
        if required is None or request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        given = request.headers.get(API_KEY_HEADER)
        if given is None:
            return _grid_error("ApiKey is required", 401)
        if not hmac.compare_digest(given.encode(), required.get_secret_value().encode()):
            return _grid_error("ApiKey not exists", 401)
        return await handler(request)

    # ------------------------------------------------------------------ lifecycle and helpers

    async def on_start(self) -> None:
        path = self.config.state_path
        if path is not None and path.exists():
            self.chain.load_state(json.loads(path.read_text()))
            log.info("TRON devnet state loaded from %s at block %d", path, self.chain.head.number)
        if self.chain.head.number == 0:
            # A live chain's head is never its genesis (which prints no "number"): start at 1.
            self.chain.produce_block()
        if self.config.auto_produce:
            self._tasks.append(asyncio.create_task(self._produce_loop(), name="tron-blocks"))
        if path is not None:
            self._tasks.append(asyncio.create_task(self._save_loop(path), name="tron-save"))

    async def on_stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._writing is not None:
            # A periodic write may still run in its thread; let it finish before the final one
            # so an older snapshot can never replace the newer file.
            with contextlib.suppress(Exception):
                await self._writing
            self._writing = None
        if self.config.state_path is not None:
            self.save()

    async def _produce_loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.block_ms / 1000
        deadline = loop.time()
        while True:
            deadline += interval
            delay = deadline - loop.time()
            if delay < -interval:  # fell behind (a long pause): restart the schedule, no burst
                deadline, delay = loop.time(), 0.0
            await asyncio.sleep(max(delay, 0.0))
            try:
                self.chain.produce_block()
            except Exception:  # keep the chain alive; the traceback shows the bug
                log.exception("TRON devnet block production failed")

    async def _save_loop(self, path: Path) -> None:
        while True:
            await asyncio.sleep(self.config.save_interval_s)
            if self.chain.dirty:
                text = self._serialize()
                self._writing = asyncio.ensure_future(
                    asyncio.to_thread(self._write_atomically, path, text)
                )
                await asyncio.shield(self._writing)
                self._writing = None

    def _serialize(self) -> str:
        self.chain.dirty = False
        return json.dumps(self.chain.to_state(), separators=(",", ":"))

    @staticmethod
    def _write_atomically(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # readers see the old or the new file, never half of one

    def save(self) -> None:
        """Write the state now (also done periodically and on stop when `state_path` is set)."""
        if self.config.state_path is None:
            raise ValueError("no state_path configured")
        self._write_atomically(self.config.state_path, self._serialize())

    def produce_block(self) -> Block:
        """Seal pending transactions into a block now (tests; works with auto_produce too)."""
        return self.chain.produce_block()

    def advance(self, blocks: int = 1) -> Block:
        """Produce `blocks` blocks; `advance(solid_lag + 1)` solidifies what is pending."""
        block = self.chain.head
        for _ in range(blocks):
            block = self.chain.produce_block()
        return block

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "accounts": [
                {"address": to_base58(self.chain_address(i)), "private_key": key.hex()}
                for i, key in enumerate(self.chain.account_keys)
            ],
            "trc20_contract": to_base58(self.chain.token.address),
            "trc20_symbol": self.chain.token.symbol,
            "decimals": self.chain.token.decimals,
            "block_ms": self.config.block_ms,
            "solid_lag": self.config.solid_lag,
        }

    def chain_address(self, index: int) -> bytes:
        """21-byte address of genesis account `index`."""
        return address_of_private_key(self.chain.account_keys[index])

    # ------------------------------------------------------------------------------ routing

    def setup_routes(self, app: web.Application) -> None:
        full: dict[str, Handler] = {
            "getnodeinfo": self._node_info,
            "getnowblock": partial(self._now_block, solid=False),
            "getblockbynum": partial(self._block_by_num, solid=False),
            "getblockbyid": partial(self._block_by_id, solid=False),
            "getblockbylimitnext": self._block_by_limit_next,
            "getblockbylatestnum": self._block_by_latest_num,
            "getaccount": partial(self._account, solid=False),
            "getaccountresource": self._account_resource,
            "getaccountnet": self._account_net,
            "getsignweight": self._sign_weight,
            "getcontract": self._contract,
            "getcontractinfo": self._contract_info,
            "triggersmartcontract": self._trigger_smart_contract,
            "triggerconstantcontract": self._trigger_constant_contract,
            "estimateenergy": self._estimate_energy,
            "createtransaction": self._create_transaction,
            "gettransactionbyid": partial(self._transaction_by_id, solid=False),
            "gettransactioninfobyid": partial(self._transaction_info_by_id, solid=False),
            "gettransactioninfobyblocknum": partial(self._infos_by_block_num, solid=False),
            "gettransactionfrompending": self._transaction_from_pending,
            "gettransactionlistfrompending": self._pending_list,
            "getchainparameters": self._chain_parameters,
        }
        solid: dict[str, Handler] = {
            "getnowblock": partial(self._now_block, solid=True),
            "getblockbynum": partial(self._block_by_num, solid=True),
            "getblockbyid": partial(self._block_by_id, solid=True),
            "getaccount": partial(self._account, solid=True),
            "gettransactionbyid": partial(self._transaction_by_id, solid=True),
            "gettransactioninfobyid": partial(self._transaction_info_by_id, solid=True),
            "gettransactioninfobyblocknum": partial(self._infos_by_block_num, solid=True),
            "triggerconstantcontract": partial(self._trigger_constant_contract, solid=True),
        }
        for prefix, table in (("/wallet/", full), ("/walletsolidity/", solid)):
            for name, fn in table.items():
                handler = self._wrap(fn)
                app.router.add_route("GET", prefix + name, handler)
                app.router.add_route("POST", prefix + name, handler)
        for path, broadcast in (
            ("/wallet/broadcasttransaction", self._broadcast_transaction),
            ("/wallet/broadcasthex", self._broadcast_hex),
        ):
            app.router.add_post(path, broadcast)
        app.router.add_get("/v1/accounts/{address}/transactions", self._grid_transactions)
        app.router.add_get("/v1/accounts/{address}/transactions/trc20", self._grid_trc20)

    @staticmethod
    async def _read_params(request: web.Request) -> tuple[Params, bool]:
        if request.method == "GET":
            params: Params = dict(request.query)
        else:
            body = await request.read()
            params = json.loads(body) if body.strip() else {}
            if not isinstance(params, dict):
                raise ValueError("expected a JSON object")
        return params, _bool(params.get("visible", False))

    def _wrap(self, fn: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                params, visible = await self._read_params(request)
            except ValueError as exc:
                return _json({"Error": f"class com.alibaba.fastjson.JSONException : {exc}"})
            try:
                return _json(fn(params, visible))
            except ApiError as exc:
                return _json({"Error": f"class {exc.java_class} : {exc}"})
            except (TxFormatError, AddressError) as exc:
                return _json({"Error": f"class java.lang.IllegalArgumentException : {exc}"})
            except Exception as exc:  # java-tron answers 200 {"Error": ...} to anything
                log.exception("TRON devnet handler %s failed", request.path)
                return _json({"Error": f"class java.lang.Exception : {exc!r}"})

        return handler

    # ------------------------------------------------------------------------------ blocks

    def _node_info(self, params: Params, visible: bool) -> Any:
        port = int(self.url.rsplit(":", 1)[-1]) if self.url else 0
        return views.node_info_json(self.chain, port)

    def _now_block(self, params: Params, visible: bool, *, solid: bool) -> Any:
        block = self.chain.solid_block if solid else self.chain.head
        return views.block_json(self.chain, block, visible)

    def _block_by_num(self, params: Params, visible: bool, *, solid: bool) -> Any:
        block = self.chain.block(_int(params, "num"), solid=solid)
        return {} if block is None else views.block_json(self.chain, block, visible)

    def _block_by_id(self, params: Params, visible: bool, *, solid: bool) -> Any:
        block = self.chain.block_by_id(_hex_bytes(params.get("value"), "value"))
        if block is None or (solid and block.number > self.chain.solid_number):
            return {}
        return views.block_json(self.chain, block, visible)

    def _block_by_limit_next(self, params: Params, visible: bool) -> Any:
        start, end = _int(params, "startNum"), _int(params, "endNum")
        if start < 0 or end <= start or end - start > 100:
            return {}
        end = min(end, self.chain.head.number + 1)
        blocks = [
            views.block_json(self.chain, self.chain.blocks[n], visible) for n in range(start, end)
        ]
        return {"block": blocks} if blocks else {}

    def _block_by_latest_num(self, params: Params, visible: bool) -> Any:
        count = _int(params, "num")
        if count <= 0 or count > 100:
            return {}
        head = self.chain.head.number
        numbers = range(max(0, head - count + 1), head + 1)
        return {
            "block": [views.block_json(self.chain, self.chain.blocks[n], visible) for n in numbers]
        }

    # ----------------------------------------------------------------------------- accounts

    def _account(self, params: Params, visible: bool, *, solid: bool) -> Any:
        # GET getaccount tells hex from base58 by the 41 prefix (Util.getAddress); POST is strict.
        address = _address(params, "address", visible, lenient="visible" not in params)
        account = self.chain.account(address, solid=solid)
        return {} if account is None else views.account_json(self.chain, address, account, visible)

    def _account_resource(self, params: Params, visible: bool) -> Any:
        account = self.chain.account(_address(params, "address", visible))
        return {} if account is None else views.account_resource_json(self.chain, account)

    def _account_net(self, params: Params, visible: bool) -> Any:
        account = self.chain.account(_address(params, "address", visible))
        return {} if account is None else views.account_net_json(self.chain, account)

    def _chain_parameters(self, params: Params, visible: bool) -> Any:
        return views.chain_parameters_json(self.config)

    # ---------------------------------------------------------------------------- contracts

    def _contract(self, params: Params, visible: bool) -> Any:
        address = _address(params, "value", visible)
        if address != self.chain.token.address:
            return {}
        return views.contract_json(self.chain, visible)

    def _contract_info(self, params: Params, visible: bool) -> Any:
        address = _address(params, "value", visible)
        if address != self.chain.token.address:
            return {}
        return {
            "runtimecode": views.TOKEN_BYTECODE,
            "smart_contract": views.contract_json(self.chain, visible),
            "contract_state": {"update_cycle": 1},
        }

    def _call_data(self, params: Params) -> bytes:
        selector = params.get("function_selector")
        if selector:
            sel = keccak256(str(selector).replace(" ", "").encode())[:4]
            return sel + _hex_bytes(params.get("parameter"), "parameter")
        return _hex_bytes(params.get("data"), "data")

    def _node_transaction(self, ctype: str, value: Params, fee_limit: int = 0) -> ParsedTx:
        """A transaction built by the node (createtransaction, trigger*): TaPoS on the head
        block, expiring 60 s later, like java-tron's createTransactionCapsule."""
        head = self.chain.head
        now = self.chain.now_ms()
        raw: Params = {
            "contract": [
                {
                    "parameter": {
                        "value": value,
                        "type_url": f"type.googleapis.com/protocol.{ctype}",
                    },
                    "type": ctype,
                }
            ],
            "ref_block_bytes": head.block_id[6:8].hex(),
            "ref_block_hash": head.block_id[8:16].hex(),
            "expiration": now + TX_EXPIRATION_MS,
            "timestamp": wall_ms(),
        }
        if fee_limit:
            raw["fee_limit"] = fee_limit
        return parse_raw(raw_from_json(raw, visible=False))

    def _trigger_value(
        self, params: Params, visible: bool
    ) -> tuple[bytes, bytes, bytes, int, Params]:
        owner = _address(params, "owner_address", visible)
        contract = _address(params, "contract_address", visible)
        data = self._call_data(params)
        call_value = _int(params, "call_value")
        value: Params = {
            "owner_address": owner.hex(),
            "contract_address": contract.hex(),
            "data": data.hex(),
        }
        if call_value:
            value["call_value"] = call_value
        return owner, contract, data, call_value, value

    def _trigger_constant_contract(
        self, params: Params, visible: bool, *, solid: bool = False
    ) -> Any:
        owner, contract, data, call_value, value = self._trigger_value(params, visible)
        result = self.chain.constant_call(owner, contract, data, call_value, solid=solid)
        if result is None:
            return {
                "result": {
                    "code": "CONTRACT_VALIDATE_ERROR",
                    "message": views.message_field("Smart contract is not exist.", visible),
                }
            }
        tx = self._node_transaction(TRIGGER, value)
        tx_view = views.tx_json(_unsigned(tx), visible, with_ret=False)
        ret: Params = {"result": True}
        if result.status == REVERT:
            ret["message"] = views.message_field("REVERT opcode executed", visible)
            tx_view = {"ret": [{"ret": "FAILED"}], "visible": visible, **tx_view}
        else:
            tx_view = {"ret": [{}], "visible": visible, **tx_view}
        return {
            "result": ret,
            "energy_used": result.energy,
            "constant_result": [result.output.hex()],
            "transaction": tx_view,
        }

    def _estimate_energy(self, params: Params, visible: bool) -> Any:
        owner, contract, data, call_value, _ = self._trigger_value(params, visible)
        result = self.chain.constant_call(owner, contract, data, call_value)
        if result is None:
            message = "Smart contract is not exist."
            return {
                "result": {
                    "code": "CONTRACT_VALIDATE_ERROR",
                    "message": views.message_field(message, visible),
                }
            }
        if result.status == REVERT:
            message = "REVERT opcode executed"
            return {
                "result": {
                    "code": "CONTRACT_EXE_ERROR",
                    "message": views.message_field(message, visible),
                }
            }
        return {"result": {"result": True}, "energy_required": result.energy}

    def _trigger_smart_contract(self, params: Params, visible: bool) -> Any:
        _, contract, _, _, value = self._trigger_value(params, visible)
        if contract != self.chain.token.address:
            return {
                "result": {
                    "code": "CONTRACT_VALIDATE_ERROR",
                    "message": views.message_field("Smart contract is not exist.", visible),
                }
            }
        tx = self._node_transaction(TRIGGER, value, _int(params, "fee_limit"))
        tx_view = {"visible": visible, **views.tx_json(_unsigned(tx), visible, with_ret=False)}
        return {"result": {"result": True}, "transaction": tx_view}

    # -------------------------------------------------------------------------- transactions

    def _create_transaction(self, params: Params, visible: bool) -> Any:
        owner = _address(params, "owner_address", visible)
        to = _address(params, "to_address", visible)
        amount = _int(params, "amount")
        account = self.chain.account(owner)
        try:
            self.chain.check_transfer(owner, to, amount, account.balance if account else 0)
        except Rejection as exc:
            raise ApiError(exc.detail, "org.tron.core.exception.ContractValidateException") from exc
        value = {"amount": amount, "owner_address": owner.hex(), "to_address": to.hex()}
        tx = self._node_transaction(TRANSFER, value)
        return {"visible": visible, **views.tx_json(_unsigned(tx), visible, with_ret=False)}

    def _sign_weight(self, params: Params, visible: bool) -> Any:
        tx = parse_raw(raw_from_json(params.get("raw_data") or {}, visible))
        signatures = [_hex_bytes(s, "signature") for s in params.get("signature") or []]
        out: Params = {}
        result: Params
        owner = self.chain.account(tx.owner) if tx.owner else None
        if owner is None:
            result = {"code": "PERMISSION_ERROR", "message": "Account does not exist!"}
        elif tx.permission_id not in (0, 2):
            result = {"code": "PERMISSION_ERROR", "message": "Permission for this, does not exist!"}
        else:
            out["permission"] = views.permission_json(tx.owner, tx.permission_id, visible)
            result = {"code": "NOT_ENOUGH_PERMISSION"}
            try:
                approved = [recover_signer(bytes.fromhex(tx.txid), s) for s in signatures]
                for signer in approved:
                    if signer != tx.owner:
                        raise PermissionError(
                            f"{tx.txid} is signed by {to_base58(signer)} "
                            "but it is not contained of permission."
                        )
                if approved:
                    out["approved_list"] = [format_address(a, visible) for a in approved]
                    out["current_weight"] = len(approved)
                    result = {"code": "ENOUGH_PERMISSION"}
            except SignatureError as exc:
                result = {"code": "SIGNATURE_FORMAT_ERROR", "message": str(exc)}
            except PermissionError as exc:
                result = {"code": "PERMISSION_ERROR", "message": str(exc)}
        out["result"] = result
        tx_view = views.tx_json(_unsigned(tx, signatures), visible, with_ret=False)
        out["transaction"] = {"result": {"result": True}, "txid": tx.txid, "transaction": tx_view}
        return out

    def _transaction_by_id(self, params: Params, visible: bool, *, solid: bool) -> Any:
        record = self.chain.record(str(params.get("value", "")), solid=solid)
        return {} if record is None else views.tx_json(record, visible)

    def _transaction_info_by_id(self, params: Params, visible: bool, *, solid: bool) -> Any:
        record = self.chain.record(str(params.get("value", "")), solid=solid)
        return {} if record is None else views.info_json(self.chain, record, visible)

    def _infos_by_block_num(self, params: Params, visible: bool, *, solid: bool) -> Any:
        block = self.chain.block(_int(params, "num"), solid=solid)
        if block is None:
            return []
        return [views.info_json(self.chain, self.chain.txs[t], visible) for t in block.txids]

    def _transaction_from_pending(self, params: Params, visible: bool) -> Any:
        record = self.chain.pending_record(str(params.get("value", "")))
        return {} if record is None else views.tx_json(record, visible, with_ret=False)

    def _pending_list(self, params: Params, visible: bool) -> Any:
        return {"txId": list(self.chain.pending)}

    def _submit(self, tx: ParsedTx, signatures: list[bytes]) -> None:
        # An injected refusal is cached like a real one: re-sending the same bytes gets
        # DUP_TRANSACTION_ERROR, so each signed version is refused or not once.
        refused = f"{tx.ctype} refused (injected fault)" if self.faults.refuse(tx.ctype) else None
        self.chain.submit(tx, signatures, refused)

    async def _broadcast_transaction(self, request: web.Request) -> web.StreamResponse:
        try:
            params, visible = await self._read_params(request)
            tx = parse_raw(raw_from_json(params.get("raw_data") or {}, visible))
            signatures = [_hex_bytes(s, "signature") for s in params.get("signature") or []]
        except (ValueError, TypeError, AttributeError, ApiError) as exc:
            # TxFormatError and AddressError are ValueErrors; the others are JSON of a wrong shape.
            return _json({"Error": f"class java.lang.IllegalArgumentException : {exc}"})
        try:
            self._submit(tx, signatures)
        except Rejection as exc:
            message = views.message_field(exc.message, visible)
            return _json({"code": exc.code, "message": message, "txid": tx.txid})
        if self.faults.lose_response("broadcasttransaction"):
            return drop_connection(request)
        return _json({"result": True, "txid": tx.txid})

    async def _broadcast_hex(self, request: web.Request) -> web.StreamResponse:
        try:
            params, _ = await self._read_params(request)
            raw, signatures = decode_transaction(
                _hex_bytes(params.get("transaction"), "transaction")
            )
            tx = parse_raw(raw)
        except (ValueError, TypeError, AttributeError, ApiError) as exc:
            return _json(
                {"Error": f"class com.google.protobuf.InvalidProtocolBufferException : {exc}"}
            )
        code, message, accepted = "SUCCESS", "", True
        try:
            self._submit(tx, signatures)
        except Rejection as exc:
            code, message, accepted = exc.code, exc.message, False
        if accepted and self.faults.lose_response("broadcasthex"):
            return drop_connection(request)
        view = views.tx_json(_unsigned(tx, signatures), True, with_ret=False)
        return _json(
            {
                "result": accepted,
                "code": code,
                "message": message,
                "transaction": json.dumps(view, separators=(",", ":")),
                "txid": tx.txid,
            }
        )

    # ------------------------------------------------------------------------------ TronGrid

    def _grid_query(self, request: web.Request) -> Params:
        query = request.query
        try:
            address = parse_address_any(request.match_info["address"])
        except AddressError as exc:
            raise web.HTTPBadRequest(
                text=_dumps({"success": False, "error": str(exc), "statusCode": 400}),
                content_type="application/json",
            ) from exc
        try:
            limit = min(max(int(query.get("limit", 20)), 1), GRID_MAX_LIMIT)
            min_ts = int(query["min_timestamp"]) if "min_timestamp" in query else None
            max_ts = int(query["max_timestamp"]) if "max_timestamp" in query else None
            cursor = _decode_fingerprint(query["fingerprint"]) if "fingerprint" in query else None
        except (ValueError, TypeError) as exc:
            raise web.HTTPBadRequest(
                text=_dumps({"success": False, "error": str(exc), "statusCode": 400}),
                content_type="application/json",
            ) from exc
        confirmed = None
        if _bool(query.get("only_confirmed", "")):
            confirmed = True
        elif _bool(query.get("only_unconfirmed", "")):
            confirmed = False
        direction = None
        if _bool(query.get("only_to", "")):
            direction = "to"
        elif _bool(query.get("only_from", "")):
            direction = "from"
        return {
            "address": address,
            "confirmed": confirmed,
            "direction": direction,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "descending": not query.get("order_by", "block_timestamp,desc").endswith(",asc"),
            "limit": limit,
            "cursor": cursor,
        }

    @staticmethod
    def _grid_reply(
        request: web.Request, data: list[Any], cursor: tuple[int, ...] | None
    ) -> web.Response:
        meta: Params = {"at": wall_ms(), "page_size": len(data)}
        if cursor is not None:
            fingerprint = _encode_fingerprint(cursor)
            query = {k: v for k, v in request.query.items() if k != "fingerprint"}
            query["fingerprint"] = fingerprint
            meta["fingerprint"] = fingerprint
            meta["links"] = {"next": str(request.url.with_query(query))}
        return _json({"data": data, "success": True, "meta": meta})

    async def _grid_transactions(self, request: web.Request) -> web.Response:
        q = self._grid_query(request)
        records, cursor = self.chain.account_transactions(q.pop("address"), **q)
        data = [views.grid_tx_json(self.chain, r) for r in records]
        return self._grid_reply(request, data, cursor)

    async def _grid_trc20(self, request: web.Request) -> web.Response:
        q = self._grid_query(request)
        contract = None
        if "contract_address" in request.query:
            try:
                contract = parse_address_any(request.query["contract_address"])
            except AddressError as exc:
                raise web.HTTPBadRequest(
                    text=_dumps({"success": False, "error": str(exc), "statusCode": 400}),
                    content_type="application/json",
                ) from exc
        events, cursor = self.chain.trc20_transfers(q.pop("address"), contract=contract, **q)
        data = [views.grid_trc20_json(self.chain, *event) for event in events]
        return self._grid_reply(request, data, cursor)


def _unsigned(tx: ParsedTx, signatures: list[bytes] | None = None) -> TxRecord:
    """A TxRecord-shaped view of a transaction that is not (yet) on chain."""
    return TxRecord(tx, signatures or [], "", {})


def _encode_fingerprint(cursor: tuple[int, ...]) -> str:
    return base64.urlsafe_b64encode(_dumps(list(cursor)).encode()).decode().rstrip("=")


def _decode_fingerprint(text: str) -> tuple[int, ...]:
    padded = text + "=" * (-len(text) % 4)
    try:
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid fingerprint") from exc
    if not isinstance(values, list) or not all(isinstance(v, int) for v in values):
        raise ValueError("invalid fingerprint")
    return tuple(values)
