"""TRON I/O: the monitor's reader and the block-scanning trigger, over tronpy's HTTP provider
(full-node `wallet/` and `walletsolidity/` endpoints) and the TronGrid `/v1` endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio import activity
from temporalio.client import Client
from tronpy import AsyncTron
from tronpy.async_contract import AsyncContract
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider

from activities.failover import Endpoint, Endpoints, ProviderRefused, Shared
from activities.keystore import KeyStore
from activities.monitor import ReadResult
from activities.watch import poke_wallets, run_round
from activities.withdraw import Check, Fuel, InsufficientFunds
from chains import tron
from chains.quorum import MIN_QUORUM, check_quorum, proven_dead
from chains.tron import fees, resources
from chains.tron.destinations import destination_refusal
from core.assets import Asset
from core.errors import InvalidInput, UserError
from core.models import PushResult, PushState, ShardHealth, SweepStep, WatchResult, WatchState
from store import wallets

GRID_PAGE = 200  # TronGrid's maximum page size
RECEIPT_CONCURRENCY = 8
BLOCK_SECONDS = 3.0
BLOCKS_PER_STEP = 100
HEAD_WINDOW = 0.05  # seconds a withdrawal's check waits for others to share the solid head
# Seconds one getchainparameters answer serves: the energy price only changes by a committee
# proposal, effective at a maintenance period (every 6 h); fee_limit keeps a margin over it.
ENERGY_PRICE_TTL = 300.0


API_KEY_HEADER = "TRON-PRO-API-KEY"
# TronGrid's own refusals ({"Error": "ApiKey not exists"}, "... exceeds the frequency limit ...,
# suspended for 30s", "request rate exceeded the allowed_rps(10) ..."), as opposed to
# java-tron's errors about the call, which read "class <java class> : <message>".
GRID_REFUSAL = re.compile(r"api[ _-]?key|frequency|suspended|exceed|allowed_rps|rate limit", re.I)
REFUSAL_BODY_MAX = 1024  # bytes: an error body is short, a block not worth parsing twice


def connect(
    urls: list[str], *, timeout: float = 10, api_key: SecretStr | None = None
) -> Endpoints[AsyncTron]:
    endpoints = []
    for url in urls:
        provider = AsyncHTTPProvider(url, timeout=timeout, client=_http_client(timeout, api_key))
        # tronpy would add a key of its own to URLs containing "trongrid" (one of its bundled
        # public ones), replacing ours, and retire it on a 403: the key is our client's
        # header alone, and a 403 fails over like any refusal.
        provider.use_api_key = False
        endpoints.append(Endpoint(url, AsyncTron(provider)))
    return Endpoints(tron.NAME, endpoints, transient=(httpx.HTTPError, OSError))


def _http_client(timeout: float, api_key: SecretStr | None) -> httpx.AsyncClient:
    """An endpoint's one HTTP client (tronpy's calls and the /v1 ones): it sends the API key
    with every request to any URL (a proxy or the devnet as well as TronGrid), and raises
    TronGrid's refusals that come as data."""
    key = api_key.get_secret_value() if api_key is not None else ""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout),
        headers={API_KEY_HEADER: key} if key else None,
        event_hooks={"response": [_raise_refusal]},
    )


async def _raise_refusal(response: httpx.Response) -> None:
    """ProviderRefused for a key or rate-limit error answered with a 2xx status: tronpy would
    hand it back as the call's result. (401, 403 and 429 fail over as HTTP errors.)"""
    if not response.is_success:
        return
    body = await response.aread()  # read here or by the caller: the client does not stream
    if len(body) > REFUSAL_BODY_MAX or b'"Error"' not in body:
        return
    try:
        error = json.loads(body).get("Error")
    except (ValueError, AttributeError):
        return
    if isinstance(error, str) and not error.startswith("class ") and GRID_REFUSAL.search(error):
        raise ProviderRefused("the provider refused the API key or rate-limited the call")


async def _node(rpc: Endpoints[AsyncTron], path: str, params: dict[str, Any]) -> Any:
    """POST a full-node endpoint (e.g. 'walletsolidity/getblockbynum'); the decoded JSON."""
    return (await _node_at(rpc, path, params))[0]


