"""The bare baseline of bench/withdrawals.py: a workflow with a withdrawal's shape, doing nothing.

`BareWorkflow` runs the steps of a withdrawal with signed intents (WithdrawalWorkflow), each an
activity that returns at once. The happy path: load the roster and audit the requester's signed
statement, prepare, reserve, sign, record "broadcast" (six local activities), send_and_confirm
(the one regular activity), record the final state: seven local activities and one regular.

Started with `approvals` > 0 (the bench's 2-of-N share), it also takes the approval path of a
withdrawal above a tier: after prepare it records "awaiting_approval" (a local activity), then
waits, with a deadline timer, for that many `approve` updates; each update runs the two local
activities the real one runs to verify a decision (load the roster, audit the statement), and a
validator refuses an approval while none is awaited, as the real one does. Once approved, the
roster is loaded again (the re-read before signing), then the happy path goes on: twelve local
activities in all.

It has no search-attribute upserts, no pydantic models, no verification, no database, no
chain: what is left is the cost of Temporal itself for a withdrawal's shape.

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

QUICK = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))
APPROVAL_DEADLINE = timedelta(hours=24)  # WITHDRAWAL_APPROVAL_HOURS' default


@activity.defn(name="bare_local")
async def bare_local(step: str) -> str:
    return step


@activity.defn(name="bare_remote")
async def bare_remote(step: str) -> str:
    return step


async def step(name: str) -> None:
    """One of the withdrawal's local activities, by the name of the real one it stands for."""
    await workflow.execute_local_activity(
        bare_local, name, start_to_close_timeout=timedelta(seconds=30), retry_policy=QUICK
    )


@workflow.defn(name="BareWorkflow")
class BareWorkflow:
    def __init__(self) -> None:
        self.state = "requested"
        self.required = 0
        self.approvals = 0

    @workflow.run
    async def run(self, request_id: str, approvals: int = 0) -> str:
        await step("load_roster")  # the requester's signed statement, verified and audited
        await step("audit")
        await step("prepare")
        if approvals:  # above the tier: that many approvers, then the roster once more
            self.state, self.required = "awaiting_approval", approvals
            await step("record")
            await workflow.wait_condition(
                lambda: self.approvals >= self.required, timeout=APPROVAL_DEADLINE
            )
            await step("load_roster")
            self.state = "approved"
        await step("reserve")
        await step("sign")
        await step("record")  # "broadcast"
        await workflow.execute_activity(
            bare_remote,
            "send_and_confirm",
            start_to_close_timeout=timedelta(minutes=15),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        await step("record")  # the final state
        return request_id

    @workflow.update
    async def approve(self, decision: Any) -> dict[str, str]:
        """An approval, as WithdrawalWorkflow handles one: the roster, then the audit."""
        await step("load_roster")
        await step("audit")
        self.approvals += 1
        return {"outcome": "accepted"}

    @approve.validator
    def _approve_allowed(self, decision: Any) -> None:
        if self.state != "awaiting_approval" or self.approvals >= self.required:
            raise ValueError(f"approve while {self.state}: not awaiting approval")


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
