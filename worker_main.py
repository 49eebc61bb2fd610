"""Run walletflow workers: `python worker_main.py --queues solana,tron,notify` (default: all).

One process can serve several task queues. SIGTERM or SIGINT starts a graceful shutdown:
pollers stop, and running activities get WALLETFLOW_SHUTDOWN_TIMEOUT seconds to finish
before they are cancelled (Temporal then retries them elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.worker import Worker

import chains
from core.errors import UserError
from starter.client import connect
from starter.runtime import telemetry
from starter.runtime.health import Health, watch_workers
from starter.runtime.settings import (
    NOTIFY_QUEUE,
    PRICES_QUEUE,
    QUEUES,
    Settings,
    load_settings,
)
from store.db import create_pool

log = logging.getLogger("walletflow.worker")

# A withdrawal's send_and_confirm holds an activity slot from broadcast to finality (about
# 13 s on Solana, a minute on TRON), asleep between polls. The SDK's default of 100 slots
# would cap a worker at 100 withdrawals in flight (about 6/s on Solana) with its CPU idle.
CHAIN_MAX_CONCURRENT_ACTIVITIES = 1000


@dataclass
class QueuePlan:
    """What one task queue runs."""

    workflows: list[type] = field(default_factory=list)
    activities: list[Callable[..., Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    after_start: Callable[[], Awaitable[None]] | None = None  # once the worker polls


async def plan_chain(
    chain: str, settings: Settings, pool: asyncpg.Pool, client: Client, stack: AsyncExitStack
) -> QueuePlan:
    """A chain's queue runs its monitors, its trigger and its withdrawals."""
    from activities.adapter import AdapterContext
    from activities.alerts import AlertActivities
    from activities.authority import AuthorityActivities
    from activities.chains import adapters
    from activities.keystore import open_keystore
    from activities.monitor import MonitorActivities
    from activities.policy import PolicyActivities
    from activities.prices import UsdPricer, Valuer
    from activities.sweeps import DepositRules, SweepActivities
    from activities.trade import TradeActivities, TradingPolicy
    from activities.withdraw import Policy, WithdrawalActivities
    from starter.runtime.prices import providers
    from store import policy as policy_store
    from workflows.copy import CopyTradeWorkflow
    from workflows.deposits import DepositAddressWorkflow
    from workflows.monitor import WalletMonitorWorkflow
    from workflows.policy import PolicyWorkflow
    from workflows.position import PositionWorkflow
    from workflows.push import ChainPushWorkflow
    from workflows.reconcile import ReconcileWorkflow
    from workflows.sweep import SweepWorkflow
    from workflows.watch import ChainWatchWorkflow
    from workflows.withdrawal import TradeWorkflow, WithdrawalWorkflow

    package = adapters(chain)
    built = package.build(
        AdapterContext(
            urls=settings.rpc_urls(chain),
            tokens=settings.tokens(chain),
            keys=open_keystore(settings.keystore),
            pool=pool,
            client=client,
            options=settings.chain_options(chain, package.OPTIONS),
            hot_wallet=settings.hot_wallet(chain),
        )
    )
    for close in built.closers:
        stack.push_async_callback(close)
    priced = providers(settings)  # USD: values in messages, tiers, copied positions' entries
    for provider in priced.values():
        stack.push_async_callback(provider.close)
    valuer = Valuer(priced)
    allowlist_enforced, allowlist = settings.allowlist()
    policy = Policy(
        approval_thresholds=settings.amounts("approval_thresholds"),
        approval_tiers=settings.tiers(),
        daily_limits=settings.amounts("daily_limits"),
        hot_wallet_limits=settings.amounts("hot_wallet_limits"),
        allowlist_enforced=allowlist_enforced,
        allowlist=allowlist,
        max_versions=settings.max_versions,
        searchable_destination=settings.codec_keys is None,
    )
    await policy_store.ensure_chain(pool, chain)  # the row freezes lock: it must exist
    authority = AuthorityActivities(pool)
    policy_writer = PolicyActivities(pool, timedelta(hours=settings.allowlist_cooling_off_hours))
    pricer = UsdPricer(priced, settings.price_max_disagreement) if policy.values_in_usd() else None
    withdraw = WithdrawalActivities(built.sender, pool, policy, pricer, valuer)
    sweeps = SweepActivities(
        withdraw,
        open_keystore(settings.keystore),
        DepositRules(
            minimums=settings.deposit_amounts("deposit_minimums", chain, positive=False),
            thresholds=settings.deposit_amounts("sweep_thresholds", chain, positive=True),
        ),
        client,
        task_queue=settings.task_queue(chain),
        notify_queue=settings.task_queue("notify"),
    )
    monitor = MonitorActivities(built.reader, pool, valuer, sweeps)
    exits = AlertActivities(pool, client, priced)
    trading = TradingPolicy(
        max_slippage_bps=settings.trade_max_slippage_bps,
        max_price_impact=settings.trade_max_price_impact,
        priority_fee_ceiling=settings.trade_priority_fee_ceiling,
    )
    trade = TradeActivities(withdraw, built.trader, trading)
    rate = settings.activities_per_second(chain)
    return QueuePlan(
        workflows=[
            WalletMonitorWorkflow,
            ChainWatchWorkflow,
            ChainPushWorkflow,
            WithdrawalWorkflow,
            TradeWorkflow,
            CopyTradeWorkflow,
            PositionWorkflow,
            PolicyWorkflow,
            SweepWorkflow,
            DepositAddressWorkflow,
            ReconcileWorkflow,
        ],
        activities=[
            monitor.start_watching,
            monitor.save_subscriptions,
            monitor.fetch_events,
            monitor.peek_events,
            monitor.emit_dropped,
            monitor.forget_wallet,
            built.watcher.watch_chain,
            built.pusher.follow_chain,
            withdraw.prepare,
            withdraw.reserve,
            withdraw.sign,
            withdraw.send_and_confirm,
            withdraw.prove_dead,
            withdraw.record,
            trade.prepare_trade,
            trade.sign_trade,
            trade.trade_fill,
            trade.leader_balance,
            sweeps.assign_deposit_address,
            sweeps.prepare_sweep,
            sweeps.sign_sweep,
            sweeps.start_due_sweeps,
            sweeps.reconcile_deposits,
            authority.load_roster,
            authority.audit,
            policy_writer.set_policy,
            exits.register_watches,
            exits.usd_price,
            exits.forget_alert,
        ],
        after_start=lambda: ensure_trigger(client, settings, chain),
        options={
            "max_concurrent_activities": CHAIN_MAX_CONCURRENT_ACTIVITIES,
            # The provider's quota, enforced by Temporal across every worker of the queue.
            **({"max_task_queue_activities_per_second": rate} if rate else {}),
        },
    )


