"""Admin commands: /workers, the pollers and backlog of every task queue; /sweeps, the recent
sweeps of deposits to the hot wallets."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from asyncpg import Pool
from temporalio.client import Client

from core.amounts import from_base_units, plain
from starter.bot.auth import requires
from starter.bot.text import code, esc
from starter.client import deposits, inspect
from starter.runtime.settings import Settings


def _ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = (datetime.now(UTC) - when.replace(tzinfo=when.tzinfo or UTC)).total_seconds()
    return f"{max(0, int(seconds))}s ago"


async def workers(message: Message, client: Client, settings: Settings) -> None:
    queues = await inspect.workers(client, settings)
    lines = ["<b>Workers</b> (pollers and backlog per task queue)"]
    for q in queues:
        icon = "🟢" if q.pollers else "🔴"
        lines.append(
            f"{icon} {code(q.queue)} {q.kind}: {len(q.pollers)} poller(s), backlog {q.backlog}"
        )
        for identity, seen in q.pollers[:5]:
            lines.append(f"    · {esc(identity)} (last poll {_ago(seen)})")
    await message.answer("\n".join(lines))


SWEEPS_SHOWN = 10
STATE_ICONS = {"confirmed": "✅", "failed": "❌", "manual_review": "⚠️"}


async def sweeps(message: Message, pool: Pool) -> None:
    rows = (await deposits.listed_sweeps(pool))[:SWEEPS_SHOWN]
    if not rows:
        await message.answer("No sweeps yet.")
        return
    lines = [f"<b>Sweeps</b> (the last {len(rows)})"]
    for r in rows:
        amount = plain(from_base_units(int(r["amount"]), r["decimals"]))
        icon = STATE_ICONS.get(r["status"], "⏳")
        lines.append(f"{icon} {code(r['sweep_id'])}: {amount} {esc(r['status'])}")
    await message.answer("\n".join(lines))


def make_router() -> Router:
    router = Router(name="admin")
    router.message.register(workers, Command("workers"), flags=requires("admin"))
    router.message.register(sweeps, Command("sweeps"), flags=requires("admin"))
    return router
