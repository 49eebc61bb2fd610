"""Webhook delivery bench: events into the outbox at a steady rate, every one subscribed by
every endpoint, delivered to a real receiver that verifies each signature; then an outage.

    python bench/webhooks.py [--endpoints 10] [--per-minute 1000] [--minutes 3]
                             [--down-minutes 10] [--wallets 50]

Phases and method:
1. Setup: the stack of bench/monitor.py (Temporal dev server, embedded PostgreSQL, the devnets)
   and one worker on the `notify` queue, where each endpoint's WebhookDeliveryWorkflow runs its
   delivery loop. E endpoints are added as `walletflow webhooks add` adds them (subscribing to
   `wallet.*`), all served by one aiohttp receiver in the driver (a path per endpoint) that
   verifies every request with the independent `standardwebhooks` package.
2. Steady phase, M minutes: the driver emits R events a minute into the outbox, as the monitor's
   activities do (`store.webhooks.emit`), spread over W wallets, each wallet's events numbered;
   the fan-out trigger gives each to all E endpoints (R x E / 60 deliveries a second). Latency
   is a delivery's arrival at the receiver minus the event's emission. Reported: p50/p95/p99
   latency, deliveries per second, duplicates by (endpoint, event id), arrivals out of order
   per (endpoint, wallet), and the history events of the E delivery workflows per delivered
   event.
3. Outage, D minutes (skipped with --down-minutes 0): the receiver answers 503 while events
   keep coming at the same rate, then 200 again. WEBHOOK_BREAKER_MAX_SECONDS is 60 here (600
   by default: a 10-minute outage would then wait up to 10 more minutes for its next probe).
   Reported: requests made while down (the breaker's probes, not one per event), the time
   from the receiver's return to the last delivery, duplicates and order over both phases.
Results: stdout and bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from monitor import ROOT, Bench, log, pct, run_bench, until  # bench/monitor.py
from standardwebhooks import Webhook, WebhookVerificationError

from core import webhooks as rules
from core.ids import webhook_delivery_id
from starter.client import webhooks
from store import webhooks as store


class Receiver:
    """One aiohttp server for every endpoint (`/hook/{n}`), verifying each delivery."""

    def __init__(self) -> None:
        self.secrets: dict[str, Webhook] = {}
        self.down = False
        self.requests = 0
        self.requests_down = 0
        self.arrivals: list[tuple[str, str, str, int, float, float]] = []  # ep, id, wallet, n
        self.bad = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook/{endpoint}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{port}/hook"

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.down:
            self.requests_down += 1
            return web.Response(status=503)
        body = await request.read()
        endpoint = request.match_info["endpoint"]
        try:
            self.secrets[endpoint].verify(body, dict(request.headers))
        except (KeyError, WebhookVerificationError):
            self.bad += 1
            return web.Response(status=401)
        doc = json.loads(body)
        data = doc["data"]
        now = time.time()
        self.arrivals.append(
            (endpoint, doc["event_id"], data["wallet"], data["n"], data["emitted"], now)
        )
        return web.Response(status=204)


class WebhookBench(Bench):
    QUEUES = "notify"

    def chain_settings(self, devnets: dict[str, Any]) -> dict[str, str]:
        return {
            "SOLANA_RPC_URL": devnets["solana"]["url"],
            "WEBHOOKS_ALLOW_INSECURE": "true",
            "WEBHOOK_BREAKER_MAX_SECONDS": "60",
        }

    async def emit_for(self, pool: asyncpg.Pool, seconds: float, counters: dict[str, int]) -> int:
        """Emit --per-minute events a minute for `seconds`, round-robin over the wallets."""
        args = self.args
        interval = 60 / args.per_minute
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            wallet = f"W{sent % args.wallets}"
            n = counters[wallet]
            counters[wallet] += 1
            event = rules.Emitted(
                event_id=rules.event_id(f"bench:{wallet}:{n}"),
                type="wallet.transfer",
                data={"wallet": wallet, "n": n, "emitted": time.time()},
                ordering=f"solana:{wallet}",
                wallet=wallet,
            )
            await store.emit(pool, [event])
            sent += 1
            await asyncio.sleep(max(0.0, start + sent * interval - time.monotonic()))
        return sent

    async def run(self) -> dict[str, Any]:
        args = self.args
        client, dsn, devnets = await asyncio.gather(
            self.start_temporal(), self.start_postgres(), self.start_devnets()
        )
        settings = await self.start_worker(dsn, devnets)
        sampler = asyncio.create_task(self.sample_rss())
        receiver = Receiver()
        base = await receiver.start()
        pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4)
        endpoint_ids = []
        for n in range(args.endpoints):
            endpoint_id, secret = await webhooks.add(
                client, pool, settings, url=f"{base}/{n}", events=["wallet.*"], wallets=None,
                created_by="bench",
            )  # fmt: skip
            receiver.secrets[str(n)] = Webhook(secret)
            endpoint_ids.append(endpoint_id)
        log(f"{args.endpoints} endpoints, their delivery loops started")
        counters: dict[str, int] = defaultdict(int)

        # Steady phase.
        t0 = time.time()
        sent = await self.emit_for(pool, args.minutes * 60, counters)
        expected = sent * args.endpoints

        async def drained() -> bool:
            return len(receiver.arrivals) >= expected

        await until(drained, 300, "every steady delivery")
        steady = list(receiver.arrivals)
        span = max(a[5] for a in steady) - t0
        latencies = [a[5] - a[4] for a in steady]
        log(f"steady: {sent} events, {len(steady)} deliveries in {span:.0f} s")
        lengths = await self.history_lengths(client, [webhook_delivery_id(e) for e in endpoint_ids])
        result: dict[str, Any] = {
            "benchmark": "webhooks",
            "endpoints": args.endpoints,
            "events_per_minute": args.per_minute,
            "wallets": args.wallets,
            "steady": {
                "minutes": args.minutes,
                "events": sent,
                "deliveries": len(steady),
                "deliveries_per_s": round(len(steady) / span, 1),
                "latency_s": {
                    "p50": pct(latencies, 50),
                    "p95": pct(latencies, 95),
                    "p99": pct(latencies, 99),
                    "max": round(max(latencies), 3),
                },
                "history_events": sum(lengths.values()),
                "history_events_per_delivered_event": round(sum(lengths.values()) / len(steady), 4),
                "goal_history_events_per_delivered_event": 0.2,
            },
        }

        # Outage phase.
        if args.down_minutes > 0:
            receiver.down = True
            log(f"receiver down for {args.down_minutes} min; events keep coming")
            down_sent = await self.emit_for(pool, args.down_minutes * 60, counters)
            receiver.down = False
            up_at = time.time()
            log("receiver up")
            expected += down_sent * args.endpoints
            await until(drained, 1800, "every delivery after the outage")
            last = max(a[5] for a in receiver.arrivals)
            result["outage"] = {
                "minutes": args.down_minutes,
                "events_while_down": down_sent,
                "deliveries_owed": down_sent * args.endpoints,
                "requests_while_down": receiver.requests_down,
                "seconds_from_up_to_all_delivered": round(last - up_at, 1),
            }
        keys = [(a[0], a[1]) for a in receiver.arrivals]
        order_breaks = 0
        seen: dict[tuple[str, str], int] = {}
        for endpoint, _, wallet, n, _, _ in receiver.arrivals:
            if seen.get((endpoint, wallet), -1) > n:
                order_breaks += 1
            seen[(endpoint, wallet)] = max(n, seen.get((endpoint, wallet), -1))
        result["all"] = {
            "deliveries": len(keys),
            "duplicates": len(keys) - len(set(keys)),
            "out_of_order": order_breaks,
            "bad_signatures": receiver.bad,
            "dead": await pool.fetchval(
                "SELECT count(*) FROM webhook_deliveries WHERE status = 'dead'"
            ),
        }
        result["worker_rss_mb"] = dict(self.rss)
        sampler.cancel()
        await pool.close()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoints", type=int, default=10)
    parser.add_argument("--per-minute", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--down-minutes", type=float, default=10)
    parser.add_argument("--wallets", type=int, default=50)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--codec", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sweep-seconds", type=float, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out or ROOT / "bench" / "results" / "webhooks.json"
    run_bench(WebhookBench(args), out, __doc__ or "")


if __name__ == "__main__":
    main()