async def ensure_trigger(client: Client, settings: Settings, chain: str) -> None:
    """Start the chain's trigger workflow, and its push follower unless WALLETFLOW_PUSH is
    off, unless they are already running; and its deposits Schedule."""
    from core.ids import push_id, watch_id
    from core.models import PushState, WatchState
    from workflows.push import ChainPushWorkflow
    from workflows.watch import ChainWatchWorkflow

    queue = settings.task_queue(chain)
    await client.start_workflow(
        ChainWatchWorkflow.run,
        WatchState(chain=chain),
        id=watch_id(queue),
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    await ensure_deposit_schedule(client, settings, chain)
    if settings.push:
        await client.start_workflow(
            ChainPushWorkflow.run,
            PushState(chain=chain, round_seconds=settings.push_round_seconds),
            id=push_id(queue),
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )


async def ensure_deposit_schedule(client: Client, settings: Settings, chain: str) -> None:
    """`deposits-{queue}`: every RECONCILE_HOURS, the chain's due sweeps and a reconcile
    (`reconcile-{queue}`); a run still going when the next is due is skipped. An existing
    one follows the settings (an operator's pause stays)."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleAlreadyRunningError,
        ScheduleIntervalSpec,
        SchedulePolicy,
        ScheduleSpec,
        ScheduleUpdate,
        ScheduleUpdateInput,
    )
    from temporalio.client import ScheduleOverlapPolicy as Overlap

    from core.ids import deposits_schedule_id, reconcile_id
    from core.models import ReconcileRequest
    from starter.client.deposits import deposits_chat_or_none

    queue = settings.task_queue(chain)
    request = ReconcileRequest(
        chain=chain,
        notify_queue=settings.task_queue("notify"),
        notify_chat=deposits_chat_or_none(settings),
    )
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            "ReconcileWorkflow", request, id=reconcile_id(queue), task_queue=queue
        ),
        spec=ScheduleSpec(
            intervals=[ScheduleIntervalSpec(every=timedelta(hours=settings.reconcile_hours))]
        ),
        policy=SchedulePolicy(overlap=Overlap.SKIP),
    )

    def following(given: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(
            schedule=dataclasses.replace(schedule, state=given.description.schedule.state)
        )

    try:
        await client.create_schedule(deposits_schedule_id(queue), schedule)
    except ScheduleAlreadyRunningError:
        await client.get_schedule_handle(deposits_schedule_id(queue)).update(following)


async def plan_notify(
    settings: Settings, pool: asyncpg.Pool, client: Client, stack: AsyncExitStack
) -> QueuePlan:
    from activities.notify import NotifyActivities
    from activities.webhooks import WebhookActivities, WebhookSettings
    from starter.client.webhooks import sealer_of
    from starter.runtime.telegram import make_bot
    from workflows.webhooks import WebhookDeliveryWorkflow

    bot = make_bot(settings)
    stack.push_async_callback(bot.session.close)
    acts = NotifyActivities(pool, bot)
    hooks = WebhookActivities(
        pool,
        WebhookSettings(
            retry_hours=settings.webhook_retry_hours,
            backoff_base_seconds=settings.webhook_backoff_seconds,
            backoff_max_seconds=settings.webhook_backoff_max_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            breaker_max_seconds=settings.webhook_breaker_max_seconds,
            allow_insecure=settings.webhooks_allow_insecure,
        ),
        sealer_of(settings),
    )
    # Telegram allows about 30 messages/s per bot; stay under it across all notify workers.
    # (A webhook endpoint's loop is one activity per round: it hardly counts.)
    return QueuePlan(
        workflows=[WebhookDeliveryWorkflow],
        activities=[acts.send_notification, acts.conclude_notification, hooks.deliver_webhooks],
        options={"max_task_queue_activities_per_second": 25},
        after_start=lambda: ensure_webhook_deliveries(client, settings, pool),
    )


async def ensure_webhook_deliveries(client: Client, settings: Settings, pool: asyncpg.Pool) -> None:
    """Start each endpoint's delivery loop unless it is running (`webhooks add` starts it;
    this heals one that was terminated)."""
    from starter.client.webhooks import ensure_delivery
    from store import webhooks

    for row in await webhooks.endpoints(pool):
        await ensure_delivery(client, settings, row["id"])


async def plan_prices(
    settings: Settings, pool: asyncpg.Pool, client: Client, stack: AsyncExitStack
) -> QueuePlan:
    """Price alerts, and one price-watch loop per provider."""
    from activities.alerts import AlertActivities
    from starter.runtime.prices import providers
    from workflows.alert import PriceAlertWorkflow, PriceWatchWorkflow

    built = providers(settings)
    for provider in built.values():
        stack.push_async_callback(provider.close)
    acts = AlertActivities(pool, client, built)
    return QueuePlan(
        workflows=[PriceAlertWorkflow, PriceWatchWorkflow],
        activities=[
            acts.register_alert,
            acts.refresh_alert,
            acts.forget_alert,
            acts.watch_prices,
        ],
        after_start=lambda: ensure_price_watches(client, settings, list(built)),
    )


async def ensure_price_watches(client: Client, settings: Settings, names: list[str]) -> None:
    """Start each provider's price-watch loop unless it is running."""
    from core.alerts import PriceWatchState
    from core.ids import price_watch_id
    from workflows.alert import PriceWatchWorkflow

    queue = settings.task_queue(PRICES_QUEUE)
    for name in names:
        await client.start_workflow(
            PriceWatchWorkflow.run,
            PriceWatchState(provider=name, poll_seconds=settings.price_poll_seconds),
            id=price_watch_id(queue, name),
            task_queue=queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )


