"""Deposit addresses, credits and sweeps, for the CLI and the bot.

`deposit-address` derives on the chain's worker (DepositAddressWorkflow: the seed is there,
not here) and watches the address; `sweep` and `sweeps authorize` sign `sweep` statements
about the chain (`sweeps-{chain}`), which every sweep workflow verifies.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

import chains
from activities.sweeps import start_sweep
from core.errors import InvalidInput, UserError
from core.ids import deposit_address_id, reconcile_id, sweeps_scope
from core.intents import MAX_LIFETIME_OF
from core.models import (
    DepositAddress,
    DepositAddressRequest,
    ReconcileReport,
    ReconcileRequest,
    Subscription,
)
from starter.client import monitors
from starter.client.signer import Signer
from starter.runtime.settings import Settings
from store import deposits as repo

CUSTOMER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}")
SWEEP_NOW_SECONDS = 600  # a `walletflow sweep` statement: long enough to start, no longer


def check_customer(customer: str) -> str:
    if not CUSTOMER.fullmatch(customer):
        raise UserError(
            f"customer {customer!r}: expected 1-64 letters, digits or _ . : @ - "
            "(starting with a letter or digit)"
        )
    return customer


def check_chain(chain: str) -> str:
    try:
        return chains.get(chain.strip().lower()).NAME
    except InvalidInput as exc:
        raise UserError(str(exc)) from None


def deposits_chat_or_none(settings: Settings) -> int | None:
    """DEPOSITS_CHAT, else the first admin, else None."""
    admins = settings.user_ids("telegram_admins")
    return settings.deposits_chat or (admins[0] if admins else None)


SILENT_CHAT = 0  # a deposit address nobody is told about in Telegram: webhooks only


async def deposit_address(
    client: Client, settings: Settings, chain: str, customer: str, chat: int | None = None
) -> DepositAddress:
    """The customer's deposit address on `chain` (the same every time), watched."""
    chain, customer = check_chain(chain), check_customer(customer)
    notify = chat or settings.deposits_chat
    found: DepositAddress = await client.execute_workflow(
        "DepositAddressWorkflow",
        DepositAddressRequest(chain=chain, customer=customer),
        id=deposit_address_id(chain, customer),
        task_queue=settings.task_queue(chain),
        result_type=DepositAddress,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    sub = Subscription(
        chat_id=notify or SILENT_CHAT,
        label=f"deposits of {customer}",
        direction="in",
        final_only=True,
        silent=not notify,  # the ledger and `deposit.credited` webhooks say it all
    )
    await monitors.watch(client, settings, chain, found.address, sub)
    return found


async def sweep_now(
    client: Client, pool: asyncpg.Pool, settings: Settings, chain: str, address: str, by: Signer
) -> list[str]:
    """Start the sweeps of the address's uncovered credits (one per asset): their ids."""
    chain = check_chain(chain)
    try:
        address = chains.get(chain).normalize_address(address)
    except InvalidInput as exc:
        raise UserError(str(exc)) from None
    if await repo.owner(pool, chain, address) is None:
        raise UserError(f"{address} is not a {chain} deposit address")
    found = await repo.uncovered(pool, chain, address)
    if not found:
        raise UserError(f"nothing to sweep at {address}: no uncovered credits")
    intent = by.statement(
        "sweep", sweeps_scope(chain), {"chain": chain}, lifetime=SWEEP_NOW_SECONDS
    )
    return [
        await start_sweep(
            client,
            pool,
            one,
            intent,
            task_queue=settings.task_queue(chain),
            notify_queue=settings.task_queue("notify"),
        )
        for one in found
    ]


async def authorize(pool: asyncpg.Pool, chain: str, by: Signer, days: float) -> datetime:
    """Store a standing `sweep` statement for the chain's automatic sweeps; its expiry."""
    chain = check_chain(chain)
    seconds = int(days * 86400)
    if not 0 < seconds <= MAX_LIFETIME_OF["sweep"]:
        limit = MAX_LIFETIME_OF["sweep"] // 86400
        raise UserError(f"--days must be above 0 and at most {limit}")
    intent = by.statement("sweep", sweeps_scope(chain), {"chain": chain}, lifetime=seconds)
    expires = datetime.fromtimestamp(intent.intent.expires_at, UTC)
    await repo.save_authority(pool, chain, intent.model_dump(mode="json"), expires)
    return expires


async def listed_deposits(pool: asyncpg.Pool, customer: str | None) -> list[dict[str, Any]]:
    if customer is not None:
        check_customer(customer)
    return await repo.deposits_of(pool, customer)


async def listed_sweeps(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return await repo.sweeps(pool)


async def reconcile(client: Client, settings: Settings, chain: str | None) -> list[ReconcileReport]:
    """A reconcile of each chain (or one) now, without starting sweeps: its report."""
    names = [check_chain(chain)] if chain else list(chains.CHAINS)
    reports = []
    for name in names:
        queue = settings.task_queue(name)
        reports.append(
            await client.execute_workflow(
                "ReconcileWorkflow",
                ReconcileRequest(
                    chain=name, notify_queue=settings.task_queue("notify"), sweep_due=False
                ),
                id=f"{reconcile_id(queue)}-now-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
                result_type=ReconcileReport,
            )
        )
    return reports
