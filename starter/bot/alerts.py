"""Price alert commands (watchers): /alert TOKEN CONDITION, /alerts (with delete buttons) and
/unalert ID. Each alert is a durable `alert-{chat}-{id}` workflow of this chat."""

from __future__ import annotations

from contextlib import suppress
from decimal import Decimal

import asyncpg
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from temporalio.client import Client

from core.alerts import describe
from core.texts import usd
from starter.bot.auth import requires
from starter.bot.text import BadUsage, code, esc
from starter.client import alerts
from starter.runtime.settings import Settings

LIST_LIMIT = 40


class Unalert(CallbackData, prefix="alrt"):
    """A /alerts delete button: 'alrt:rm:<id up to 32>'."""

    action: str
    alert_id: str


async def alert(
    message: Message, command: CommandObject, settings: Settings, client: Client
) -> None:
    parts = (command.args or "").split()
    if len(parts) < 2:
        raise BadUsage("alert", "give a TOKEN and a condition")
    token, *condition = parts
    repeat = condition[-1].lower() == "repeat"
    _, req = await alerts.add(
        client,
        settings,
        chat=message.chat.id,
        token=token,
        condition=condition[:-1] if repeat else condition,
        repeat=repeat,
    )
    await message.answer(
        f"🔔 Alert {code(req.alert_id)} set: <b>{esc(describe(req.rule, req.asset.symbol))}</b>\n"
        f"Now {usd(Decimal(req.set_price))}. /alerts lists this chat's "
        "alerts."
    )


async def render(pool: asyncpg.Pool, chat: int) -> tuple[str, InlineKeyboardMarkup | None]:
    rows = (await alerts.listed(pool, chat))[:LIST_LIMIT]
    if not rows:
        return "No price alerts in this chat. Set one with /alert SOL > 250.", None
    lines, buttons = [f"<b>Price alerts here</b> ({len(rows)})"], []
    for row in rows:
        status = row["status"]
        state = "⏸ paused" if status["paused"] else "armed" if status["armed"] else "fired"
        lines.append(f"{code(row['alert_id'])} {esc(row['description'])} — {state}")
        data = Unalert(action="rm", alert_id=str(row["alert_id"])).pack()
        caption = f"🗑 Delete {row['alert_id']}: {row['description']}"[:64]
        buttons.append([InlineKeyboardButton(text=caption, callback_data=data)])
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=buttons)


async def list_alerts(message: Message, pool: asyncpg.Pool) -> None:
    text, markup = await render(pool, message.chat.id)
    await message.answer(text, reply_markup=markup)


async def unalert(message: Message, command: CommandObject, client: Client) -> None:
    parts = (command.args or "").split()
    if len(parts) != 1:
        raise BadUsage("unalert", "give the alert's ID (see /alerts)")
    await alerts.signal(client, message.chat.id, parts[0], "stop")
    await message.answer(f"🗑 Alert {code(parts[0])} removed.")


async def unalert_button(
    callback: CallbackQuery, callback_data: Unalert, bot: Bot, pool: asyncpg.Pool, client: Client
) -> None:
    if not isinstance(callback.message, Message):
        await callback.answer("That message is too old; send /alerts again.", show_alert=True)
        return
    chat = callback.message.chat.id
    await alerts.signal(client, chat, callback_data.alert_id, "stop")
    await callback.answer("Deleted")
    text, markup = await render(pool, chat)
    with suppress(TelegramBadRequest):  # unchanged: the row may not be gone yet
        await callback.message.edit_text(text, reply_markup=markup)


def make_router() -> Router:
    router = Router(name="alerts")
    watcher = requires("watcher")
    router.message.register(alert, Command("alert"), flags=watcher)
    router.message.register(list_alerts, Command("alerts"), flags=watcher)
    router.message.register(unalert, Command("unalert"), flags=watcher)
    router.callback_query.register(unalert_button, Unalert.filter(F.action == "rm"), flags=watcher)
    return router
