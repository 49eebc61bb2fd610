"""Starting and steering monitor workflows: what `walletflow watch|unwatch|pause|resume` and the
bot's /watch, /unwatch, /pause, /resume do. Input is validated here, before anything starts."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

import chains
from core import search_attributes as sa
from core.errors import InvalidInput, UserError
from core.ids import monitor_id
from core.models import Chain, DirectionFilter, MonitorState, Subscription, Unsubscribe
from starter.runtime.settings import Settings
from workflows.monitor import WalletMonitorWorkflow

MONITOR_SIGNALS = ("pause", "resume", "stop")


def parse_target(chain: str, address: str) -> tuple[Chain, str]:
    """A valid (chain, canonical address), or a UserError naming what is wrong."""
    try:
        module = chains.get(chain.strip().lower())
        return module.NAME, module.normalize_address(address)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None


def parse_subscription(
    settings: Settings,
    chain: Chain,
    chat_id: int,
    *,
    label: str | None = None,
    min_amount: str | None = None,
    assets: list[str] | None = None,
    direction: str = "both",
    final_only: bool = False,
    min_usd: str | None = None,
) -> Subscription:
    if label is not None and len(label) > 64:
        raise UserError("label is too long (64 characters at most)")
    minimum = _at_least_zero(min_amount, "min amount")
    least_usd = _at_least_zero(min_usd, "min USD")
    if direction not in ("in", "out", "both"):
        raise UserError(f"direction must be in, out or both, not {direction!r}")
    listed = settings.tokens(chain)
    for asset in assets or []:
        if listed.by_symbol(asset) is None:
            raise UserError(
                f"unknown asset {asset!r} on {chain}: listed are {', '.join(listed.symbols())}"
            )
    resolved: DirectionFilter = direction  # type: ignore[assignment]
    return Subscription(
        chat_id=chat_id,
        label=label,
        min_amount=minimum,
        assets=assets,
        direction=resolved,
        final_only=final_only,
        min_usd=least_usd,
    )


def _at_least_zero(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{what} {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise UserError(f"{what} must be 0 or more, got {text}")
    return value


async def watch(
    client: Client, settings: Settings, chain: Chain, address: str, sub: Subscription
) -> str:
    """Subscribe `sub.chat_id` to the wallet, starting its monitor if it isn't running."""
    workflow_id = monitor_id(chain, address)
    await client.start_workflow(
        WalletMonitorWorkflow.run,
        MonitorState(
            chain=chain,
            address=address,
            notify_queue=settings.task_queue("notify"),
            reconcile_seconds=settings.reconcile_seconds,
        ),
        id=workflow_id,
        task_queue=settings.task_queue(chain),
        start_signal="subscribe",
        start_signal_args=[sub],
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CHAIN, chain),
                SearchAttributePair(sa.ADDRESS, address),
                SearchAttributePair(sa.STATUS, "running"),
            ]
        ),
        memo={"summary": f"Watches {chain} wallet {address}"},
        static_summary=f"{chain} wallet {address}",
    )
    return workflow_id


async def signal_monitor(client: Client, chain: Chain, address: str, signal: str) -> str:
    """Send pause, resume or stop to a running monitor; a clear error if there is none."""
    if signal not in MONITOR_SIGNALS:
        raise UserError(f"unknown monitor signal {signal!r}")
    workflow_id = monitor_id(chain, address)
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.signal(signal)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"{chain} wallet {address} is not watched") from None
        raise
    return workflow_id


async def unsubscribe(client: Client, chain: Chain, address: str, chat_id: int) -> str:
    workflow_id = monitor_id(chain, address)
    try:
        await client.get_workflow_handle(workflow_id).signal(
            WalletMonitorWorkflow.unsubscribe, Unsubscribe(chat_id=chat_id)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"{chain} wallet {address} is not watched") from None
        raise
    return workflow_id


async def is_running(client: Client, workflow_id: str) -> bool:
    try:
        desc = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return desc.status == WorkflowExecutionStatus.RUNNING
