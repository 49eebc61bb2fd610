"""Changing a chain's hot-wallet policy: what `walletflow freeze|unfreeze` and
`walletflow allowlist add|rm` do. Each is an admin's signed statement sent as an update to
`policy-{chain}`, started on first use (update-with-start), and answers what it decided."""

from __future__ import annotations

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

import chains
from core.errors import InvalidInput, UserError
from core.ids import policy_id
from core.models import PolicyAction, PolicyChange, PolicyOutcome, PolicyState, policy_params
from starter.client.errors import Refused
from starter.client.signer import Signer
from starter.runtime.settings import Settings
from workflows.policy import PolicyWorkflow


def workflow_id(settings: Settings, chain: str) -> str:
    return policy_id(settings.task_queue(chain))


def change_of(
    settings: Settings,
    by: Signer,
    action: PolicyAction,
    chain: str,
    reason: str | None,
    address: str | None,
) -> PolicyChange:
    """The signed argument of a policy update (what `intent` prints and `change` sends);
    UserError for an unknown chain or a bad address (nothing is signed)."""
    try:
        spec = chains.get(chain)
        address = None if address is None else spec.normalize_address(address)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    intent = by.statement(action, workflow_id(settings, chain), policy_params(reason, address))
    return PolicyChange(intent=intent, reason=reason, address=address)


async def change(
    client: Client,
    settings: Settings,
    chain: str,
    action: PolicyAction,
    by: Signer,
    reason: str | None = None,
    address: str | None = None,
) -> PolicyOutcome:
    """Send the change; `Refused` with the workflow's reason when it refused."""
    signed = change_of(settings, by, action, chain, reason, address)
    start = WithStartWorkflowOperation(
        PolicyWorkflow.run,
        PolicyState(chain=chain),
        id=workflow_id(settings, chain),
        task_queue=settings.task_queue(chain),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"hot-wallet policy of {chain}",
    )
    try:
        outcome = await client.execute_update_with_start_workflow(
            action, signed, start_workflow_operation=start, result_type=PolicyOutcome
        )
    except WorkflowUpdateFailedError as exc:  # the validator: malformed
        cause = exc.cause
        raise Refused(
            str(cause.message if isinstance(cause, ApplicationError) else cause)
        ) from None
    if outcome.outcome == "refused":
        raise Refused(outcome.reason or f"{action} refused")
    return outcome