async def _node_at(rpc: Endpoints[AsyncTron], path: str, params: dict[str, Any]) -> tuple[Any, str]:
    """`_node`, and the label of the endpoint that answered."""
    return await rpc.call_at(path, lambda c: c.provider.make_request(path, params))


async def _grid(
    rpc: Endpoints[AsyncTron], method: str, path: str, params: dict[str, Any]
) -> dict[str, Any]:
    """GET a TronGrid `/v1` endpoint, served by the same host as the node API."""

    async def get(c: AsyncTron) -> dict[str, Any]:
        url = c.provider.endpoint_uri.rstrip("/") + path
        resp = await c.provider.client.get(url, params=params)
        resp.raise_for_status()
        body: dict[str, Any] = resp.json()
        return body

    return await rpc.call(method, get)


class TronReader:
    """A wallet's solidified TRX transfers and TRC20 Transfer events, oldest first."""

    chain = tron.NAME

    def __init__(self, rpc: Endpoints[AsyncTron], tokens: tron.TokenList) -> None:
        self.rpc = rpc
        self.tokens = tokens

    async def initial_cursor(
        self, address: str, assets: list[str] | None = None
    ) -> tuple[dict[str, Any], dict[str, str | None]]:
        block = await _node(self.rpc, "walletsolidity/getnowblock", {"visible": True})
        ts = tron.block_header(block, "timestamp")
        # History before watching isn't reported; the block scan needs no fingerprint.
        return {"ts": ts + 1, "seen": []}, {address: None}

    async def read(
        self,
        address: str,
        cursor: dict[str, Any],
        *,
        limit: int,
        min_block: int | None = None,
        early: bool = False,
    ) -> ReadResult:
        """Solidified events after `cursor`; `early`: head-block ones too (SUCCESS receipts)."""
        final_block = await self._final_block() if min_block is not None else 0
        node = "wallet" if early else "walletsolidity"
        # The two lists reach their page limits at different points of the same block, so each
        # remembers its own items at the cursor's timestamp: a transaction done in one list
        # (an outgoing TRC20 call) may still have its item pending in the other.
        ts = int(cursor["ts"])
        seen = [set(cursor["seen"]), set(cursor.get("seen_trc20", cursor["seen"]))]
        params = {
            "only_confirmed": "false" if early else "true",
            "min_timestamp": ts,
            "order_by": "block_timestamp,asc",
        }
        lists = await asyncio.gather(
            self._grid_items(
                "v1/transactions", f"/v1/accounts/{address}/transactions", params, seen[0], limit
            ),
            self._grid_items(
                "v1/transactions/trc20",
                f"/v1/accounts/{address}/transactions/trc20",
                params,
                seen[1],
                limit,
            ),
        )
        # A truncated list is complete only up to its last timestamp: cut there.
        cuts = [int(items[-1]["block_timestamp"]) for items, complete in lists if not complete]
        boundary = min(cuts) if cuts else None
        kept = [
            [i for i in items if boundary is None or int(i["block_timestamp"]) <= boundary]
            for items, _ in lists
        ]
        keep = kept[0] + kept[1]

        gate = asyncio.Semaphore(RECEIPT_CONCURRENCY)

        async def receipt(tx_id: str) -> dict[str, Any]:
            async with gate:
                return await _node(self.rpc, f"{node}/gettransactioninfobyid", {"value": tx_id})

        trc_ids = sorted({i["transaction_id"] for i in keep if "transaction_id" in i})
        receipts = await asyncio.gather(*(receipt(t) for t in trc_ids))
        events = [e for info in receipts for e in tron.trc20_transfers(info, address, self.tokens)]
        events += [e for i in keep if "txID" in i and (e := tron.trx_transfer(i, address))]
        events.sort(key=lambda e: (e.block, e.tx_id, e.index))

        if keep:
            new_ts = max(int(i["block_timestamp"]) for i in keep)
            done = [
                {
                    i.get("txID") or i["transaction_id"]
                    for i in items
                    if int(i["block_timestamp"]) == new_ts
                }
                | (old if new_ts == ts else set())
                for items, old in zip(kept, seen, strict=True)
            ]
            new_cursor = {"ts": new_ts, "seen": sorted(done[0]), "seen_trc20": sorted(done[1])}
        else:
            new_cursor = cursor
        return ReadResult(events, new_cursor, more=boundary is not None, final_block=final_block)

    async def _final_block(self) -> int:
        info = await _node(self.rpc, "wallet/getnodeinfo", {})
        return int(info["solidityBlock"].split(",ID:", 1)[0].replace("Num:", "", 1))

    async def _grid_items(
        self, method: str, path: str, params: dict[str, Any], seen: set[str], limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """About `limit` unseen items (whole pages), and whether the list is complete."""
        items: list[dict[str, Any]] = []
        query = {**params, "limit": GRID_PAGE}
        while True:
            page = await _grid(self.rpc, method, path, query)
            for item in page.get("data") or []:
                if (item.get("txID") or item.get("transaction_id")) not in seen:
                    items.append(item)
            fingerprint = (page.get("meta") or {}).get("fingerprint")
            if not fingerprint:
                return items, True
            if len(items) >= limit:
                return items, False
            query = {**query, "fingerprint": fingerprint}


class TronWatcher:
    """The trigger: every block once, its senders, receivers and Transfer events; watched
    wallets among them get signalled. Cost follows the chain, not the wallet count.

    At `walletsolidity` (the trigger, `watch_chain`) it follows solidified blocks and pokes;
    at `wallet` (push, `follow_chain`) it follows the head block at block time and signals
    `seen`, so a transfer is announced one block after it lands (TRON has no push channel)."""

    def __init__(
        self,
        rpc: Endpoints[AsyncTron],
        pool: asyncpg.Pool,
        client: Client,
        *,
        block_seconds: float = BLOCK_SECONDS,
        head: bool = False,
    ) -> None:
        self.rpc = rpc
        self.pool = pool
        self.client = client
        self.block_seconds = block_seconds
        self.node = "wallet" if head else "walletsolidity"
        self.signal = "seen" if head else "poke"
        self.health = ShardHealth(shard=0)

    @activity.defn(name="watch_chain")
    async def watch_chain(self, state: WatchState) -> WatchResult:
        details = activity.info().heartbeat_details
        position: int | None = int(details[0]) if details else (state.position or {}).get("block")
        result = WatchResult(position=None)
        result.pokes, position = await self._follow(state.round_seconds, position)
        result.position = {"block": position}
        result.rpc_calls = sum(self.rpc.calls.values())
        return result

    @activity.defn(name="follow_chain")
    async def follow_chain(self, state: PushState) -> PushResult:
        # Always from the head: what came before is the trigger's and the monitors' to read.
        signals, _ = await self._follow(state.round_seconds, None)
        return PushResult(shards=[self.health], signals=signals)

    async def _follow(self, seconds: float, position: int | None) -> tuple[int, int]:
        """Scan each block after `position` (None: from now) for `seconds`."""
        if position is None:
            block = await _node(self.rpc, f"{self.node}/getnowblock", {"visible": True})
            position = tron.block_header(block, "number")

        def progress() -> tuple[Any, ...]:
            # The trigger's position (a retry resumes there); push reports its health.
            if self.signal == "seen":
                return ([self.health.model_dump(mode="json")],)
            return (position,)

        activity.heartbeat(*progress())  # a retry resumes here, not at a later "now"
        self.health.connects += 1
        self.health.connected = True
        last_seen = time.time()
        signals = 0

        async def step() -> float:
            nonlocal position, last_seen, signals
            assert position is not None
            for _ in range(BLOCKS_PER_STEP):
                block = await _node(
                    self.rpc, f"{self.node}/getblockbynum", {"num": position + 1, "visible": True}
                )
                if not block.get("block_header"):
                    # Not there yet: come back about when the next block is due.
                    return min(max(last_seen + self.block_seconds - time.time(), 0.2), 1.0)
                signals += await self._scan(block, position + 1)
                position += 1
                last_seen = time.time()
                activity.heartbeat(*progress())
            return 0.0

        try:
            await run_round(seconds, step, progress)
        finally:
            self.health.connected = False
        assert position is not None
        return signals, position

    async def _scan(self, block: dict[str, Any], number: int) -> int:
        calls_contracts = any(
            c.get("type") == "TriggerSmartContract"
            for tx in block.get("transactions") or []
            for c in tx.get("raw_data", {}).get("contract") or []
        )
        infos: list[dict[str, Any]] = []
        if calls_contracts:
            reply = await _node(
                self.rpc, f"{self.node}/gettransactioninfobyblocknum", {"num": number}
            )
            infos = reply if isinstance(reply, list) else []
        involved = tron.addresses_in_block(block, infos)
        if not involved:
            return 0
        watched = await wallets.watched_among(self.pool, tron.NAME, sorted(involved))
        if watched:
            self.health.notifications += 1
            self.health.last_event = datetime.now(UTC)
        return await poke_wallets(
            self.client, tron.NAME, dict.fromkeys(watched, number), signal=self.signal
        )


class TronSender:
    """Withdrawals from the TRON hot wallet. The key is read from the key store only here.

    `expected_hot_wallet` (WALLETFLOW_TRON_HOT_WALLET): the address the key must be the key
    of; a key store handing out another key is refused before anything is signed.
    `expiry_quorum` (WITHDRAWAL_EXPIRY_QUORUM, default and minimum 2): how many independent
    providers (API endpoints distinct by host:port) must each prove a version dead before
    `check` says "expired", the one answer that allows a re-sign (chains/quorum.py).
    """

    chain = tron.NAME

    def __init__(
        self,
        rpc: Endpoints[AsyncTron],
        tokens: tron.TokenList,
        keys: KeyStore,
        *,
        poll_seconds: float = 3.0,
        max_fee_limit: int = 100_000_000,
        expiration_ms: int = 90_000,
        resend_seconds: float = 15.0,
        expected_hot_wallet: str | None = None,
        expiry_quorum: int = MIN_QUORUM,
    ) -> None:
        self.rpc = rpc
        self.expiry_quorum = check_quorum(expiry_quorum)
        self.expected_hot_wallet = (
            tron.normalize_address(expected_hot_wallet) if expected_hot_wallet else None
        )
        self.tokens = tokens
        self.keys = keys
        self.poll_seconds = poll_seconds
        # A node keeps an accepted transaction until it expires: re-sending is only for one
        # that never reached a node, so it need not happen at every look.
        self.resend_seconds = resend_seconds
        self.max_fee_limit = max_fee_limit
        self.expiration_ms = expiration_ms  # how long a signed transfer may wait for a block
        self._head_waiters: list[asyncio.Future[tuple[int, str]]] = []
        self._contracts: dict[tuple[AsyncTron, str], AsyncContract] = {}
        self._head_reader: asyncio.Task[None] | None = None
        self._energy_price = Shared(ENERGY_PRICE_TTL, self._read_energy_price)

    async def _contract(self, client: AsyncTron, address: str) -> AsyncContract:
        """A listed token's contract (its ABI), fetched once per endpoint rather than once per
        withdrawal: only its standard `transfer` is used."""
        contract = self._contracts.get((client, address))
        if contract is None:
            contract = self._contracts[client, address] = await client.get_contract(address)
        return contract

    async def _solid_head(self) -> tuple[int, str]:
        """The solidified head's timestamp, read after this call began, and the endpoint that
        read it.

        The withdrawals in flight on this worker share the read: checks that arrive within
        HEAD_WINDOW get the answer of one getnowblock (a whole block, the heaviest call of a
        check) instead of one each. Each caller still has a head read after it asked and
        before its own transaction lookup, so its expiry proof holds.
        """
        waiter: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._head_waiters.append(waiter)
        if self._head_reader is None or self._head_reader.done():
            self._head_reader = asyncio.create_task(self._read_heads())
        return await waiter

    async def _read_heads(self) -> None:
        while self._head_waiters:
            await asyncio.sleep(HEAD_WINDOW)
            waiters, self._head_waiters = self._head_waiters, []
            try:
                head, endpoint = await _node_at(
                    self.rpc, "walletsolidity/getnowblock", {"visible": True}
                )
                head_ts = tron.block_header(head, "timestamp")
            except Exception as exc:  # each waiting activity fails (and is retried) as before
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            for waiter in waiters:
                if not waiter.done():  # a cancelled activity no longer waits
                    waiter.set_result((head_ts, endpoint))

    def _key(self) -> PrivateKey:
        try:
            key = PrivateKey(bytes.fromhex(self.keys.secret(tron.NAME)))
        except ValueError:
            raise UserError("the tron hot-wallet key is not a 32-byte hex private key") from None
        address = str(key.public_key.to_base58check_address())
        if self.expected_hot_wallet is not None and address != self.expected_hot_wallet:
            raise UserError(
                f"the {tron.NAME} hot-wallet key belongs to {address}, not to the configured hot "
                f"wallet {self.expected_hot_wallet} ({tron.ENV.hot_wallet}): refusing to use it"
            )
        return key

    def hot_wallet(self) -> str:
        return str(self._key().public_key.to_base58check_address())

    async def _balance(self, address: str) -> int | None:
        account = await _node(self.rpc, "wallet/getaccount", {"address": address, "visible": True})
        return int(account.get("balance", 0)) if account else None

    async def _constant(
        self, owner: str, contract: str, selector: str, parameter: str, solid: bool = False
    ) -> dict[str, Any]:
        """A call that changes nothing, on the latest state or (`solid`) the solidified one."""
        reply: dict[str, Any] = await _node(
            self.rpc,
            "walletsolidity/triggerconstantcontract" if solid else "wallet/triggerconstantcontract",
            {
                "owner_address": owner,
                "contract_address": contract,
                "function_selector": selector,
                "parameter": parameter,
                "visible": True,
            },
        )
        return reply

    async def _energy_fee(self, owner: str, asset: Asset, to: str, amount: int) -> int:
        """The sun a TRC20 transfer would burn for energy (estimate from the node)."""
        estimate = await self._constant(
            owner, asset.id, tron.TRANSFER_SELECTOR, tron.abi_address(to) + tron.abi_uint(amount)
        )
        price = await self._energy_price.get()
        return fees.fee_limit(int(estimate.get("energy_used", 0)), price, cap=self.max_fee_limit)

    async def _read_energy_price(self) -> int:
        """Sun per unit of energy, from the chain's parameters."""
        _, energy_price = fees.prices(await _node(self.rpc, "wallet/getchainparameters", {}))
        return energy_price

    async def check_destination(self, asset: Asset, to: str) -> None:
        """Raise InvalidInput (one line) if `to` must not receive `asset`: the hot wallet, or
        a listed token contract (for TRX too). No node is asked."""
        refusal = destination_refusal(
            to, asset, hot_wallet=self.hot_wallet(), contracts=[t.id for t in self.tokens.tokens]
        )
        if refusal is not None:
            raise InvalidInput(refusal)

    async def check_funds(self, asset: Asset, to: str, amount: int) -> None:
        hot = self.hot_wallet()
        sun = await self._balance(hot) or 0
        if asset.native:
            fresh = await self._balance(to) is None
            need = amount + fees.BANDWIDTH_ALLOWANCE_SUN + (fees.ACTIVATION_SUN if fresh else 0)
            if sun < need:
                raise InsufficientFunds(f"hot wallet has {sun} sun, needs {need}")
            return
        tokens = await self._token_balance(hot, asset)
        if tokens < amount:
            raise InsufficientFunds(f"hot wallet holds {tokens} base units of {asset.symbol}")
        need = await self._energy_fee(hot, asset, to, amount) + fees.BANDWIDTH_ALLOWANCE_SUN
        if sun < need:
            raise InsufficientFunds(f"hot wallet has {sun} sun for fees, needs about {need}")

    async def sign(self, asset: Asset, to: str, amount: int) -> tuple[bytes, str, int]:
        return await self._sign_transfer(self._key(), asset, to, amount)

    async def sweep_amount(self, asset: Asset, source: str, credited: int) -> tuple[int, bool]:
        """TRX: the credited sun, less the bandwidth it burns when the deposit address has no
        free bandwidth left (fees.sweep_fee). A token: the credited units; what the address
        needs to send them (activation, energy) comes first as the sweep's steps."""
        if not asset.native:
            held = await self._token_balance(source, asset)
            if held < credited:
                raise InsufficientFunds(
                    f"{source} holds {held} base units of {asset.symbol}, {credited} credited"
                )
            return credited, False
        held = await self._balance(source) or 0
        if held < credited:
            raise InsufficientFunds(f"{source} holds {held} sun, {credited} credited")
        net = await _node(self.rpc, "wallet/getaccountnet", {"address": source, "visible": True})
        free = int(net.get("freeNetLimit", 0)) - int(net.get("freeNetUsed", 0))
        price, _ = fees.prices(await _node(self.rpc, "wallet/getchainparameters", {}))
        amount = credited - fees.sweep_fee(free, price)
        if amount <= 0:
            raise InsufficientFunds(f"{credited} sun at {source} would not pay the bandwidth")
        return amount, False

    async def sweep_steps(
        self, asset: Asset, source: str, amount: int, pending_loans: int, fuel: Fuel
    ) -> list[SweepStep]:
        """A token's sweep is sent by the deposit address, which has no TRX: first activate it
        (1 sun: the hot wallet burns the activation fee), then give it the energy the transfer
        uses, as the estimate says plus a margin: lent from the hot wallet's stake when it has
        enough to lend, else as TRX to burn (a top-up, which also activates). A top-up also
        covers bandwidth when the address's free bandwidth would not. TRX an earlier attempt
        sent there and nothing used (`fuel`) is burned first: none is sent twice or left."""
        if asset.native:
            return []
        hot = self.hot_wallet()
        balance = await self._balance(source)
        held = fuel.spendable(balance or 0)  # an earlier attempt's top-up, never the customer's
        estimate = await self._constant(
            source, asset.id, tron.TRANSFER_SELECTOR, tron.abi_address(hot) + tron.abi_uint(amount)
        )
        need = fees.with_margin(int(estimate.get("energy_used", 0)))
        own: dict[str, Any] = {}
        if balance is not None:
            own = await _node(
                self.rpc, "wallet/getaccountresource", {"address": source, "visible": True}
            )
        have = int(own.get("EnergyLimit", 0)) - int(own.get("EnergyUsed", 0))
        free_net = int(own.get("freeNetLimit", fees.FREE_NET_BYTES)) - int(
            own.get("freeNetUsed", 0)
        )
        bandwidth_price, energy_price = fees.prices(
            await _node(self.rpc, "wallet/getchainparameters", {})
        )
        shortfall = max(0, need - have)
        energy_burn = shortfall * energy_price
        net_burn = (
            fees.TRC20_TRANSFER_BYTES * bandwidth_price
            if free_net < fees.TRC20_TRANSFER_BYTES
            else 0
        )
        steps, burn = [], net_burn
        if held < energy_burn + net_burn:
            stake = await self._lendable(hot, shortfall, pending_loans) if shortfall else None
            if stake is not None:  # if the loan is refused, buy what the top-up did not cover
                bought = energy_burn - max(0, held - net_burn)
                steps.append(SweepStep(kind="delegate", amount=stake, fallback=bought))
            else:
                burn += energy_burn
        else:
            burn += energy_burn  # the address's own TRX pays it all
        if burn > self.max_fee_limit:  # what one transfer may burn, by the operator's ceiling
            raise InsufficientFunds(
                f"the sweep would burn {burn} sun at {source}, above TRON_MAX_FEE_LIMIT"
            )
        if burn > held:
            return [SweepStep(kind="topup", amount=burn - held), *steps]  # it activates too
        if balance is None:
            steps.insert(0, SweepStep(kind="activate", amount=fees.ACTIVATION_TRANSFER_SUN))
        return steps

    async def balances(self, asset: Asset, owners: list[str]) -> list[int]:
        """At the solid head (walletsolidity): TRX from the account, a token's from a constant
        call."""
        found = []
        for owner in owners:
            if asset.native:
                account = await _node(
                    self.rpc, "walletsolidity/getaccount", {"address": owner, "visible": True}
                )
                found.append(int(account.get("balance", 0)) if account else 0)
            else:
                found.append(await self._token_balance(owner, asset, solid=True))
        return found

    async def _lendable(self, owner: str, energy: int, pending: int) -> int | None:
        """The stake `owner` would lend for `energy`, in sun, if it has that much free (its
        frozenV2 for ENERGY, which lending lowers, less what its own use holds and what
        other sweeps are about to lend), else None."""
        account = await _node(self.rpc, "wallet/getaccount", {"address": owner, "visible": True})
        staked = sum(
            int(f.get("amount", 0))
            for f in account.get("frozenV2", [])
            if f.get("type") == "ENERGY"
        )
        totals = await _node(
            self.rpc, "wallet/getaccountresource", {"address": owner, "visible": True}
        )
        limit, weight = (
            int(totals.get("TotalEnergyLimit", 0)),
            int(totals.get("TotalEnergyWeight", 0)),
        )
        if not limit or not weight:
            return None
        used = resources.stake_in_use(int(totals.get("EnergyUsed", 0)), limit, weight)
        free = staked - used - pending
        stake = resources.delegation_for(energy, limit, weight)
        return stake if stake <= free else None

    async def _token_balance(self, owner: str, asset: Asset, solid: bool = False) -> int:
        held = await self._constant(
            owner, asset.id, tron.BALANCE_OF_SELECTOR, tron.abi_address(owner), solid
        )
        return int((held.get("constant_result") or ["0"])[0] or "0", 16)

    async def sign_sweep_step(self, step: SweepStep, deposit: str) -> tuple[bytes, str, int]:
        key = self._key()
        if step.kind in ("activate", "topup", "buy"):
            return await self._sign_transfer(key, tron.NATIVE, deposit, step.amount)
        hot = str(key.public_key.to_base58check_address())
        lend = step.kind == "delegate"

        async def build(client: AsyncTron) -> Any:
            call = client.trx.delegate_resource if lend else client.trx.undelegate_resource
            builder = call(hot, deposit, step.amount, "ENERGY")
            return await builder.expiration(self.expiration_ms).build()

        tx = await self.rpc.call("build", build)
        raw_data = tx.to_json()["raw_data"]
        resources.check_resource_call(
            raw_data,
            ctype=resources.DELEGATE if lend else resources.UNDELEGATE,
            owner_hex=tron.base58_to_hex(hot),
            receiver_hex=tron.base58_to_hex(deposit),
            balance=step.amount,
        )
        tx_id = tron.verified_txid(raw_data, tx.txid)
        signed = tx.sign(key).to_json()
        return json.dumps(signed).encode(), tx_id, int(signed["raw_data"]["expiration"])

    async def sign_sweep(
        self, asset: Asset, source_secret: str, amount: int, close: bool
    ) -> tuple[bytes, str, int]:
        return await self._sign_transfer(
            PrivateKey(bytes.fromhex(source_secret)), asset, self.hot_wallet(), amount
        )

    async def _sign_transfer(
        self, key: PrivateKey, asset: Asset, to: str, amount: int
    ) -> tuple[bytes, str, int]:
        hot = str(key.public_key.to_base58check_address())  # the sender: hot or deposit address
        limit = await self._energy_fee(hot, asset, to, amount) if not asset.native else 0

        async def build(client: AsyncTron) -> Any:
            if asset.native:
                builder = client.trx.transfer(hot, to, amount)
            else:
                contract = await self._contract(client, asset.id)
                builder = (await contract.functions.transfer(to, amount)).with_owner(hot)
                builder = builder.fee_limit(limit)
            return await builder.expiration(self.expiration_ms).build()

        tx = await self.rpc.call("build", build)
        # Sign only what was asked for: a token call is encoded from the ABI a node serves,
        # and tronpy takes the txID (the hash it signs) from the node's getsignweight answer.
        # Both are checked here, or a node could have the key sign a transaction it chose.
        raw_data = tx.to_json()["raw_data"]
        token = None if asset.native else asset.id
        tron.check_transfer(raw_data, owner=hot, to=to, amount=amount, token=token)
        tx_id = tron.verified_txid(raw_data, tx.txid)
        signed = tx.sign(key).to_json()
        return (
            json.dumps(signed).encode(),
            tx_id,
            int(signed["raw_data"]["expiration"]),
        )

    async def broadcast(self, raw: bytes) -> str | None:
        reply = await _node(self.rpc, "wallet/broadcasttransaction", json.loads(raw))
        if reply.get("result") or reply.get("code") == "DUP_TRANSACTION_ERROR":
            return None  # accepted now, or earlier
        message = reply.get("message", "")
        with contextlib.suppress(ValueError):
            message = bytes.fromhex(message).decode(errors="replace")
        return f"{reply.get('code')}: {message}"

    async def check(self, tx_id: str, expiry: int) -> tuple[Check, str | None]:
        # The solid head first: if it is past the expiry and the transaction is still not in
        # solidified data afterwards, it can never be included. Both reads from one node: a
        # node's solidified data only grows, but another node may lag behind the head read.
        head_ts, head_endpoint = await self._solid_head()
        if head_ts < expiry - self.expiration_ms:
            # The solid head is older than the transaction (built at expiry - expiration_ms,
            # by this clock): it can't be in solidified data yet, so don't ask for it. A clock
            # ahead of the chain's only delays the lookup; "pending" decides nothing.
            return "pending", None
        info, endpoint = await _node_at(
            self.rpc, "walletsolidity/gettransactioninfobyid", {"value": tx_id}
        )
        found = _receipt(info, tx_id)
        if found is not None:
            return found
        if head_ts > expiry and endpoint == head_endpoint:
            # One provider's word: the quorum decides.
            return await self._expired_on_quorum(tx_id, expiry)
        return "pending", None

    async def _expired_on_quorum(self, tx_id: str, expiry: int) -> tuple[Check, str | None]:
        """Say "expired" only if `expiry_quorum` independent providers each prove it on their own
        reads (`_proof_on`); a provider holding the transaction's receipt decides as `check`
        does. Otherwise "pending": the version is not proven dead, nothing is re-signed, and
        a withdrawal that stays undecided goes to manual review."""
        providers = self.rpc.independent()
        if len(providers) < self.expiry_quorum:
            return "pending", (
                f"expiry passed on one provider; proving it needs {self.expiry_quorum} "
                f"independent API providers, {len(providers)} configured"
            )
        answers = await asyncio.gather(
            *(self._proof_on(e, tx_id, expiry) for e in providers), return_exceptions=True
        )
        proofs = []
        for answer in answers:
            if isinstance(answer, BaseException):
                proofs.append(False)  # unreachable: no proof either way
            elif isinstance(answer, bool):
                proofs.append(answer)
            elif answer[0] != "pending":
                return answer  # that provider has the receipt
            else:
                proofs.append(False)  # a receipt of another transaction: not evidence
        if proven_dead(proofs, self.expiry_quorum):
            return "expired", (
                f"{sum(proofs)} of {len(providers)} providers: solid head passed expiration "
                f"{expiry} without it"
            )
        return "pending", (
            f"expiry proven by {sum(proofs)} of {len(providers)} providers, "
            f"{self.expiry_quorum} needed"
        )

    async def _proof_on(
        self, endpoint: Endpoint[AsyncTron], tx_id: str, expiry: int
    ) -> bool | tuple[Check, str | None]:
        """On one endpoint alone: its solid head, then the transaction's receipt. Whether
        that head is past `expiry` with no receipt after it, or what the receipt says."""
        head = await self.rpc.call_on(
            endpoint,
            "walletsolidity/getnowblock",
            lambda c: c.provider.make_request("walletsolidity/getnowblock", {"visible": True}),
        )
        info = await self.rpc.call_on(
            endpoint,
            "walletsolidity/gettransactioninfobyid",
            lambda c: c.provider.make_request(
                "walletsolidity/gettransactioninfobyid", {"value": tx_id}
            ),
        )
        found = _receipt(info, tx_id)
        if found is not None:
            return found
        return tron.block_header(head, "timestamp") > expiry


def _receipt(info: Any, tx_id: str) -> tuple[Check, str | None] | None:
    """What a node's gettransactioninfobyid answer says: None when it has no receipt."""
    answered = str(info.get("id") or "") if info else ""
    if answered and answered.lower() != tx_id.lower():
        # A receipt for another transaction proves nothing about this one, neither that it
        # landed nor that it is absent: that node's answers are not evidence.
        return "pending", f"the node answered with the receipt of {answered}, not {tx_id}"
    if answered:
        result = (info.get("receipt") or {}).get("result")
        if info.get("result") == "FAILED" or result not in (None, "SUCCESS"):
            reason = info.get("resMessage", "")
            with contextlib.suppress(ValueError):
                reason = bytes.fromhex(reason).decode(errors="replace")
            return "failed", f"failed on chain: {result or 'FAILED'} {reason}".strip()
        return "confirmed", None
    return None
