"""Who may do what: roles from settings, checked by a middleware against each handler's flags.

A handler declares the roles that may use it with `flags=requires("operator", ...)`; anyone
holding one of them passes, everyone else gets a refusal that says which setting grants it.
Roles are independent: an admin is not an approver unless listed as one (money needs explicit
approvers). `watcher` is everyone when TELEGRAM_OPEN_WATCH is on, else operators and admins.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiogram import BaseMiddleware, Bot
from aiogram.dispatcher.flags import get_flag
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from starter.bot.text import code
from starter.runtime.settings import Settings

log = logging.getLogger("walletflow.bot")

Role = Literal["watcher", "operator", "approver", "admin"]
FLAG = "roles"
WHO = {
    "watcher": ("operators", "TELEGRAM_OPERATORS (TELEGRAM_OPEN_WATCH is off)"),
    "operator": ("operators", "TELEGRAM_OPERATORS"),
    "approver": ("approvers", "TELEGRAM_APPROVERS"),
    "admin": ("admins", "TELEGRAM_ADMINS"),
}


def requires(*roles: Role) -> dict[str, Any]:
    """Handler flags: any one of `roles` may use the handler."""
    return {FLAG: roles}


@dataclass(frozen=True)
class Roles:
    admins: frozenset[int]
    operators: frozenset[int]
    approvers: frozenset[int]
    open_watch: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Roles:
        return cls(
            admins=frozenset(settings.user_ids("telegram_admins")),
            operators=frozenset(settings.user_ids("telegram_operators")),
            approvers=frozenset(settings.user_ids("telegram_approvers")),
            open_watch=settings.telegram_open_watch,
        )

    def of(self, user_id: int | None) -> frozenset[Role]:
        found: set[Role] = set()
        if user_id is not None:
            for role, ids in (
                ("admin", self.admins),
                ("operator", self.operators),
                ("approver", self.approvers),
            ):
                if user_id in ids:
                    found.add(role)  # type: ignore[arg-type]
        if self.open_watch or found & {"operator", "admin"}:
            found.add("watcher")
        return frozenset(found)


def _either(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def refusal(needed: tuple[Role, ...], user: User | None) -> tuple[str, str]:
    """(short text for a callback answer, HTML message) naming who may and which setting."""
    groups = _either([WHO[r][0] for r in needed])
    settings = _either([WHO[r][1] for r in needed])
    short = f"⛔ Only {groups} may do this."
    uid = f"Your Telegram user id is {code(user.id)}; " if user else ""
    return short, f"{short}\n{uid}an admin can add it to {settings}."


class AuthMiddleware(BaseMiddleware):
    """Puts the user's `roles` in the handler data; refuses handlers flagged for other roles."""

    def __init__(self, roles: Roles) -> None:
        self.roles = roles

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("event_from_user")
        mine = self.roles.of(user.id if user else None)
        data["roles"] = mine
        needed: tuple[Role, ...] | None = get_flag(data, FLAG)
        if needed and not set(needed) & mine:
            log.info("refused %s to user %s", needed, user.id if user else None)
            short, text = refusal(needed, user)
            await reply(data["bot"], event, text, short=short)
            return None
        return await handler(event, data)


async def reply(bot: Bot, event: TelegramObject, text: str, *, short: str | None = None) -> None:
    """Answer a message in its chat; a button press with an alert and a message in its chat."""
    if isinstance(event, Message):
        await event.answer(text)
    elif isinstance(event, CallbackQuery):
        await event.answer((short or text)[:200], show_alert=True)
        if event.message is not None:
            await bot.send_message(event.message.chat.id, text)