Planner = Callable[[Settings, asyncpg.Pool, Client, AsyncExitStack], Awaitable[QueuePlan]]
PLANNERS: dict[str, Planner] = {
    **{chain: partial(plan_chain, chain) for chain in chains.CHAINS},
    NOTIFY_QUEUE: plan_notify,
    PRICES_QUEUE: plan_prices,
}


def parse_queues(text: str) -> list[str]:
    queues = [q.strip() for q in text.split(",") if q.strip()]
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise UserError(
            f"unknown queue {unknown[0] if unknown else text!r} in --queues; "
            f"expected a comma-separated subset of {','.join(QUEUES)}"
        )
    return queues


async def run_workers(
    settings: Settings,
    queues: Sequence[str],
    *,
    client: Client | None = None,
    ready_file: Path | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[], None] | None = None,
    start_triggers: bool = True,
    health: Health | None = None,
) -> None:
    """Serve `queues` until `stop` is set (or SIGTERM/SIGINT when run as a program)."""
    dsn = settings.require_dsn("the worker needs PostgreSQL")
    stop = stop or asyncio.Event()
    client = client or await connect(settings)
    async with AsyncExitStack() as stack:
        pool = await create_pool(dsn, max_size=20)
        stack.push_async_callback(pool.close)
        workers = []
        plans = []
        for queue in queues:
            plan = await PLANNERS[queue](settings, pool, client, stack)
            plans.append(plan)
            workers.append(
                Worker(
                    client,
                    task_queue=settings.task_queue(queue),
                    workflows=plan.workflows,
                    activities=plan.activities,
                    graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_timeout),
                    interceptors=telemetry.worker_interceptors(client, settings),
                    **plan.options,
                )
            )
        runs = [
            asyncio.create_task(w.run(), name=f"worker-{q}")
            for w, q in zip(workers, queues, strict=True)
        ]
        for plan in plans:
            if plan.after_start and start_triggers:
                await plan.after_start()
        if health:
            watch_workers(health, workers, pool, client)
        if ready_file:
            ready_file.write_text("ready\n")
        if on_ready:
            on_ready()
        log.info("serving task queues %s", ", ".join(settings.task_queue(q) for q in queues))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([*runs, stopper], return_when=asyncio.FIRST_COMPLETED)
        if health:
            health.stopping = True
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        stopper.cancel()
        for task in runs:
            with contextlib.suppress(asyncio.CancelledError):
                await task  # re-raises a worker's fatal error after the others stopped


async def amain(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="worker_main.py", description=__doc__)
    parser.add_argument("--queues", default=",".join(QUEUES), help="e.g. solana,tron,notify")
    parser.add_argument("--ready-file", type=Path, help="written once every worker is polling")
    args = parser.parse_args(argv)
    settings = load_settings()
    queues = parse_queues(args.queues)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # Logging, SDK metrics, tracing and the health/metrics ports first, before any client.
    async with telemetry.process(settings, name=f"worker {','.join(queues)}") as health:
        await run_workers(settings, queues, ready_file=args.ready_file, stop=stop, health=health)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        asyncio.run(amain(argv))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
