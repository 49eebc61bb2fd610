"""A workflow and activity that log, for tests/starter/runtime/test_json_logs.py (sandbox-safe
imports)."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="log_something")
async def log_something(text: str) -> str:
    activity.logger.info("activity says %s", text)
    # Any other logger inside an activity gets the activity's fields too (e.g. an RPC client's).
    logging.getLogger("walletflow.test.library").warning("library says %s", text)
    return text


@workflow.defn(name="LoggingWorkflow")
class LoggingWorkflow:
    @workflow.run
    async def run(self, text: str) -> str:
        workflow.logger.info("workflow says %s", text)
        return await workflow.execute_activity(
            log_something, text, start_to_close_timeout=timedelta(seconds=10)
        )
