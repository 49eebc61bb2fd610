"""A workflow that carries a marker through every kind of payload (input, memo, activity input
and result, signal, update, query, result, and a failure's message and stack trace), for
tests/starter/runtime/test_codec.py (sandbox-safe imports)."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError


@activity.defn(name="codec_echo")
async def echo(text: str) -> str:
    return f"echo {text}"


@activity.defn(name="codec_fail")
async def fail(text: str) -> str:
    raise ApplicationError(f"failed on {text}", non_retryable=True)


@workflow.defn(name="CodecWorkflow")
class CodecWorkflow:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.done = False

    @workflow.run
    async def run(self, text: str) -> str:
        self.seen.append(await workflow.execute_activity(echo, text, **_once()))
        await workflow.wait_condition(lambda: self.done)
        # The failure is recorded in history (encoded); the run goes on.
        with contextlib.suppress(Exception):
            await workflow.execute_activity(fail, text, **_once())
        return f"result {text} after {len(self.seen)}"

    @workflow.signal
    def note(self, text: str) -> None:
        self.seen.append(f"signal {text}")

    @workflow.update
    def finish(self, text: str) -> str:
        self.done = True
        return f"update {text}"

    @workflow.query
    def status(self) -> list[str]:
        return self.seen


def _once() -> dict[str, Any]:
    return {
        "start_to_close_timeout": timedelta(seconds=10),
        "retry_policy": RetryPolicy(maximum_attempts=1),
    }
