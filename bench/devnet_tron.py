"""Broadcast throughput of the TRON devnet.

Runs `python -m devnet.tron` in a subprocess (so client and server do not share an event loop),
pre-signs transfers with tronpy from several funded accounts, then broadcasts them with a fixed
number of concurrent requests in two ways:

- "http": the exact request tronpy makes (POST /wallet/broadcasttransaction with the body of
  `AsyncTransaction.to_json()`), sent with aiohttp's client;
- "tronpy": `AsyncTron.broadcast()` through tronpy's own AsyncHTTPProvider (httpx).

Both are reported because on a 2-core machine httpx's client, not the devnet, is the limit of
the second one (its connection pool costs more CPU per request the more requests wait on it:
about 940/s at 8 concurrent requests, 290-430/s at 32); the devnet's own CPU time per
transaction is measured with psutil.
Prints the figures and writes them to bench/results/devnet_tron.json.

    python bench/devnet_tron.py [--count 2000] [--concurrency 8] [--senders 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
from tronpy import AsyncTron
from tronpy.async_tron import AsyncTransaction
from tronpy.keys import PrivateKey
from tronpy.providers.async_http import AsyncHTTPProvider
from tronpy.version import VERSION as TRONPY_VERSION

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "devnet_tron.json"
TARGET_PER_S = 300


def start_devnet(accounts: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devnet.tron", "--port", "0", "--accounts", str(accounts)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the devnet prints its info() as one JSON line when ready
    if not line:
        proc.kill()
        raise RuntimeError("devnet did not start")
    return proc, json.loads(line)


async def presign(
    tron: AsyncTron, info: dict[str, Any], count: int, senders: int, first_amount: int
) -> list[AsyncTransaction]:
    accounts = info["accounts"][:senders]
    keys = [PrivateKey(bytes.fromhex(a["private_key"])) for a in accounts]
    ref = await tron.get_latest_solid_block_id()
    txs = []
    for i in range(count):
        sender = i % senders
        to = accounts[(sender + 1) % senders]["address"]
        # Distinct amounts keep txIDs distinct even when two are built in the same millisecond.
        builder = tron.trx.transfer(accounts[sender]["address"], to, first_amount + i)
        tx = await builder.build(offline=True, ref_block_id=ref)
        txs.append(tx.sign(keys[sender]))
    return txs


async def broadcast_all(
    send: Callable[[AsyncTransaction], Awaitable[dict[str, Any]]],
    txs: list[AsyncTransaction],
    concurrency: int,
) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    accepted = 0
    queue = iter(txs)

    async def worker() -> None:
        nonlocal accepted
        for tx in queue:  # a shared iterator: each transaction goes out exactly once
            started = time.perf_counter()
            reply = await send(tx)
            latencies.append(time.perf_counter() - started)
            accepted += reply.get("result") is True

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, accepted


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    name: str,
    send: Callable[[AsyncTransaction], Awaitable[dict[str, Any]]],
    txs: list[AsyncTransaction],
    concurrency: int,
    server: psutil.Process | None,
) -> dict[str, Any]:
    await broadcast_all(send, txs[:100], concurrency)  # warm-up: connections, caches
    txs = txs[100:]
    cpu_before = sum(server.cpu_times()[:2]) if server else 0.0
    elapsed, latencies, accepted = await broadcast_all(send, txs, concurrency)
    cpu = sum(server.cpu_times()[:2]) - cpu_before if server else None
    ms = [v * 1000 for v in latencies]
    return {
        "client": name,
        "count": len(txs),
        "accepted": accepted,
        "elapsed_s": round(elapsed, 3),
        "tx_per_s": round(len(txs) / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(ms), 2),
            "p95": round(percentile(ms, 0.95), 2),
            "max": round(max(ms), 2),
        },
        "devnet_cpu_ms_per_tx": round(cpu * 1000 / len(txs), 3) if cpu is not None else None,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    proc: subprocess.Popen[str] | None = None
    if args.info:  # an already running devnet (to profile it): a file with its info() JSON
        info = json.loads(Path(args.info).read_text())
        server = None
    else:
        proc, info = start_devnet(max(args.senders, 2))
        server = psutil.Process(proc.pid)
    url = info["url"]
    broadcast_url = url + "/wallet/broadcasttransaction"
    try:
        limits = httpx.Limits(
            max_connections=args.concurrency, max_keepalive_connections=args.concurrency
        )
        provider = AsyncHTTPProvider(
            endpoint_uri=url, client=httpx.AsyncClient(limits=limits, timeout=30.0)
        )
        async with AsyncTron(provider) as tron:
            n = args.count + 100
            raw_txs = await presign(tron, info, n, args.senders, 1)
            tronpy_txs = await presign(tron, info, n, args.senders, 1 + n)
            connector = aiohttp.TCPConnector(limit=args.concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                headers = {"User-Agent": f"Tronpy/{TRONPY_VERSION}"}

                async def send_http(tx: AsyncTransaction) -> dict[str, Any]:
                    async with session.post(broadcast_url, json=tx.to_json(), headers=headers) as r:
                        r.raise_for_status()
                        return dict(await r.json())

                http = await measure("http", send_http, raw_txs, args.concurrency, server)

            tronpy = await measure("tronpy", tron.broadcast, tronpy_txs, args.concurrency, server)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    return {
        "benchmark": "devnet_tron wallet/broadcasttransaction (TRX transfers, signature-checked)",
        "broadcasttransaction_per_s": http["tx_per_s"],
        "p50_ms": http["latency_ms"]["p50"],
        "p95_ms": http["latency_ms"]["p95"],
        "target_per_s": TARGET_PER_S,
        "concurrency": args.concurrency,
        "senders": args.senders,
        "runs": {"http": http, "tronpy": tronpy},
        "notes": (
            "'http' sends tronpy's exact request with aiohttp; 'tronpy' goes through "
            "AsyncTron.broadcast (httpx), whose client CPU is the limit on 2 cores (more so at "
            "higher concurrency: httpx's pool)"
        ),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "tronpy": TRONPY_VERSION,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="TRON devnet broadcast throughput")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--info", help="file with the info() JSON of a running devnet to use")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    if not args.info:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
