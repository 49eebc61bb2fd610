"""Requesting and deciding withdrawals: what `walletflow withdraw|approve|reject|cancel` and the
bot's /withdraw, /cancel and approval buttons do. Input is checked here before anything starts;
the workflow checks it again (it is the one that must be right)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Literal

from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import chains
from core import search_attributes as sa
from core.errors import InvalidInput, UserError
from core.ids import withdrawal_id
from core.models import FINAL_STATES, Actor, WithdrawalRequest, WithdrawalStatus
from starter.client.errors import Refused, TimedOut
from starter.runtime.settings import Settings
from workflows.withdrawal import WithdrawalWorkflow

Decision = Literal["approve", "reject", "cancel"]
TOO_LATE_TO_CANCEL = ("broadcast", "manual_review", *FINAL_STATES)
REQUEST_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def build_request(
    settings: Settings,
    *,
    chain: str,
    asset: str,
    to: str,
    amount: str,
    request_id: str,
    requested_by: str,
    notify_chat: int | None = None,
) -> WithdrawalRequest:
    """A validated request, or a UserError saying what is wrong (nothing is started)."""
    if not request_id or len(request_id) > 64 or not set(request_id) <= REQUEST_ID_CHARS:
        raise UserError("request id must be 1-64 characters of letters, digits, - _ . :")
    chain = chain.strip().lower()
    try:
        listed_asset, canonical, _ = chains.parse_transfer(
            chain, settings.tokens(chain), asset, to, amount
        )
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    return WithdrawalRequest(
        request_id=request_id,
        chain=chain,
        asset=listed_asset.symbol,
        to=canonical,
        amount=amount.strip(),
        requested_by=requested_by,
        notify_chat=notify_chat,
        approver_chats=settings.user_ids("telegram_approvers"),
        notify_queue=settings.task_queue("notify"),
        approval_timeout_seconds=int(settings.approval_hours * 3600),
    )


async def start(client: Client, settings: Settings, req: WithdrawalRequest) -> tuple[str, bool]:
    """Start the withdrawal; (workflow id, False) if this request id exists already: a request
    id names one withdrawal forever, so a repeat never becomes a second transfer."""
    workflow_id = withdrawal_id(req.request_id)
    try:
        await client.start_workflow(
            WithdrawalWorkflow.run,
            req,
            id=workflow_id,
            task_queue=settings.task_queue(req.chain),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CHAIN, req.chain),
                    SearchAttributePair(sa.ASSET, req.asset),
                    SearchAttributePair(sa.ADDRESS, req.to),
                    SearchAttributePair(sa.STATUS, "requested"),
                    SearchAttributePair(sa.REQUESTED_BY, req.requested_by),
                ]
            ),
            static_summary=f"{req.amount} {req.asset} to {req.to} on {req.chain}",
        )
    except WorkflowAlreadyStartedError:
        return workflow_id, False
    return workflow_id, True


def handle(client: Client, request_id: str) -> WorkflowHandle[WithdrawalWorkflow, WithdrawalStatus]:
    return client.get_workflow_handle_for(WithdrawalWorkflow.run, withdrawal_id(request_id))


async def status(client: Client, request_id: str) -> WithdrawalStatus:
    h = handle(client, request_id)
    try:
        return await h.query(WithdrawalWorkflow.status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no withdrawal with request id {request_id!r}") from None
        raise


async def decide(
    client: Client, request_id: str, decision: Decision, by: str, reason: str | None = None
) -> WithdrawalStatus:
    """Approve, reject or cancel, refusing (`Refused`) what the workflow would refuse anyway."""
    current = await status(client, request_id)
    if decision == "approve" and current.requested_by == by:
        raise Refused("you cannot approve your own withdrawal")
    if decision in ("approve", "reject") and current.status != "awaiting_approval":
        raise Refused(f"withdrawal {request_id} is {current.status}, not awaiting approval")
    if decision == "cancel" and current.status in TOO_LATE_TO_CANCEL:
        raise Refused(f"withdrawal {request_id} is {current.status}: too late to cancel")
    await handle(client, request_id).signal(decision, Actor(by=by, reason=reason))
    return current


async def wait(
    client: Client,
    request_id: str,
    *,
    on_change: Callable[[WithdrawalStatus], None] = lambda _: None,
    timeout: float | None = None,
    poll: float = 0.5,
) -> WithdrawalStatus:
    """The withdrawal's final status. `on_change` sees each new state as the `status` query
    reports it; `TimedOut` after `timeout` seconds (the withdrawal goes on regardless)."""
    h = handle(client, request_id)
    result = asyncio.ensure_future(h.result())
    deadline = None if timeout is None else time.monotonic() + timeout
    seen: str | None = None
    try:
        while True:
            try:
                current = await h.query(WithdrawalWorkflow.status)
            except RPCError:
                current = None  # completed between two polls, or not yet queryable
            if current is not None and current.status != seen:
                seen = current.status
                on_change(current)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimedOut(
                    f"withdrawal-{request_id} is still {seen or 'starting'} after {timeout:g}s "
                    f"and goes on; see `walletflow status withdrawal-{request_id}`"
                )
            pause = poll if left is None else min(poll, left)
            done, _ = await asyncio.wait({result}, timeout=pause)
            if done:
                final = result.result()
                if final.status != seen:
                    on_change(final)
                return final
    finally:
        result.cancel()
