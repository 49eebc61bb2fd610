"""/start, /help (the commands this user may use), and an answer to unknown commands."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import Message

from starter.bot.auth import Role
from starter.bot.text import USAGE, code, esc

SECTIONS: list[tuple[str, Role | None, list[str]]] = [
    ("Wallets", "watcher", ["watch", "unwatch", "pause", "resume"]),
    ("", "watcher", ["list — this chat's wallets, with pause/resume buttons", "status"]),
    ("Price alerts", "watcher", ["alert", "alerts", "unalert"]),
    ("Withdrawals (operators)", "operator", ["withdraw", "cancel"]),
    ("Trading (operators)", "operator", ["buy", "sell", "copy", "copies", "uncopy"]),
    (
        "Admins",
        "admin",
        ["workers — pollers and backlog per task queue", "sweeps — the last sweeps of deposits"],
    ),
]


def help_text(roles: frozenset[Role], user_id: int | None) -> str:
    lines = ["<b>walletflow</b> watches Solana and TRON wallets and sends withdrawals."]
    for title, role, commands in SECTIONS:
        if role is not None and role not in roles:
            continue
        if title:
            lines.append(f"\n<b>{title}</b>")
        for name in commands:
            lines.append(esc(USAGE.get(name, f"/{name}")))
    if "approver" in roles:
        lines.append(
            "\n<b>Approvals</b>\nWithdrawals above the threshold come here with "
            "Approve/Reject buttons (never for your own requests)."
        )
    if user_id is not None:
        lines.append(f"\nYour user id: {code(user_id)}")
    return "\n".join(lines)


async def start(message: Message, roles: frozenset[Role]) -> None:
    uid = message.from_user.id if message.from_user else None
    await message.answer(f"👋 Hello!\n{help_text(roles, uid)}")


async def help_command(message: Message, roles: frozenset[Role]) -> None:
    uid = message.from_user.id if message.from_user else None
    await message.answer(help_text(roles, uid))


async def unknown_command(message: Message) -> None:
    word = (message.text or "").split(maxsplit=1)[0]
    await message.answer(f"Unknown command {esc(word)}. /help lists the commands.")


def make_router() -> Router:
    router = Router(name="basics")
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    return router


def make_fallback_router() -> Router:
    """Included last: only commands no other router handled get here."""
    router = Router(name="fallback")
    router.message.register(unknown_command, F.text.startswith("/"))
    return router
