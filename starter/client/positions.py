"""A `trade buy` with exits: what `walletflow trade buy … --take-profit/--stop-loss/
--trailing-stop`, `trade positions` and `trade stop-exits` do. Input is checked here before
anything starts; the position workflow verifies both statements, and every exit trade checks
its grant again."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

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
from core.errors import UserError
from core.exits import ExitRules
from core.ids import position_id, trade_id
from core.models import WithdrawalRequest
from core.positions import EXITS_LIFETIME, PositionRequest, PositionState, PositionStatus
from starter.client import withdrawals
from starter.client.checks import check_exits
from starter.client.errors import Refused
from starter.client.signer import Signer
from starter.runtime.settings import Settings
from workflows.position import PositionWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


def build_request(settings: Settings, buy: WithdrawalRequest, rules: ExitRules) -> PositionRequest:
    """A validated position: `buy` (built by trades.build_request) must be a buy, and the
    rules must set an exit."""
    check_exits(rules)
    if not rules.exit_rules:
        raise UserError("a position needs an exit: --take-profit, --stop-loss or --trailing-stop")
    spec = chains.get(buy.chain)
    if buy.swap is None or buy.asset != spec.NATIVE.symbol:
        raise UserError("exits are for buys: sell a token with `trade sell`")
    token = settings.tokens(buy.chain).by_symbol(buy.swap.output)
    assert token is not None  # trades.build_request listed it
    return PositionRequest(
        buy=buy,
        asset=token.id,
        symbol=token.symbol,
        decimals=token.decimals,
        rules=rules,
        chain=buy.chain,
        notify_chat=buy.notify_chat,
        notify_queue=buy.notify_queue,
        trade_queue=settings.task_queue(buy.chain),
    )


def signed(req: PositionRequest, by: Signer) -> PositionRequest:
    """The buy's `trade` statement and the `exits` statement (a standing order), both by
    `by`."""
    buy = withdrawals.signed(req.buy, by)
    req = req.model_copy(update={"buy": buy})
    workflow_id = position_id(buy.request_id)
    params = req.grant(workflow_id).params()
    intent = by.statement("exits", workflow_id, params, lifetime=EXITS_LIFETIME)
    return req.model_copy(update={"intent": intent})


async def start(client: Client, settings: Settings, req: PositionRequest) -> tuple[str, bool]:
    """Start the position (it starts the buy); (workflow id, False) if the request id exists
    already."""
    workflow_id = position_id(req.buy.request_id)
    try:
        await client.start_workflow(
            PositionWorkflow.run,
            PositionState(request=req),
            id=workflow_id,
            task_queue=req.trade_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CHAIN, req.chain),
                    SearchAttributePair(sa.TOKEN, req.symbol),
                    SearchAttributePair(sa.STATUS, "buying"),
                ]
            ),
            static_summary=f"buy {req.symbol} for {req.buy.amount} {req.buy.asset}, with exits",
        )
    except WorkflowAlreadyStartedError:
        return workflow_id, False
    return workflow_id, True


async def buy_started(client: Client, request_id: str, timeout: float = 60) -> None:
    """Wait until the position has started its buy (`trade-{request_id}`), so it can be
    followed; Refused when the position refused to buy."""
    buy = client.get_workflow_handle(trade_id(request_id))
    position = client.get_workflow_handle(position_id(request_id))
    deadline = time.monotonic() + timeout
    while True:
        try:
            await buy.describe()
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        status = await _status(position)
        if status is not None and status.state == "refused":
            raise Refused(f"{position.id} refused: {status.reason}")
        if time.monotonic() > deadline:
            raise UserError(f"{position.id} has not started its buy after {timeout:g}s")
        await asyncio.sleep(0.3)


async def _status(handle: WorkflowHandle[Any, Any]) -> PositionStatus | None:
    try:
        found: PositionStatus = await handle.query(
            PositionWorkflow.status, rpc_timeout=QUERY_TIMEOUT
        )
    except RPCError:
        return None  # ended meanwhile, or nobody to answer
    return found


async def positions(client: Client, owner: str | None = None) -> list[PositionStatus]:
    """The running positions (of one owner)."""
    query = "WorkflowType = 'PositionWorkflow' AND ExecutionStatus = 'Running'"
    if owner is not None:
        query += f" AND {sa.REQUESTED_BY.name} = '{owner.replace(chr(39), '')}'"
    ids = [wf.id async for wf in client.list_workflows(query)]
    answers = await asyncio.gather(*(_status(client.get_workflow_handle(i)) for i in ids))
    return sorted((a for a in answers if a is not None), key=lambda p: p.workflow_id)


async def stop(client: Client, request_id: str) -> str:
    """Drop the exits of a position (the tokens stay in the trading wallet)."""
    workflow_id = position_id(request_id)
    try:
        await client.get_workflow_handle(workflow_id).signal(PositionWorkflow.stop)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no position {workflow_id}") from None
        raise
    return workflow_id
