"""Price alerts: what `walletflow alert add|list|rm` and the bot's /alert, /alerts, /unalert do.
Input is checked here, price included, before anything starts: a bad alert changes nothing."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

import chains
from core.alerts import AlertAsset, AlertRequest, AlertRule, AlertRun, parse_condition
from core.assets import Asset
from core.errors import InvalidInput, UserError
from core.ids import alert_workflow_id
from starter.runtime.prices import providers
from starter.runtime.settings import NOTIFY_QUEUE, PRICES_QUEUE, Settings
from store import alerts as store
from workflows.alert import PriceAlertWorkflow

ALERT_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_"


def resolve_asset(settings: Settings, text: str, chain: str | None = None) -> tuple[str, Asset]:
    """(chain, asset) named by a symbol (SOL, TRX, a listed token) or an address (a mint or a
    contract, listed or not), or a one-line UserError."""
    names = [chain] if chain else list(chains.CHAINS)
    found: list[tuple[str, Asset]] = []
    for name in names:
        tokens = settings.tokens(name)
        asset = tokens.by_symbol(text.upper()) or tokens.by_id(text)
        if asset is None and not text.isalpha():
            try:
                address = chains.get(name).normalize_address(text)
            except InvalidInput:
                continue
            asset = tokens.by_id(address) or Asset(
                symbol=f"{address[:4]}…{address[-4:]}", decimals=0, id=address
            )
        if asset is not None:
            found.append((name, asset))
    if not found:
        raise UserError(f"unknown token {text!r}: give a listed symbol or a mint/contract address")
    if len(found) > 1:
        raise UserError(f"{text!r} is on {' and '.join(c for c, _ in found)}: give --chain")
    return found[0]


async def price_of(settings: Settings, chain: str, asset: Asset) -> tuple[AlertAsset, Decimal]:
    """The asset as an alert watches it, with its provider's price now; a UserError when no
    configured provider prices it (or only a stale price)."""
    spec = chains.get(chain)
    built = providers(settings)
    ids = spec.price_ids(asset)
    problem: str | None = None  # the first provider's trouble, if none gives a fresh price
    try:
        for provider, price_id in ids.items():
            if provider not in built:
                continue
            try:
                found = (await built[provider].prices([price_id])).get(price_id)
            except Exception as exc:  # one line, never the provider's URL (it may hold a key)
                why = f"{provider} did not answer for {asset.symbol}: {type(exc).__name__}"
                problem = problem or why
                continue  # failover: the next provider
            if found is None:
                continue
            if found.stale:
                problem = problem or f"the {provider} price of {asset.symbol} is stale"
                continue
            return AlertAsset(
                chain=chain,
                symbol=asset.symbol,
                asset_id=asset.id,
                provider=provider,
                price_id=price_id,
                chart_url=spec.chart_url(asset),
                fallback={p: i for p, i in ids.items() if p != provider},
            ), found.usd
    finally:
        for provider_client in built.values():
            await provider_client.close()
    if problem is not None:
        raise UserError(f"{problem}: not alerting")
    raise UserError(f"no price for {asset.symbol} on {chain}: an alert on it could never fire")


async def add(
    client: Client,
    settings: Settings,
    *,
    chat: int,
    token: str,
    condition: list[str],
    chain: str | None = None,
    alert_id: str | None = None,
    repeat: bool = False,
    hysteresis_pct: str | None = None,
    cooldown_seconds: int | None = None,
) -> tuple[str, AlertRequest]:
    """Start `alert-{chat}-{alert_id}`; its workflow id and request. Nothing starts on bad input."""
    try:
        rule = parse_condition(condition)
        changes: dict[str, object] = {"repeat": repeat}
        if hysteresis_pct is not None:
            changes["hysteresis_pct"] = hysteresis_pct
        if cooldown_seconds is not None:
            if cooldown_seconds < 0:
                raise ValueError("the cooldown must be 0 or more seconds")
            changes["cooldown_seconds"] = cooldown_seconds
        rule = AlertRule.model_validate(rule.model_dump() | changes).checked()
    except ValueError as exc:
        raise UserError(_first_line(exc)) from None
    if alert_id is not None and (
        not alert_id or len(alert_id) > 32 or set(alert_id.lower()) - set(ALERT_ID_CHARS)
    ):
        raise UserError("an alert id is 1 to 32 letters, digits, '-' or '_'")
    chain_name, asset = resolve_asset(settings, token, chain)
    watched, now = await price_of(settings, chain_name, asset)
    alert_id = alert_id or secrets.token_hex(3)
    workflow_id = alert_workflow_id(chat, alert_id)
    req = AlertRequest(
        chat=chat,
        alert_id=alert_id,
        asset=watched,
        rule=rule,
        set_price=str(now),
        notify_queue=settings.task_queue(NOTIFY_QUEUE),
        reconcile_seconds=settings.alert_reconcile_seconds,
    )
    try:
        await client.start_workflow(
            PriceAlertWorkflow.run,
            AlertRun(request=req),
            id=workflow_id,
            task_queue=settings.task_queue(PRICES_QUEUE),
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        )
    except WorkflowAlreadyStartedError:
        raise UserError(f"alert {alert_id} exists already in chat {chat}") from None
    return workflow_id, req


async def listed(pool: asyncpg.Pool, chat: int | None = None) -> list[dict[str, Any]]:
    return await store.alerts(pool, chat)


async def signal(client: Client, chat: int, alert_id: str, name: str) -> str:
    """Send `stop`, `pause` or `resume` to an alert; its workflow id."""
    workflow_id = alert_workflow_id(chat, alert_id)
    try:
        await client.get_workflow_handle(workflow_id).signal(name)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise UserError(f"no alert {alert_id} in chat {chat}") from None
        raise
    return workflow_id


def _first_line(exc: Exception) -> str:
    text = str(exc)
    if "Value error, " in text:  # pydantic's wording around a validator's message
        text = text.split("Value error, ", 1)[1]
    return text.strip().splitlines()[0]
