"""Benchmark: two-phase alerts on TRON, pending at the head block and final at solidification.

    python bench/monitor_tron.py [--wallets 50] [--transfers 40] [--rate 0.5] [--fresh 5]

The same embedded stack as bench/monitor.py (its `Bench`), with the TRON devnet at mainnet
timing (3 s blocks, solidified 19 blocks behind the head) and the worker on the `tron` and
`notify` queues. N wallets are watched, then TRX and USDT (TRC20) transfers go to random ones
at `--rate` per second, plus `--fresh` TRX transfers to wallets watched 1 s before the send.

The driver follows the chain like a client would: `wallet/getnowblock` and
`walletsolidity/getnowblock` every 100 ms (and `getblockbynum` for any block it skipped), so
it knows when each transfer's block was first served as the head and when that block was
first served as solidified (upper bounds, by at most the polling interval), and the block's
own timestamp. From the Telegram stand-in: when the *pending* message was sent and when it
was edited to *final*. Latency of pending = pending - head block seen (target: one block
+ 1 s) and - the block's timestamp; of final = final - solidified seen (target: 3 s).
Missed, duplicates and unresolved pending messages are counted as in bench/monitor.py.

Results: stdout and bench/results/monitor_tron.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from monitor import ROOT, Bench, finals, log, run_bench, until  # bench/monitor.py, beside it
from tronpy import AsyncTron
from tronpy.keys import PrivateKey
from tronpy.providers import AsyncHTTPProvider

from chains import tron
from core.ids import push_id
from core.models import Subscription
from starter.client import monitors

TRX = 1_000_000
FEE_LIMIT = 50 * TRX


class TronBench(Bench):
    CHAIN = "tron"

    def chain_settings(self, devnets: dict[str, Any]) -> dict[str, str]:
        return {"TRON_API_URL": devnets["tron"]["url"]}

    async def run(self) -> dict[str, Any]:
        args = self.args
        started = time.monotonic()
        client, dsn, devnets = await asyncio.gather(
            self.start_temporal(), self.start_postgres(), self.start_devnets()
        )
        info = devnets["tron"]
        self.telegram_url = devnets["telegram"]["url"]
        settings = await self.start_worker(dsn, devnets)
        rss_task = asyncio.create_task(self.sample_rss())
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        log(f"stack up in {time.monotonic() - started:.1f}s (home {self.home})")

        funders = [PrivateKey(bytes.fromhex(a["private_key"])) for a in info["accounts"]]
        rng = random.Random(args.seed)
        wallets = [new_address() for _ in range(args.wallets)]
        t0 = time.monotonic()
        for i, address in enumerate(wallets):
            sub = Subscription(chat_id=1_000_000 + i, label=f"w{i}")
            await monitors.watch(client, settings, "tron", address, sub)

        async def all_watching() -> bool:
            count = await pool.fetchval("SELECT count(DISTINCT wallet) FROM watch_keys")
            return bool(count == len(wallets))

        await until(all_watching, 600, "every monitor's start_watching", interval=1)
        await until(lambda: self.following(client, settings), 120, "the head-block follower")
        self.result["setup"] = {"all_watching_s": round(time.monotonic() - t0, 1)}

        plan = [("trx", w) for w in rng.sample(wallets, min(len(wallets), args.transfers))]
        plan += [("usdt", w) for w in rng.sample(wallets, min(len(wallets), args.transfers))]
        plan += [("trx_watched_1s_before", new_address()) for _ in range(args.fresh)]
        rng.shuffle(plan)
        first_index = len(await self.messages(0))
        sent: dict[str, str] = {}
        send_times: dict[str, float] = {}
        head_seen: dict[str, float] = {}
        block_times: dict[str, float] = {}
        solid_seen: dict[str, float] = {}
        done = asyncio.Event()

        async def sender() -> None:
            async with AsyncTron(AsyncHTTPProvider(info["url"])) as node:
                contract = await node.get_contract(info["trc20_contract"])
                for i, (kind, to) in enumerate(plan):
                    if kind == "trx_watched_1s_before":
                        sub = Subscription(chat_id=2_000_000 + i, label=f"f{i}")
                        await monitors.watch(client, settings, "tron", to, sub)
                        await asyncio.sleep(1)
                    key = funders[i % len(funders)]
                    owner = key.public_key.to_base58check_address()
                    if kind == "usdt":
                        call = await contract.functions.transfer(to, 1_000 + i)
                        builder = call.with_owner(owner).fee_limit(FEE_LIMIT)
                    else:
                        builder = node.trx.transfer(owner, to, TRX + i)
                    tx = (await builder.build()).sign(key)
                    result = await tx.broadcast()
                    sent[result["txid"]], send_times[result["txid"]] = kind, time.time()
                    await asyncio.sleep(1 / args.rate)
            done.set()

        async def follower() -> None:
            """The head and the solidified block, as a client polling every 100 ms sees them."""
            block_of: dict[str, int] = {}
            head_no = solid_no = 0
            async with httpx.AsyncClient(base_url=info["url"], timeout=10) as http:

                async def block(path: str, number: int | None = None) -> dict[str, Any]:
                    if number is None:
                        resp = await http.post(f"/{path}/getnowblock", json={})
                    else:
                        resp = await http.post(f"/{path}/getblockbynum", json={"num": number})
                    resp.raise_for_status()
                    return dict(resp.json())

                while not done.is_set() or len(solid_seen) < len(sent):
                    now_block = await block("wallet")
                    number = tron.block_header(now_block, "number")
                    for n in range(max(head_no + 1, number - 20), number + 1):
                        b = now_block if n == number else await block("wallet", n)
                        at = time.time()
                        stamp_s = tron.block_header(b, "timestamp") / 1000
                        for t in b.get("transactions", []):
                            block_of[t["txID"]] = n
                            head_seen.setdefault(t["txID"], at)
                            block_times.setdefault(t["txID"], stamp_s)
                    head_no = max(head_no, number)
                    solid_no = tron.block_header(await block("walletsolidity"), "number")
                    now = time.time()
                    for txid, n in block_of.items():
                        if n <= solid_no:
                            solid_seen.setdefault(txid, now)
                    await asyncio.sleep(0.1)

        log(f"active: {len(plan)} transfers at {args.rate}/s")
        await asyncio.gather(sender(), follower())
        final_of: dict[str, float] = {}

        async def all_final() -> bool:
            final_of.update(finals(await self.messages(first_index)))
            return all(txid in final_of for txid in sent)

        with contextlib.suppress(RuntimeError):
            await until(all_final, args.settle, "every final message", interval=1)
        await asyncio.sleep(10)  # duplicates, if any, would arrive now
        ledger = Counter(
            r["tx_id"]
            for r in await pool.fetch(
                "SELECT tx_id FROM wallet_events WHERE tx_id = ANY($1::text[])", list(sent)
            )
        )
        rows = await pool.fetch("SELECT status FROM notifications")
        statuses = Counter(r["status"] for r in rows)
        messages = await self.messages(first_index)
        figures = self.active_figures(
            sent, send_times, head_seen, solid_seen, messages, ledger, statuses,
            {"methods": {}},
        )  # fmt: skip
        # The same figures under TRON's names for the two moments.
        renamed = {
            "pending_after_confirmed": "pending_after_head_block_seen",
            "final_after_finalized": "final_after_solidified_seen",
            "send_to_confirmed_s": "send_to_head_block_s",
            "send_to_finalized_s": "send_to_solidified_s",
        }
        figures = {renamed.get(k, k): v for k, v in figures.items()}
        figures.pop("worker_rpc_calls")
        block_based = self.active_figures(
            sent, send_times, block_times, solid_seen, messages, ledger, statuses,
            {"methods": {}},
        )  # fmt: skip
        figures["pending_after_block_timestamp"] = block_based["pending_after_confirmed"]
        self.result["active"] = figures
        self.result["worker_rss_mb"] = {"max": self.rss["max_mb"], "end": self.rss.get("last_mb")}
        rss_task.cancel()
        await pool.close()
        return self.result

    async def following(self, client: Any, settings: Any) -> bool:
        """The push follower's heartbeat shows its head-block shard connected."""
        desc = await client.get_workflow_handle(push_id(settings.task_queue("tron"))).describe()
        for pending in desc.raw_description.pending_activities:
            if pending.HasField("heartbeat_details") and pending.heartbeat_details.payloads:
                [shards] = await client.data_converter.decode(pending.heartbeat_details.payloads)
                return any(s["connected"] for s in shards)
        return False


def new_address() -> str:
    return str(PrivateKey.random().public_key.to_base58check_address())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wallets", type=int, default=50, help="N watched wallets")
    parser.add_argument("--transfers", type=int, default=40, help="each of TRX and USDT")
    parser.add_argument("--fresh", type=int, default=5, help="TRX to wallets watched 1 s before")
    parser.add_argument("--rate", type=float, default=0.5, help="transfers per second")
    parser.add_argument("--settle", type=float, default=180, help="wait for messages, s")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="default bench/results/monitor_tron.json")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    args = parser.parse_args()
    args.codec, args.sweep_seconds = False, 0
    bench = TronBench(args)
    bench.result.update(benchmark="monitor_tron", tron_devnet={"block_ms": 3000, "solid_lag": 19})
    run_bench(bench, args.out or ROOT / "bench" / "results" / "monitor_tron.json", __doc__)


if __name__ == "__main__":
    main()
