"""Requesting and deciding withdrawals: what `walletflow withdraw|approve|reject|cancel` and the
bot's /withdraw, /cancel and approval buttons do. Input is checked here before anything starts;
the workflow checks it again (it is the one that must be right).

Trades are withdrawals whose transaction is a swap (starter/client/trades.py): the functions
below serve both, told apart by `kind` (WITHDRAWAL, the default, or TRADE)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import chains
from core import search_attributes as sa
from core.errors import InvalidInput, UserError
from core.ids import RESERVED_REFUSAL, reserved_trade_id, trade_id, withdrawal_id
from core.intents import Action
from core.models import (
    Decision,
    DecisionOutcome,
    WithdrawalRequest,
    WithdrawalStatus,
    decision_params,
)
from starter.client.errors import Refused, TimedOut
from starter.client.signer import Signer, load_key
from starter.runtime.settings import Settings
from workflows.withdrawal import TradeWorkflow, WithdrawalWorkflow

DecisionName = Literal["approve", "reject", "cancel", "resolve"]


@dataclass(frozen=True)
class Kind:
    """A money move's names: what people call it, the requester's statement, its ids."""

    name: str
    intent: Action
    workflow_id: Callable[[str], str]
    workflow: Any  # the workflow class


WITHDRAWAL = Kind("withdrawal", "withdraw", withdrawal_id, WithdrawalWorkflow)
TRADE = Kind("trade", "trade", trade_id, TradeWorkflow)
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
    check_request_id(request_id)
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


def check_request_id(request_id: str) -> None:
    if not request_id or len(request_id) > 64 or not set(request_id) <= REQUEST_ID_CHARS:
        raise UserError("request id must be 1-64 characters of letters, digits, - _ . :")
    if reserved_trade_id(request_id):
        raise UserError(RESERVED_REFUSAL)


def signer(settings: Settings) -> Signer:
    """The CLI's key (WALLETFLOW_KEY_FILE; dev: $WALLETFLOW_HOME/keys/operator.json)."""
    return load_key(settings.signing_key())


def kind_of(req: WithdrawalRequest) -> Kind:
    return TRADE if req.swap is not None else WITHDRAWAL


def named(text: str) -> tuple[Kind, str]:
    """What a decision names: a workflow id (`trade-…`, `withdrawal-…`) or, bare, a
    withdrawal's request id; (its kind, the request id)."""
    for kind in (TRADE, WITHDRAWAL):
        prefix = kind.workflow_id("")
        if text.startswith(prefix):
            return kind, text[len(prefix) :]
    return WITHDRAWAL, text


def signed(req: WithdrawalRequest, by: Signer) -> WithdrawalRequest:
    """The request with its requester's `withdraw` (`trade`) statement, and identity."""
    kind = kind_of(req)
    req = req.model_copy(update={"requested_by": by.identity})
    intent = by.statement(kind.intent, kind.workflow_id(req.request_id), req.withdraw_params())
    return req.model_copy(update={"intent": intent})


async def start(
    client: Client, settings: Settings, req: WithdrawalRequest, by: Signer | None = None
) -> tuple[str, bool]:
    """Start the withdrawal (or trade), signed by `by` (default: the CLI's key); (workflow id,
    False) if this request id exists already: a request id names one withdrawal forever, so a
    repeat never becomes a second transfer."""
    if req.intent is None:
        req = signed(req, by or signer(settings))
    kind = kind_of(req)
    workflow_id = kind.workflow_id(req.request_id)
    attributes = [
        SearchAttributePair(sa.CHAIN, req.chain),
        SearchAttributePair(sa.ASSET, req.asset),
        SearchAttributePair(sa.STATUS, "requested"),
        SearchAttributePair(sa.REQUESTED_BY, req.requested_by),
    ]
    if client.data_converter.payload_codec is None and req.swap is None:  # stored in clear
        attributes.append(SearchAttributePair(sa.ADDRESS, req.to))
    summary = f"{req.amount} {req.asset} to {req.to} on {req.chain}"
    if req.swap is not None:
        summary = f"sell {req.amount} {req.asset} for {req.swap.output} on {req.chain}"
    try:
        await client.start_workflow(
            kind.workflow.run,
            req,
            id=workflow_id,
            task_queue=settings.task_queue(req.chain),
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(attributes),
            static_summary=summary,  # a payload: encrypted with the rest when the codec is on
        )
    except WorkflowAlreadyStartedError:
        return workflow_id, False
    return workflow_id, True


def handle(
    client: Client, request_id: str, kind: Kind = WITHDRAWAL
) -> WorkflowHandle[WithdrawalWorkflow, WithdrawalStatus]:
    return client.get_workflow_handle_for(WithdrawalWorkflow.run, kind.workflow_id(request_id))


async def status(client: Client, request_id: str, kind: Kind = WITHDRAWAL) -> WithdrawalStatus:
    h = handle(client, request_id, kind)
    try:
        return await h.query(WithdrawalWorkflow.status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no {kind.name} with request id {request_id!r}") from None
        raise


async def decide(
    client: Client,
    request_id: str,
    action: DecisionName,
    by: Signer,
    reason: str | None = None,
    *,
    resolution: Literal["recheck", "release", "settle"] | None = None,
    tx_id: str | None = None,
    kind: Kind = WITHDRAWAL,
) -> DecisionOutcome:
    """Send a signed decision (a workflow update) and return what the workflow answered;
    `Refused` with its reason when it refused, `UserError` when there is no such withdrawal."""
    workflow_id = kind.workflow_id(request_id)
    decision = Decision(
        intent=by.statement(action, workflow_id, decision_params(reason, resolution, tx_id)),
        reason=reason,
        action=resolution,
        tx_id=tx_id,
    )
    try:
        outcome = await handle(client, request_id, kind).execute_update(
            action, decision, result_type=DecisionOutcome
        )
    except WorkflowUpdateFailedError as exc:  # the validator: the state no longer allows it
        cause = exc.cause
        raise Refused(
            str(cause.message if isinstance(cause, ApplicationError) else cause)
        ) from None
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
        over = await status(client, request_id, kind)  # UserError when there is no such one
        raise Refused(f"{kind.name} {request_id} is {over.status}: too late to {action}") from None
    if outcome.outcome == "refused":
        raise Refused(outcome.reason or f"{action} refused")
    return outcome


async def wait(
    client: Client,
    request_id: str,
    *,
    on_change: Callable[[WithdrawalStatus], None] = lambda _: None,
    timeout: float | None = None,
    poll: float = 0.5,
    kind: Kind = WITHDRAWAL,
) -> WithdrawalStatus:
    """The withdrawal's final status. `on_change` sees each new state as the `status` query
    reports it; `TimedOut` after `timeout` seconds (the withdrawal goes on regardless)."""
    h = handle(client, request_id, kind)
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
                workflow_id = kind.workflow_id(request_id)
                raise TimedOut(
                    f"{workflow_id} is still {seen or 'starting'} after {timeout:g}s "
                    f"and goes on; see `walletflow status {workflow_id}`"
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
