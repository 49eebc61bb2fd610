"""Admin commands: /workers, the pollers and backlog of every task queue."""

from __future__ import annotations

from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from temporalio.client import Client

from starter.bot.auth import requires
from starter.bot.text import code, esc
from starter.client import inspect
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


def make_router() -> Router:
    router = Router(name="admin")
    router.message.register(workers, Command("workers"), flags=requires("admin"))
    return router
