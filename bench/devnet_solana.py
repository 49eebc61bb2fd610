"""Benchmark: sendTransaction throughput of the Solana devnet through solana-py.

The devnet runs in its own process (`python -m devnet.solana`) so the client does not share a
core with it. N SOL transfers from the funded accounts to distinct new recipients are signed
up front, then sent with `AsyncClient.send_raw_transaction` (preflight on, as production code
sends) with a fixed number of requests in flight. Every transaction is then checked to have
landed. Results go to stdout and bench/results/devnet_solana.json.

    python bench/devnet_solana.py [--n 2000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Finalized
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import Transaction

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "bench" / "results" / "devnet_solana.json"
LAMPORTS = 1_000_000  # above the rent-exempt minimum, so every new recipient is valid
WARMUP = 32


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_devnet(port: int, slot_ms: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devnet.solana",
            "--port",
            str(port),
            "--slot-ms",
            str(slot_ms),
            "--info",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        raise RuntimeError(f"devnet exited with {proc.returncode} before it was ready")
    return proc, json.loads(line)


def cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc), to show which side is saturated."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(
    url: str, info: dict[str, Any], n: int, concurrency: int, server_pid: int
) -> dict[str, Any]:
    payers = [Keypair.from_base58_string(a["secret_key"]) for a in info["accounts"]]
    async with AsyncClient(url, timeout=30) as rpc:
        blockhash = (await rpc.get_latest_blockhash(Finalized)).value.blockhash
        wires: list[bytes] = []
        for i in range(n + WARMUP):
            payer = payers[i % len(payers)]
            ix = transfer(
                TransferParams(
                    from_pubkey=payer.pubkey(), to_pubkey=Keypair().pubkey(), lamports=LAMPORTS
                )
            )
            wires.append(bytes(Transaction([payer], Message([ix], payer.pubkey()), blockhash)))
        opts = TxOpts(skip_preflight=False, preflight_commitment=Finalized)
        for wire in wires[:WARMUP]:  # connections and code paths warm, not measured
            await rpc.send_raw_transaction(wire, opts)
        wires = wires[WARMUP:]

        latencies: list[float] = []
        errors: list[str] = []
        signatures = []
        queue = iter(wires)

        async def worker() -> None:
            for wire in queue:
                started = time.perf_counter()
                try:
                    signatures.append((await rpc.send_raw_transaction(wire, opts)).value)
                except Exception as exc:  # counted and reported, the run goes on
                    errors.append(repr(exc)[:200])
                latencies.append(time.perf_counter() - started)

        server_cpu = cpu_seconds(server_pid)
        client_cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_after = cpu_seconds(server_pid)
        server_busy = (
            round((server_after - server_cpu) / elapsed, 2)
            if server_cpu is not None and server_after is not None
            else None
        )

        landed = 0
        for i in range(0, len(signatures), 256):
            statuses = (await rpc.get_signature_statuses(signatures[i : i + 256])).value
            landed += sum(1 for s in statuses if s is not None and s.err is None)

    ms = [x * 1000 for x in latencies]
    return {
        "benchmark": "devnet_solana.sendTransaction",
        "transactions": n,
        "concurrency": concurrency,
        "preflight": True,
        "elapsed_s": round(elapsed, 3),
        "send_per_s": round(n / elapsed, 1),
        "latency_ms": {
            "p50": round(statistics.median(ms), 2),
            "p95": round(percentile(ms, 0.95), 2),
            "p99": round(percentile(ms, 0.99), 2),
            "max": round(max(ms), 2),
        },
        "cpu_busy": {"server": server_busy, "client": round(client_cpu / elapsed, 2)},
        "errors": len(errors),
        "error_samples": errors[:3],
        "landed": landed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--slot-ms", type=int, default=400)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    port = free_port()
    proc, info = start_devnet(port, args.slot_ms)
    try:
        result = asyncio.run(
            run(f"http://127.0.0.1:{port}", info, args.n, args.concurrency, proc.pid)
        )
    finally:
        proc.terminate()
        proc.wait(10)
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
