"""Benchmark: copy trading latency, from a leader's swap at `confirmed` to the follower's trade
sent, on the embedded stack (bench/monitor.py's `Bench`).

    python bench/copy_trading.py [--shape leaders|followers|both] [--n 50] [--rounds 3] [--chaos]

Phases and method:
1. Setup: the stack of bench/monitor.py (Temporal dev server, embedded PostgreSQL, the Solana
   and Telegram devnets at Solana timing: 400 ms slots, finalized 32 slots behind; one worker
   on the `solana` and `notify` queues, the hot wallet as trading wallet, push on). The dev
   principals are in the roster, plus N follower principals for the second shape.
2. Shape `leaders`: N fresh leader wallets, each funded with SOL, each copied by one follower
   (`operator`, 0.01 SOL per buy): N copy workflows. Each leader makes one swap (0.5 SOL to
   USDC at the devnet venue, plain HTTP and solana-py), `--rate` leaders per second.
   Shape `followers`: one leader copied by N followers (N principals, N copy workflows);
   the leader swaps `--rounds` times, 30 s apart: N copied trades per leader swap, all from the
   one trading wallet.
3. Measured per copied trade: the leader's swap `confirmed` (the driver polls
   getSignatureStatuses every 100 ms: an upper bound, by at most that interval) to the
   follower's trade sent (the audit row the trade writes as it marks its signed version
   broadcast, just before the first sendTransaction). p50, p95, p99. Missed: a leader swap
   without a confirmed copy per follower after the settle time; doubles: a (follower, leader
   signature) with more than one trade or fill. History events per copy: the copy
   workflow's history growth per copied trade, plus the child trade's own history length.
4. `--chaos`: during the swaps the devnet drops every WebSocket every 10 s, loses 20% of
   PubSub notifications and answers 5% of the worker's RPC reads with 503; copies that the
   early path misses come from the leader's monitor at finality.

Results: stdout and bench/results/copy_<shape>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from monitor import ROOT, Bench, log, pct, run_bench, until  # bench/monitor.py, beside it
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Confirmed
from solana.rpc.models import TxOpts
from solders.keypair import Keypair
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_status import TransactionConfirmationStatus
from temporalio.client import Client

from chains.solana import SOL_MINT
from chains.solana.signing import add_signature
from core.copying import CopyRules
from core.ids import copy_id, monitor_id
from core.intents import Principal
from starter.client import copies
from starter.client.signer import Signer, new_key
from starter.devstack import write_devnet_keys
from starter.devstack.principals import dev_key, provision
from starter.runtime.settings import Settings
from store import authority
from workflows.monitor import WalletMonitorWorkflow

SOL = 10**9


class CopyBench(Bench):
    def chain_settings(self, devnets: dict[str, Any]) -> dict[str, str]:
        """The last funded devnet account is the trading wallet; the others fund leaders."""
        hot = len(devnets["solana"]["accounts"]) - 1
        keys = write_devnet_keys(self.home, devnets, index=hot)
        return {
            "SOLANA_RPC_URL": devnets["solana"]["url"],
            "WALLETFLOW_KEYSTORE": f"file:{keys}",
            "WALLETFLOW_SOLANA_HOT_WALLET": devnets["solana"]["accounts"][hot]["address"],
        }

    async def run(self) -> dict[str, Any]:
        args = self.args
        self.result = {"benchmark": "copy", "shape": args.shape, "n": args.n}
        started = time.monotonic()
        client, dsn, devnets = await asyncio.gather(
            self.start_temporal(), self.start_postgres(), self.start_devnets()
        )
        self.solana_url = devnets["solana"]["url"]
        self.swap_url = devnets["solana"]["swap_url"]
        self.usdc = devnets["solana"]["spl_mint"]
        settings = await self.start_worker(dsn, devnets)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
        keys = self.home / "keys"
        await provision(pool, keys)
        operator = dev_key(keys, "operator")
        funders = [
            Keypair.from_base58_string(a["secret_key"]) for a in devnets["solana"]["accounts"][:-1]
        ]
        rss_task = asyncio.create_task(self.sample_rss())
        log(f"stack up in {time.monotonic() - started:.1f}s (home {self.home})")

        if args.shape == "leaders":
            leaders = [Keypair() for _ in range(args.n)]
            followers = [operator]
        else:
            leaders = [Keypair()]
            followers = [await self.follower(pool, keys, i) for i in range(args.n)]
        await self.fund(funders, leaders)
        pairs = [(f, leader) for leader in leaders for f in followers]
        for follower, leader in pairs:
            req = copies.build_request(
                settings,
                leader=str(leader.pubkey()),
                rules=CopyRules(sol_per_buy="0.01", daily_cap="100", max_open_positions=50),
                chat=None,
            )
            await copies.start(client, settings, copies.signed(req, follower))
        await until(lambda: self.registered(client, leaders, len(followers)), 300, "the copiers")
        await until(lambda: self.subscribed_at_least(client, settings, len(leaders)), 300, "push")
        log(f"{len(pairs)} copies registered; leaders subscribed")

        if args.chaos:
            await self.faults(
                {"ws_drop_every_s": 10, "ws_lose_rate": 0.2, "error_rate": 0.05,
                 "only_methods": ["getSignaturesForAddress", "getTransaction",
                                  "getMultipleAccounts", "getSlot"]}
            )  # fmt: skip
        swaps: list[tuple[Keypair, str]] = []
        confirmed: dict[str, float] = {}
        done = asyncio.Event()
        poller = asyncio.create_task(self.poll_confirmed(swaps, confirmed, done))
        if args.shape == "leaders":
            for leader in leaders:
                swaps.append((leader, await self.swap(leader, SOL // 2)))
                await asyncio.sleep(1 / args.rate)
        else:
            for round_no in range(args.rounds):
                swaps.append((leaders[0], await self.swap(leaders[0], SOL // 2)))
                if round_no + 1 < args.rounds:
                    await asyncio.sleep(30)
        done.set()
        await poller
        if args.chaos:
            await self.faults({"ws_drop_every_s": 0, "ws_lose_rate": 0, "error_rate": 0})
        # Each follower copies every leader here (one leader, or one follower).
        expected = {f"copy-{f.identity}-{sig}": sig for _, sig in swaps for f in followers}
        await until(lambda: self.finished(pool, list(expected)), args.settle, "the copies", 1)
        self.result["figures"] = await self.figures(
            client, pool, expected, confirmed, followers, leaders
        )
        rss_task.cancel()
        self.result["worker_rss_mb"] = self.rss
        await pool.close()
        return self.result

    # ---- setup helpers --------------------------------------------------------------------

    async def follower(self, pool: asyncpg.Pool, keys: Path, i: int) -> Signer:
        name = f"follower{i}"
        signer = new_key(keys / f"{name}.json", name)
        principal = Principal(id=name, public_key=signer.public_key, roles=["requester"])
        await authority.add_principal(pool, principal, by="bench")
        return signer

    async def fund(self, funders: list[Keypair], leaders: list[Keypair]) -> None:
        signatures = await self.send_all(funders, [(str(k.pubkey()), 2 * SOL) for k in leaders])
        await self.finalized(signatures)

    async def registered(self, client: Client, leaders: list[Keypair], per_leader: int) -> bool:
        for leader in leaders:
            handle = client.get_workflow_handle(monitor_id("solana", str(leader.pubkey())))
            try:
                status = await handle.query(WalletMonitorWorkflow.status)
            except Exception:
                return False
            if len(status.copiers) < per_leader:
                return False
        return True

    async def subscribed_at_least(self, client: Client, settings: Settings, wallets: int) -> bool:
        return await self.subscribed(client, settings) >= wallets

    # ---- the leader's swaps ---------------------------------------------------------------

    async def swap(self, leader: Keypair, lamports: int) -> str:
        async with httpx.AsyncClient(timeout=10) as http:
            params = {
                "inputMint": SOL_MINT,
                "outputMint": self.usdc,
                "amount": str(lamports),
                "slippageBps": "300",
            }
            quote = (await http.get(f"{self.swap_url}/quote", params=params)).json()
            body = {"quoteResponse": quote, "userPublicKey": str(leader.pubkey())}
            answer = (await http.post(f"{self.swap_url}/swap", json=body)).json()
        tx = VersionedTransaction.from_bytes(base64.b64decode(answer["swapTransaction"]))
        async with AsyncClient(self.solana_url) as rpc:
            opts = TxOpts(preflight_commitment=Confirmed)
            sent = await rpc.send_raw_transaction(bytes(add_signature(tx, leader)), opts=opts)
        return str(sent.value)

    async def poll_confirmed(
        self, swaps: list[tuple[Keypair, str]], seen: dict[str, float], done: asyncio.Event
    ) -> None:
        """When each leader swap is first seen `confirmed` (every 100 ms)."""
        async with AsyncClient(self.solana_url) as rpc:
            while not done.is_set() or len(seen) < len(swaps):
                pending = [sig for _, sig in swaps if sig not in seen]
                if pending:
                    resp = await rpc.get_signature_statuses(
                        [Signature.from_string(s) for s in pending]
                    )
                    now = time.time()
                    levels = (
                        TransactionConfirmationStatus.Confirmed,
                        TransactionConfirmationStatus.Finalized,
                    )
                    for sig, status in zip(pending, resp.value, strict=True):
                        if status is not None and status.confirmation_status in levels:
                            seen[sig] = now
                await asyncio.sleep(0.1)

    # ---- results --------------------------------------------------------------------------

    async def finished(self, pool: asyncpg.Pool, request_ids: list[str]) -> bool:
        ended = await pool.fetchval(
            """SELECT count(*) FROM withdrawals WHERE request_id = ANY($1)
               AND status IN ('confirmed', 'failed', 'rejected', 'cancelled', 'expired')""",
            request_ids,
        )
        return bool(ended == len(request_ids))

    async def figures(
        self,
        client: Client,
        pool: asyncpg.Pool,
        expected: dict[str, str],
        confirmed: dict[str, float],
        followers: list[Signer],
        leaders: list[Keypair],
    ) -> dict[str, Any]:
        rows = await pool.fetch(
            """SELECT w.request_id, w.status, w.status_reason,
                      (SELECT min(extract(epoch FROM a.at)) FROM audit_log a
                       WHERE a.subject = 'trade:' || w.request_id
                         AND a.action = 'broadcast') AS sent,
                      (SELECT count(*) FROM ledger_entries l
                       WHERE l.request_id = w.request_id AND l.kind = 'fill') AS fills
               FROM withdrawals w WHERE w.request_id LIKE 'copy-%'""",
        )
        by_id = {r["request_id"]: r for r in rows}
        latencies = []
        for request_id, sig in expected.items():
            row = by_id.get(request_id)
            if row is not None and row["sent"] is not None and sig in confirmed:
                latencies.append(float(row["sent"]) - confirmed[sig])
        missed = [
            rid for rid in expected if by_id.get(rid) is None or by_id[rid]["status"] != "confirmed"
        ]
        doubles = [rid for rid, r in by_id.items() if r["fills"] > 1]
        unexpected = [rid for rid in by_id if rid not in expected]
        copy_events = 0
        for follower in followers:
            for leader in leaders:
                handle = client.get_workflow_handle(
                    copy_id(follower.identity, str(leader.pubkey()))
                )
                copy_events += len((await handle.fetch_history()).events)
        trade_events = []
        for request_id in list(expected)[:50]:
            history = await client.get_workflow_handle(f"trade-{request_id}").fetch_history()
            trade_events.append(len(history.events))
        copied = len(expected) - len(missed)
        return {
            "leader_swaps": len(confirmed),
            "copies_expected": len(expected),
            "copies_confirmed": copied,
            "missed": len(missed),
            "missed_samples": [
                (rid, by_id[rid]["status"], by_id[rid]["status_reason"])
                if rid in by_id
                else (rid, None, None)
                for rid in missed[:5]
            ],
            "double_copies": len(doubles),
            "unexpected_trades": len(unexpected),
            "confirmed_to_sent_s": {
                "n": len(latencies),
                "p50": round(pct(latencies, 50) or 0, 3),
                "p95": round(pct(latencies, 95) or 0, 3),
                "p99": round(pct(latencies, 99) or 0, 3),
                "max": round(max(latencies, default=0), 3),
            },
            "history_events_per_copy": {
                "copy_workflow": round(copy_events / max(copied, 1), 1),
                "trade_workflow": round(sum(trade_events) / max(len(trade_events), 1), 1),
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=("leaders", "followers"), default="leaders")
    parser.add_argument("--n", type=int, default=50, help="leaders, or followers")
    parser.add_argument("--rounds", type=int, default=3, help="followers shape: leader swaps")
    parser.add_argument("--rate", type=float, default=2.0, help="leaders shape: swaps per second")
    parser.add_argument("--chaos", action="store_true", help="WebSocket and RPC faults")
    parser.add_argument("--settle", type=float, default=300, help="wait for the copies, s")
    parser.add_argument("--sweep-seconds", type=float, default=0, help="0: the default")
    parser.add_argument("--codec", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wallets", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help="default bench/results/copy_<shape>.json")
    parser.add_argument("--keep", action="store_true", help="keep the logs and data directory")
    args = parser.parse_args()
    suffix = "_chaos" if args.chaos else ""
    out = args.out or ROOT / "bench" / "results" / f"copy_{args.shape}{suffix}.json"
    run_bench(CopyBench(args), out, __doc__)


if __name__ == "__main__":
    main()
