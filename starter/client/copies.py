"""Copy trading: what `walletflow copy|copies|uncopy` (and the bot's /copy) do. Input is checked
here before anything starts; the copy workflow verifies the follower's statement and every
copied trade checks the rules again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from temporalio.client import Client
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
from core.copying import COPY_LIFETIME, CopyRequest, CopyRules, CopyState, CopyStatus
from core.errors import InvalidInput, UserError
from core.ids import copy_id, monitor_id
from core.models import MonitorState
from starter.client.checks import check_exits
from starter.client.checks import positive as _positive
from starter.client.signer import Signer
from starter.runtime.settings import Settings
from workflows.copy import CopyTradeWorkflow
from workflows.monitor import WalletMonitorWorkflow


def build_request(
    settings: Settings,
    *,
    leader: str,
    rules: CopyRules,
    chat: int | None,
    chain: str = chains.TRADING[0],
) -> CopyRequest:
    """A validated copy request (the follower is the signer: `signed` sets it)."""
    try:
        spec = chains.get(chain)
        leader = spec.normalize_address(leader)
    except InvalidInput as exc:
        raise UserError(f"the leader is not an address: {exc}") from None
    if spec.ENV.swap_url is None:
        raise UserError(f"trading is not available on {chain}")
    if leader == settings.hot_wallet(chain):
        raise UserError("copying yourself: the leader is the trading wallet")
    if (rules.sol_per_buy is None) == (rules.pct_of_leader is None):
        raise UserError("give either a fixed amount per buy (--sol) or a share (--pct)")
    _positive(rules.sol_per_buy, "--sol")
    _positive(rules.pct_of_leader, "--pct", Decimal(100))
    _positive(rules.max_per_buy, "--max-per-buy")
    _positive(rules.daily_cap, "--daily-cap")
    _positive(rules.max_price_impact, "--max-price-impact", Decimal(1))
    _positive(rules.min_liquidity, "--min-liquidity")
    check_exits(rules)
    tokens = settings.tokens(chain)
    for name in rules.allow + rules.deny:
        if tokens.by_symbol(name) is None and tokens.by_id(name) is None:
            raise UserError(
                f"unknown token {name!r} on {chain}: listed are {', '.join(tokens.symbols())}"
            )
    return CopyRequest(
        follower="",
        leader=leader,
        chain=chain,
        rules=rules,
        notify_chat=chat,
        notify_queue=settings.task_queue("notify"),
        trade_queue=settings.task_queue(chain),
    )


def signed(req: CopyRequest, by: Signer) -> CopyRequest:
    """The request with the follower's `copy` statement over the rules (a standing order)."""
    workflow_id = copy_id(by.identity, req.leader)
    intent = by.statement("copy", workflow_id, req.rules.params(), lifetime=COPY_LIFETIME)
    return req.model_copy(update={"follower": by.identity, "intent": intent})


async def start(client: Client, settings: Settings, req: CopyRequest) -> tuple[str, bool]:
    """Watch the leader (if nobody does yet) and start copying; (workflow id, False) if this
    follower already copies this leader."""
    if req.follower == req.leader:
        raise UserError("copying yourself")
    await client.start_workflow(  # the leader's monitor reports its swaps to the copy
        WalletMonitorWorkflow.run,
        MonitorState(
            chain=req.chain,
            address=req.leader,
            notify_queue=req.notify_queue,
            reconcile_seconds=settings.reconcile_seconds,
        ),
        id=monitor_id(req.chain, req.leader),
        task_queue=req.trade_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CHAIN, req.chain),
                SearchAttributePair(sa.ADDRESS, req.leader),
                SearchAttributePair(sa.STATUS, "running"),
            ]
        ),
        static_summary=f"{req.chain} wallet {req.leader} (copied)",
    )
    workflow_id = copy_id(req.follower, req.leader)
    try:
        await client.start_workflow(
            CopyTradeWorkflow.run,
            CopyState(request=req),
            id=workflow_id,
            task_queue=req.trade_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CHAIN, req.chain),
                    SearchAttributePair(sa.LEADER, req.leader),
                    SearchAttributePair(sa.FOLLOWER, req.follower),
                    SearchAttributePair(sa.STATUS, "running"),
                ]
            ),
            static_summary=f"{req.follower} copies {req.leader}",
        )
    except WorkflowAlreadyStartedError:
        return workflow_id, False
    return workflow_id, True


QUERY_TIMEOUT = timedelta(seconds=5)  # a copy whose worker is away must not hold up the list


async def copies(client: Client, follower: str | None = None) -> list[CopyStatus]:
    """The running copies (of one follower), with their positions; asked all at once, and a
    copy that does not answer in time (no worker on its queue) is left out."""
    query = "WorkflowType = 'CopyTradeWorkflow' AND ExecutionStatus = 'Running'"
    if follower is not None:
        query += f" AND {sa.FOLLOWER.name} = '{follower.replace(chr(39), '')}'"
    ids = [wf.id async for wf in client.list_workflows(query)]

    async def status(workflow_id: str) -> CopyStatus | None:
        try:
            found: CopyStatus = await client.get_workflow_handle(workflow_id).query(
                CopyTradeWorkflow.status, rpc_timeout=QUERY_TIMEOUT
            )
        except RPCError:
            return None  # ended meanwhile, or nobody to answer
        return found

    answers = await asyncio.gather(*(status(i) for i in ids))
    return sorted((a for a in answers if a is not None), key=lambda c: c.workflow_id)


async def stop(client: Client, follower: str, leader: str) -> str:
    workflow_id = copy_id(follower, leader)
    try:
        await client.get_workflow_handle(workflow_id).signal(CopyTradeWorkflow.stop)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"{follower} does not copy {leader}") from None
        raise
    return workflow_id
