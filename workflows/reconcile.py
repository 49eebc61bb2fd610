"""ReconcileWorkflow: `reconcile-{chain}` (run by the `deposits-{chain}` Schedule, or by
`walletflow reconcile`). First the sweeps the credits make due that no trigger started,
then each deposit address's ledger against the chain; differences are reported, not fixed."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core import texts
    from core.models import Notification, ReconcileReport, ReconcileRequest

LONG = timedelta(minutes=30)  # a thousand addresses, read a hundred (or one) at a time


@workflow.defn(name="ReconcileWorkflow")
class ReconcileWorkflow:
    @workflow.run
    async def run(self, req: ReconcileRequest) -> ReconcileReport:
        started = 0
        if req.sweep_due:
            started = await workflow.execute_activity(
                act.START_DUE_SWEEPS,
                req,
                result_type=int,
                start_to_close_timeout=LONG,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
            )
        report = await workflow.execute_activity(
            act.RECONCILE_DEPOSITS,
            req,
            result_type=ReconcileReport,
            start_to_close_timeout=LONG,
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        report = report.model_copy(update={"sweeps_started": started})
        if report.differences and req.notify_chat is not None:
            try:
                await workflow.execute_activity(
                    act.SEND_NOTIFICATION,
                    Notification(
                        dedupe_key=f"{req.notify_chat}:reconcile:{report.run_id}",
                        chat_id=req.notify_chat,
                        text=texts.reconcile_report(report),
                    ),
                    task_queue=req.notify_queue,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=timedelta(minutes=10),
                )
            except ActivityError as exc:  # the report stands in the ledger
                workflow.logger.warning("reconcile message failed: %s", exc)
        return report
