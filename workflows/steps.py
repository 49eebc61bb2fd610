"""What the workflows share: their short steps as local activities, the rounds of the per-chain
followers, and the parsing of an update's untyped argument in a validator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from core import activity_names as act
    from core.intents import SignedIntent
    from core.models import AuditEntry

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

# Expected business refusals are non-retryable; anything else is retried, at most every 30 s.
QUICK = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=["InvalidInput", "PolicyViolation", "InsufficientFunds", "Frozen"],
)


# A per-chain follower runs one long activity per round, and as many rounds per run.
ROUNDS_PER_RUN = 50


async def round_of(name: str, state: Any, result_type: type[R], round_seconds: int) -> R:
    """One round of a long, heartbeating follower activity, retried while its worker is away."""
    return await workflow.execute_activity(
        name,
        state,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=round_seconds + 120),
        heartbeat_timeout=timedelta(seconds=30),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)
        ),
    )


async def local(name: str, result_type: type[R], *args: Any) -> R:
    """A short, idempotent step as a local activity: one marker event."""
    return await workflow.execute_local_activity(
        name,
        args=list(args),
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=30),
        retry_policy=QUICK,
    )


async def audit_start(action: str, subject: str, intent: SignedIntent | None,
                      refusal: str | None) -> None:  # fmt: skip
    """A standing order's statement at the start of its workflow, accepted or refused, in the
    append-only audit log (once: keyed by the workflow)."""
    workflow_id = workflow.info().workflow_id
    await local(
        act.AUDIT,
        type(None),
        AuditEntry(
            actor=(intent.intent.on_behalf_of or intent.intent.principal)
            if intent
            else "anonymous",
            principal=intent.intent.principal if intent else None,
            action=f"{action}.start",
            subject=f"{subject}:{workflow_id}",
            outcome="refused" if refusal else "accepted",
            reason=refusal,
            key=f"{workflow_id}:start",
        ),
    )


def parsed(model: type[M], payload: Any, what: str) -> M:
    """`payload` as `model`, or ValueError (a validator's rejection) naming what is wrong.
    Update arguments arrive untyped: one that does not parse must reject the update, not fail
    the workflow task (which would stall the workflow)."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "payload"
        raise ValueError(f"not a {what}: {where}: {problem['msg']}") from None
