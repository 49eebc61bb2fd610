"""The bare baseline of bench/withdrawals.py: a workflow with a withdrawal's shape, doing nothing.

`BareWorkflow` runs the same number of local activities as a withdrawal's happy path (prepare,
reserve, sign, record "broadcast", record the final state: five) and one regular activity (the
withdrawal's send_and_confirm), each of which returns at once. It has no search-attribute
upserts, no database, no chain: what is left is the cost of Temporal itself.

Run as its own process, like `python -m worker_main`, with the same process set-up and Worker
options walletflow's chain workers get (telemetry.process, graceful shutdown, interceptors,
max_concurrent_activities), so that the ratio compares workflow code, not worker setups:

    python -m bench.withdrawals_baseline --task-queue Q [--ready-file F]

Kept in its own small module because the workflow sandbox re-imports a workflow's module for
every run; the bench's own module would make the baseline pay for imports walletflow's
workflows do not.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

LOCAL_ACTIVITIES = 5
QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@activity.defn(name="bare_local")
async def bare_local(step: int) -> int:
    return step


@activity.defn(name="bare_remote")
async def bare_remote(step: int) -> int:
    return step


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, request_id: str) -> str:
        # prepare, reserve, sign: local activities, as in WithdrawalWorkflow
        for step in range(3):
            await workflow.execute_local_activity(
                bare_local, step, start_to_close_timeout=timedelta(seconds=30), retry_policy=QUICK
            )
        # record "broadcast", then send_and_confirm (regular), then record the final state
        await workflow.execute_local_activity(
            bare_local, 3, start_to_close_timeout=timedelta(seconds=30), retry_policy=QUICK
        )
        await workflow.execute_activity(
            bare_remote,
            4,
            start_to_close_timeout=timedelta(minutes=15),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        await workflow.execute_local_activity(
            bare_local, 5, start_to_close_timeout=timedelta(seconds=30), retry_policy=QUICK
        )
        return request_id


async def serve(
    task_queue: str,
    ready_file: Path | None,
    workflows: Sequence[type] = (BareWorkflow,),
    activities: Sequence[Callable[..., Any]] = (bare_local, bare_remote),
    name: str = "baseline",
) -> None:
    """Serve `workflows` and `activities` on `task_queue` with a chain worker's set-up."""
    from temporalio.worker import Worker

    from starter.client import connect
    from starter.runtime import telemetry
    from starter.runtime.settings import load_settings
    from worker_main import CHAIN_MAX_CONCURRENT_ACTIVITIES

    settings = load_settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The same process set-up as worker_main (logging, SDK runtime and metrics, tracing).
    async with telemetry.process(settings, name=name):
        client = await connect(settings)
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=list(workflows),
            activities=list(activities),
            graceful_shutdown_timeout=timedelta(seconds=settings.shutdown_timeout),
            interceptors=telemetry.worker_interceptors(client, settings),
            max_concurrent_activities=CHAIN_MAX_CONCURRENT_ACTIVITIES,
        )
        run = asyncio.create_task(worker.run())
        await asyncio.sleep(0.5)  # pollers up
        if ready_file:
            ready_file.write_text("ready\n")
        await asyncio.wait([run, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
        await worker.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    asyncio.run(serve(args.task_queue, args.ready_file))


if __name__ == "__main__":
    main()
