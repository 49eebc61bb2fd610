"""Benchmark: 10,000 price alerts on 500 tokens, prices moving every poll, on the embedded stack
(bench/monitor.py's `Bench`).

    python bench/price_alerts.py [--alerts 10000] [--tokens 500] [--poll 10] [--rounds 12]

Phases and method:
1. Setup: the stack of bench/monitor.py (Temporal dev server, embedded PostgreSQL, the Solana
   and Telegram devnets), and one worker on the `prices` and `notify` queues with the Jupiter
   provider only (PRICE_POLL_SECONDS = --poll, no client-side rate limit; the notify queue's
   25 messages/s limit stays on). T tokens (fresh mints priced by `POST /_devnet/prices`, base
   prices spread over 0.01..100 USD), N alerts started as `walletflow alert add` starts them
   (the price check aside), N/T per token: half `above`, half `below`, at 0.5% steps away
   from the base price, repeating, hysteresis 0.3%, no cooldown; alert i belongs to chat
   i mod C (C = --chats). Plus two samples on the same tokens whose thresholds the moves never
   reach (100x the price): I idle alerts (the default 4 h reconcile) and S alerts that
   reconcile every 30 s.
2. Active phase, R rounds: about every --poll seconds (0.5 to 1.5 polls apart, so that
   changes fall at every phase of the loop's poll) the driver moves every token's price by
   a seeded random step of up to --step (a fraction) in one `POST /_devnet/prices`, noting
   when. Each message names its token (the chart link) and its price; its latency is the
   Telegram stand-in's send time minus the time the driver set that price.
   Per round: messages (crossings fired), and the most messages one chat got. Provider calls
   per poll: the price-watch loop's own count (its heartbeat details): the costliest poll,
   and calls over polls in its current round.
3. Idle cost, from Temporal history lengths over the active phase: the idle sample's growth
   (expected 0: no signal reaches an alert whose watch is not met), the reconcile sample's
   growth per reconcile, and the price-watch workflow's growth. Per idle alert-hour = idle
   growth x 3600 / W + events of one reconcile x 3600 / 14400 (ALERT_RECONCILE_SECONDS) +
   the loop's growth x 3600 / W / N.
Worker RSS is sampled every 2 s.

Results: stdout and bench/results/price_alerts_<N>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from monitor import PREFIX, ROOT, Bench, log, pct, run_bench, stamp, until  # bench/monitor.py
from solders.keypair import Keypair
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from core.alerts import AlertAsset, AlertRequest, AlertRule, AlertRun
from core.ids import alert_workflow_id, price_watch_id
from starter.runtime.settings import NOTIFY_QUEUE, PRICES_QUEUE
from workflows.alert import PriceAlertWorkflow

STEP_PCT = Decimal("0.5")  # thresholds every 0.5% from the base price
HYSTERESIS = "0.3"
DEFAULT_RECONCILE = 4 * 3600
SAMPLE_RECONCILE = 30


class AlertBench(Bench):
    QUEUES = "prices,notify"

    def chain_settings(self, devnets: dict[str, Any]) -> dict[str, str]:
        return {
            "SOLANA_RPC_URL": devnets["solana"]["url"],
            "PRICE_PROVIDERS": "jupiter",
            "PRICE_POLL_SECONDS": str(self.args.poll),
            "JUPITER_REQUESTS_PER_SECOND": "0",
        }

    async def set_prices(self, prices: dict[str, Decimal]) -> float:
        async with httpx.AsyncClient(timeout=30) as http:
            body = {"prices": {k: str(v) for k, v in prices.items()}}
            resp = await http.post(f"{self.price_url}/_devnet/prices", json=body)
            resp.raise_for_status()
        return time.time()

    async def start_alerts(self, client: Client, reqs: list[AlertRequest]) -> list[str]:
        gate = asyncio.Semaphore(64)
        done = 0

        async def start(req: AlertRequest) -> str:
            nonlocal done
            workflow_id = alert_workflow_id(req.chat, req.alert_id)
            async with gate:
                await client.start_workflow(
                    PriceAlertWorkflow.run,
                    AlertRun(request=req),
                    id=workflow_id,
                    task_queue=PREFIX + PRICES_QUEUE,
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                )
            done += 1
            if done % 1000 == 0:
                log(f"{done} alerts started")
            return workflow_id

        return list(await asyncio.gather(*map(start, reqs)))

    async def watched(self, pool_dsn: str, count: int) -> bool:
        import asyncpg

        conn = await asyncpg.connect(pool_dsn)
        try:
            got = await conn.fetchval("SELECT count(*) FROM price_watches")
        finally:
            await conn.close()
        return int(got) >= count

    async def loop_counts(self, client: Client) -> dict[str, Any]:
        desc = await client.get_workflow_handle(
            price_watch_id(PREFIX + PRICES_QUEUE, "jupiter")
        ).describe()
        for pending in desc.raw_description.pending_activities:
            if pending.HasField("heartbeat_details") and pending.heartbeat_details.payloads:
                [details] = await client.data_converter.decode(pending.heartbeat_details.payloads)
                return dict(details)
        return {}

    async def run(self) -> dict[str, Any]:
        args = self.args
        rng = random.Random(args.seed)
        client, dsn, devnets = await asyncio.gather(
            self.start_temporal(), self.start_postgres(), self.start_devnets()
        )
        self.price_url = devnets["solana"]["price_url"]
        self.telegram_url = devnets["telegram"]["url"]
        settings = await self.start_worker(dsn, devnets)
        sampler = asyncio.create_task(self.sample_rss())

        def request(i: int, mint: str, base: Decimal, rule: AlertRule, chat: int) -> AlertRequest:
            return AlertRequest(
                chat=chat,
                alert_id=f"a{i}",
                asset=AlertAsset(
                    chain="solana",
                    symbol=f"{mint[:4]}…{mint[-4:]}",
                    asset_id=mint,
                    provider="jupiter",
                    price_id=mint,
                    chart_url=f"https://dexscreener.com/solana/{mint}",
                ),
                rule=rule,
                set_price=str(base),
                notify_queue=settings.task_queue(NOTIFY_QUEUE),
                reconcile_seconds=DEFAULT_RECONCILE,
            )

        # Tokens and their alerts.
        tokens = [str(Keypair().pubkey()) for _ in range(args.tokens)]
        price = {m: Decimal(rng.randint(1, 10_000)) / 100 for m in tokens}
        await self.set_prices(price)
        per_token = args.alerts // args.tokens
        reqs: list[AlertRequest] = []
        for mint in tokens:
            for k in range(per_token):
                side, step = ("above", k // 2 + 1) if k % 2 == 0 else ("below", k // 2 + 1)
                sign = 1 if side == "above" else -1
                level = price[mint] * (1 + sign * STEP_PCT * step / 100)
                rule = AlertRule(
                    kind=side,
                    threshold=str(level.quantize(Decimal("1e-6"))),
                    repeat=True,
                    hysteresis_pct=HYSTERESIS,
                    cooldown_seconds=0,
                )
                i = len(reqs)
                reqs.append(request(i, mint, price[mint], rule, 10_000 + i % args.chats))

        # The samples sit on moving tokens, with thresholds the moves never reach (x100).
        def far(j: int, chat: int) -> AlertRequest:
            mint = tokens[j % len(tokens)]
            rule = AlertRule(kind="above", threshold=str(price[mint] * 100), repeat=True)
            return request(len(reqs) + j, mint, price[mint], rule, chat)

        idle = [far(j, 900_000 + j) for j in range(args.idle_sample)]
        sample = [far(args.idle_sample + j, 950_000 + j) for j in range(args.reconcile_sample)]
        for r in sample:
            r.reconcile_seconds = SAMPLE_RECONCILE
        t0 = time.monotonic()
        log(f"starting {len(reqs)} alerts on {len(tokens)} tokens, plus samples")
        ids = await self.start_alerts(client, reqs)
        idle_ids = await self.start_alerts(client, idle)
        sample_ids = await self.start_alerts(client, sample)
        started_s = round(time.monotonic() - t0, 1)
        total = len(ids) + len(idle_ids) + len(sample_ids)
        await until(lambda: self.watched(dsn, total), 1800, "every alert watched", interval=2)
        watched_s = round(time.monotonic() - t0, 1)
        log(f"all {total} alerts watched after {watched_s} s; rss {self.rss}")
        await asyncio.sleep(args.poll * 2)  # the loop has polled every token since

        # Active phase.
        loop_before = await self.loop_counts(client)
        loop_id = price_watch_id(PREFIX + PRICES_QUEUE, "jupiter")
        before = await self.history_lengths(client, idle_ids + sample_ids + [loop_id])
        mark = len(await self.messages(0))
        changes: dict[str, list[tuple[Decimal, float]]] = defaultdict(list)
        rounds: list[float] = []
        active_started = time.monotonic()
        for n in range(args.rounds):
            tick = time.monotonic()
            for mint in tokens:
                move = Decimal(rng.randint(-1000, 1000)) / 1000 * Decimal(str(args.step))
                price[mint] = (price[mint] * (1 + move)).quantize(Decimal("1e-6"))
            at = await self.set_prices(price)
            rounds.append(at)
            for mint in tokens:
                changes[mint].append((price[mint], at))
            log(f"round {n + 1}/{args.rounds}: prices moved; rss {self.rss.get('last_mb')} MB")
            gap = args.poll * rng.uniform(0.5, 1.5)
            await asyncio.sleep(max(0.0, tick + gap - time.monotonic()))
        await asyncio.sleep(args.settle)
        window = time.monotonic() - active_started
        after = await self.history_lengths(client, idle_ids + sample_ids + [loop_id])
        loop_after = await self.loop_counts(client)
        got = await self.messages(mark)
        sampler.cancel()

        # Latency: a message names its token (chart link) and price ("Now $1.2345 ...").
        latencies, unmatched = [], 0
        per_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for m in got:
            text = m["text"]
            mint = text.split("dexscreener.com/solana/")[-1].split('"')[0]
            shown = text.split("Now $")[-1].split(" ")[0].replace(",", "")
            sent = stamp(m["time"])
            # The latest change of that token to the shown price (at its shown precision).
            origin = max((at for p, at in changes.get(mint, [])
                          if at <= sent and p.quantize(Decimal(shown)) == Decimal(shown)),
                         default=None)  # fmt: skip
            if origin is None:
                unmatched += 1
                continue
            latencies.append(sent - origin)
            index = max(i for i, at in enumerate(rounds) if at <= origin)
            per_round[index].append(m)
        crossings = [len(per_round.get(i, [])) for i in range(len(rounds))]
        per_chat = [
            max(Counter(m["chat_id"] for m in per_round.get(i, [])).values(), default=0)
            for i in range(len(rounds))
        ]
        idle_growth = [after[i] - before[i] for i in idle_ids]
        sample_growth = [after[i] - before[i] for i in sample_ids]
        reconciles = window / SAMPLE_RECONCILE
        per_reconcile = sum(sample_growth) / len(sample_growth) / reconciles if sample_ids else 0
        loop_growth = after[loop_id] - before[loop_id]
        idle_per_hour = (
            sum(idle_growth) / max(len(idle_growth), 1) * 3600 / window
            + per_reconcile * 3600 / DEFAULT_RECONCILE
            + loop_growth * 3600 / window / total
        )
        self.result = {
            "benchmark": "price_alerts",
            "alerts": total,
            "moving_alerts": len(ids),
            "tokens": len(tokens),
            "chats": args.chats,
            "poll_seconds": args.poll,
            "step": args.step,
            "rounds": args.rounds,
            "setup": {"alerts_started_s": started_s, "all_watched_s": watched_s},
            # The loop's own count, per round of its activity: the costliest poll, and on average.
            "provider_calls_per_poll_max": loop_after.get("calls_per_poll_max"),
            "provider_calls_per_poll_mean": round(
                loop_after.get("calls", 0) / max(loop_after.get("polls", 0), 1), 2
            ),
            "provider_calls_per_poll_bound": -(-args.tokens // 50),
            "loop_round_before": loop_before,
            "loop_round_after": loop_after,
            "crossings_per_round": crossings,
            "crossings_per_round_max": max(crossings, default=0),
            "chats_with_messages": len({m["chat_id"] for m in got}),
            "max_messages_per_chat_per_round": max(per_chat, default=0),
            "messages": len(got),
            "unmatched_messages": unmatched,
            "latency_s": {
                "p50": pct(latencies, 50),
                "p95": pct(latencies, 95),
                "p99": pct(latencies, 99),
                "max": round(max(latencies), 3) if latencies else None,
                "target_p95": args.poll + 2,
            },
            "idle": {
                "window_s": round(window, 1),
                "idle_sample_growth_total": sum(idle_growth),
                "events_per_reconcile": round(per_reconcile, 2),
                "price_watch_growth": loop_growth,
                "history_events_per_idle_alert_hour": round(idle_per_hour, 3),
                "reconcile_seconds": DEFAULT_RECONCILE,
            },
            "worker_rss_mb": self.rss,
        }
        return self.result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--chats", type=int, default=2000, help="alert i is in chat i mod C")
    parser.add_argument("--poll", type=float, default=10, help="PRICE_POLL_SECONDS")
    parser.add_argument("--step", type=float, default=0.004, help="largest move per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--settle", type=float, default=30, help="after the last round, s")
    parser.add_argument("--idle-sample", type=int, default=200)
    parser.add_argument("--reconcile-sample", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    args.wallets, args.codec = 0, False  # what Bench reads
    out = args.out or ROOT / "bench" / "results" / f"price_alerts_{args.alerts}.json"
    run_bench(AlertBench(args), out, __doc__)


if __name__ == "__main__":
    main()
