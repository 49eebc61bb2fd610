"""Solana push: WebSocket PubSub subscriptions at `confirmed`, sharded across connections.

Each wallet costs three subscriptions: `accountSubscribe` on the wallet (SOL) and
`programSubscribe` on the Token and Token-2022 programs with an owner `memcmp` (offset 32),
which also catches a token account that did not exist before the transfer that created it.
A shard is one connection holding at most `per_connection` subscriptions, kept below the
client's notification queue: an overflow would abort every subscription on the connection.

What push cannot see is caught up by cursor, never guessed:
- after every (re)connect, the shard's accounts are compared at `confirmed` with their last
  known fingerprints (100 per getMultipleAccounts call), and the changed wallets are told;
- a wallet watched while the follower runs is told once its subscriptions are confirmed,
  since a transfer just before them would never be pushed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import asyncpg
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import MemcmpOpts
from solana.rpc.websocket_api import SolanaWsClient, Subscription
from solders.pubkey import Pubkey
from temporalio import activity
from temporalio.client import Client

from activities.failover import Endpoints
from activities.metrics import endpoint_label
from activities.push import Signaller, follow, watched
from activities.solana.adapters import ABSENT, ACCOUNTS_PER_CALL, fingerprint, get_accounts
from chains import solana as sol
from core.models import PushResult, PushState, ShardHealth
from store import wallets

SUBSCRIPTIONS_PER_WALLET = 3
OWNER_OFFSET = 32  # where a token account's owner sits in its data
NOTIFICATION_QUEUE = 10_000  # SolanaWsClient's queue; shards stay below it
SUBSCRIBE_CONCURRENCY = 64  # subscribe requests in flight on one connection
RECONNECT_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)


def ws_urls(rpc_urls: list[str], configured: str | None) -> list[str]:
    """SOLANA_WS_URL (comma-separated), else each RPC URL with a ws(s) scheme, as providers
    such as Helius serve both on one host."""
    if configured:
        return [u.strip() for u in configured.split(",") if u.strip()]
    return ["ws" + url.removeprefix("http") for url in rpc_urls if url.startswith("http")]


class SolanaPush:
    def __init__(
        self,
        urls: list[str],
        rpc: Endpoints[AsyncClient],
        pool: asyncpg.Pool,
        client: Client,
        *,
        per_connection: int,
    ) -> None:
        self.urls = urls
        self.rpc = rpc
        self.pool = pool
        self.client = client
        self.capacity = max(1, min(per_connection, NOTIFICATION_QUEUE - 1) // 3)

    @activity.defn(name="follow_chain")
    async def follow_chain(self, state: PushState) -> PushResult:
        signaller = Signaller(self.client, sol.NAME)
        shards: list[_Shard] = []

        async def membership() -> None:
            first = True
            try:
                async for now in watched(self.pool, sol.NAME):
                    for shard in shards:
                        shard.keep(now)
                    placed = {w for shard in shards for w in shard.wallets}
                    for wallet in sorted(now - placed):
                        room = next((s for s in shards if len(s.wallets) < self.capacity), None)
                        if room is None:
                            room = _Shard(len(shards), self, signaller)
                            shards.append(room)
                            room.task = asyncio.create_task(room.run())
                        room.add(wallet, announce=not first)
                    first = False
            finally:
                for shard in shards:
                    if shard.task is not None:
                        shard.task.cancel()
                await asyncio.gather(
                    *(s.task for s in shards if s.task is not None), return_exceptions=True
                )

        result = await follow(
            state.round_seconds, lambda: [s.health for s in shards], signaller.run(), membership()
        )
        result.signals = signaller.sent
        return result

    async def changed_since_known(self, addresses: set[str]) -> dict[str, int]:
        """The wallets among `addresses` whose accounts differ at `confirmed` from their last
        known fingerprints, with the slot that was read at."""
        rows = await wallets.watch_keys_of(self.pool, sol.NAME, sorted(addresses))
        changed: dict[str, int] = {}
        for start in range(0, len(rows), ACCOUNTS_PER_CALL):
            chunk = rows[start : start + ACCOUNTS_PER_CALL]
            resp = await get_accounts(self.rpc, [r["key"] for r in chunk], Confirmed)
            for row, account in zip(chunk, resp.value, strict=True):
                fp = fingerprint(account)
                if fp != row["fingerprint"] and not (row["fingerprint"] is None and fp == ABSENT):
                    changed[row["wallet"]] = resp.context.slot
        return changed


class _Shard:
    """One connection's wallets: subscribed, resubscribed after every drop, caught up."""

    def __init__(self, n: int, push: SolanaPush, signaller: Signaller) -> None:
        self.push = push
        self.signaller = signaller
        self.health = ShardHealth(shard=n)
        self.wallets: set[str] = set()
        self.fresh: set[str] = set()  # watched while running: told once subscribed
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def add(self, wallet: str, *, announce: bool) -> None:
        self.wallets.add(wallet)
        if announce:
            self.fresh.add(wallet)
        self.changed.set()

    def keep(self, watched_now: set[str]) -> None:
        if self.wallets - watched_now:
            self.wallets &= watched_now
            self.changed.set()

    async def run(self) -> None:
        failures = 0
        while True:
            url = self.push.urls[(self.health.connects + failures) % len(self.push.urls)]
            label = f"{sol.NAME}-ws#{self.push.urls.index(url) + 1} ({endpoint_label(url)})"
            started = time.monotonic()
            try:
                # A closed client cannot be reused: a new one for every connection.
                async with SolanaWsClient(url, notification_queue_size=NOTIFICATION_QUEUE) as ws:
                    self.health.connects += 1
                    self.health.connected = True
                    await self._serve(ws)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure of a connection: reconnect
                self.health.last_error = f"{label}: {type(exc).__name__}: {exc}".replace(url, "")
                activity.logger.info("push shard %s reconnects: %s", self.health.shard, exc)
            self.health.connected = False
            self.health.subscriptions = 0
            failures = 0 if time.monotonic() - started > 30 else failures + 1
            await asyncio.sleep(RECONNECT_BACKOFF[min(failures, len(RECONNECT_BACKOFF) - 1)])

    async def _serve(self, ws: SolanaWsClient) -> None:
        owners: dict[int, str] = {}  # subscription id -> wallet
        handles: dict[str, list[Subscription]] = {}
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receive(ws, owners))
            group.create_task(self._maintain(ws, owners, handles))

    async def _receive(self, ws: SolanaWsClient, owners: dict[int, str]) -> None:
        while True:
            note = await ws.recv()
            wallet = owners.get(note.subscription)
            if wallet is None:
                continue  # its subscribe is still being confirmed: the catch-up covers it
            self.health.notifications += 1
            self.health.last_event = datetime.now(UTC)
            self.signaller.add(wallet, note.result.context.slot)  # type: ignore[union-attr]

    async def _maintain(
        self, ws: SolanaWsClient, owners: dict[int, str], handles: dict[str, list[Subscription]]
    ) -> None:
        reconnected = True  # everything subscribed on this connection is caught up once
        gate = asyncio.Semaphore(SUBSCRIBE_CONCURRENCY)

        async def subscribe(wallet: str) -> None:
            async with gate:
                handles[wallet] = await _subscribe(ws, wallet)
            for handle in handles[wallet]:
                owners[handle.subscription_id] = wallet

        while True:
            self.changed.clear()
            for wallet in set(handles) - self.wallets:
                for handle in handles.pop(wallet):
                    owners.pop(handle.subscription_id, None)
                    with contextlib.suppress(ValueError):  # already gone with its connection
                        await ws.unsubscribe(handle)
            new = sorted(self.wallets - set(handles))
            await asyncio.gather(*map(subscribe, new))
            self.health.wallets = len(handles)
            self.health.subscriptions = sum(map(len, handles.values()))
            fresh, self.fresh = self.fresh & set(new), self.fresh - set(new)
            if reconnected:
                behind = await self.push.changed_since_known(set(new) - fresh)
                for wallet, slot in behind.items():
                    self.signaller.add(wallet, slot)
                reconnected = False
            for wallet in fresh:
                self.signaller.add(wallet, 0)
            await self.changed.wait()


async def _subscribe(ws: SolanaWsClient, wallet: str) -> list[Subscription]:
    owner = Pubkey.from_string(wallet)
    owned = [MemcmpOpts(offset=OWNER_OFFSET, bytes=wallet)]
    return [
        await ws.account_subscribe(pubkey=owner, commitment=Confirmed, encoding="base64"),
        *[
            await ws.program_subscribe(
                program_id=Pubkey.from_string(program),
                commitment=Confirmed,
                encoding="base64",
                filters=owned,
            )
            for program in (sol.TOKEN_PROGRAM, sol.TOKEN_2022_PROGRAM)
        ],
    ]
