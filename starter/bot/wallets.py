"""Wallet commands: /watch, /unwatch, /pause, /resume, /list (with pause/resume buttons) and
/status for a wallet or a withdrawal request."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import asyncpg
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

import chains
from core.amounts import plain
from core.errors import InvalidInput, UserError
from core.ids import monitor_id
from core.models import Chain, MonitorStatus, WithdrawalStatus
from starter.bot.auth import Role, refusal, reply, requires
from starter.bot.text import BadUsage, address_link, amount, code, esc, short, tx_link
from starter.client import monitors, withdrawals
from starter.runtime.settings import Settings
from store import wallets as wallet_store
from workflows.monitor import WalletMonitorWorkflow

LIST_LIMIT = 40  # wallets shown by /list (and queried for their state)
STAFF: tuple[Role, ...] = ("operator", "approver", "admin")
STATE_ICON = {"running": "▶️", "paused": "⏸", "stopping": "⏹"}


class Steer(CallbackData, prefix="mon"):
    """A /list button; 'mon:resume:solana:<44 chars>' is 62 bytes, inside Telegram's 64."""

    action: str  # pause | resume
    chain: str
    address: str


def chains_of(address: str) -> list[Chain]:
    """The chains on which `address` is a valid address (at most one for real addresses)."""
    found: list[Chain] = []
    for name in chains.CHAINS:
        with suppress(InvalidInput):
            chains.get(name).normalize_address(address)
            found.append(name)
    return found


def parse_wallet(command: str, args: str | None, *, rest: bool = False) -> tuple[Chain, str, str]:
    """(chain, canonical address, the rest) of 'CHAIN ADDRESS [rest]', or a clear refusal."""
    parts = (args or "").split(maxsplit=2)
    if not parts:
        raise BadUsage(command)
    try:
        chains.get(parts[0].lower())
    except InvalidInput as exc:
        guess = chains_of(parts[0])
        if guess:
            raise BadUsage(command, f"missing the chain: that is a {guess[0]} address") from None
        raise BadUsage(command, str(exc)) from None
    if len(parts) < 2:
        raise BadUsage(command, f"missing the address after {parts[0]}")
    if len(parts) > 2 and not rest:
        raise BadUsage(command, f"unexpected {parts[2]!r} after the address")
    chain, address = monitors.parse_target(parts[0], parts[1])
    return chain, address, parts[2].strip() if len(parts) > 2 else ""


async def monitor_status(client: Client, chain: str, address: str) -> MonitorStatus | None:
    """The running monitor's status, or None when the wallet is not watched."""
    handle = client.get_workflow_handle_for(WalletMonitorWorkflow.run, monitor_id(chain, address))
    try:
        desc = await handle.describe()
        if desc.status != WorkflowExecutionStatus.RUNNING:
            return None
        return await handle.query(WalletMonitorWorkflow.status)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def watched_by_chat(
    client: Client, chain: Chain, address: str, chat_id: int, roles: frozenset[Role], verb: str
) -> MonitorStatus:
    """The monitor, if this chat may steer it: only its watchers (or an admin) may, since one
    monitor serves every chat watching the wallet."""
    status = await monitor_status(client, chain, address)
    if status is None:
        raise UserError(f"{chain} wallet {address} is not watched")
    if chat_id not in {s.chat_id for s in status.subscribers} and "admin" not in roles:
        raise UserError(
            f"this chat does not watch {chain} wallet {address}: only its watchers may {verb} it"
        )
    return status


# ---- /watch, /unwatch, /pause, /resume -----------------------------------------------------


async def watch(
    message: Message, command: CommandObject, settings: Settings, client: Client
) -> None:
    chain, address, label = parse_wallet("watch", command.args, rest=True)
    sub = monitors.parse_subscription(settings, chain, message.chat.id, label=label or None)
    await monitors.watch(client, settings, chain, address, sub)
    name = f"<b>{esc(label)}</b> · " if label else ""
    await message.answer(
        f"👀 Watching {name}{chain} wallet {address_link(chain, address)}.\n"
        "Every transfer in or out is posted here once it is final. /list shows this chat's "
        "wallets."
    )


async def unwatch(
    message: Message, command: CommandObject, client: Client, roles: frozenset[Role]
) -> None:
    chain, address, _ = parse_wallet("unwatch", command.args)
    status = await monitor_status(client, chain, address)
    if status is None:
        raise UserError(f"{chain} wallet {address} is not watched")
    if message.chat.id not in {s.chat_id for s in status.subscribers}:
        raise UserError(f"this chat does not watch {chain} wallet {address}")
    await monitors.unsubscribe(client, chain, address, message.chat.id)
    await message.answer(f"🛑 This chat no longer watches {chain} wallet {code(address)}.")


async def pause(
    message: Message, command: CommandObject, client: Client, roles: frozenset[Role]
) -> None:
    await _steer_command(message, command, client, roles, "pause")


async def resume(
    message: Message, command: CommandObject, client: Client, roles: frozenset[Role]
) -> None:
    await _steer_command(message, command, client, roles, "resume")


async def _steer_command(
    message: Message, command: CommandObject, client: Client, roles: frozenset[Role], verb: str
) -> None:
    chain, address, _ = parse_wallet(verb, command.args)
    await watched_by_chat(client, chain, address, message.chat.id, roles, verb)
    await monitors.signal_monitor(client, chain, address, verb)
    await message.answer(
        f"⏸ Paused {chain} wallet {code(address)}: nothing is sent until /resume."
        if verb == "pause"
        else f"▶️ Resumed {chain} wallet {code(address)}: whatever happened meanwhile follows once."
    )


# ---- /list and its buttons -----------------------------------------------------------------


async def render_list(
    pool: asyncpg.Pool,
    client: Client,
    chat_id: int,
    overrides: dict[tuple[str, str], str] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    rows = (await wallet_store.subscriptions_of_chat(pool, chat_id))[:LIST_LIMIT]
    if not rows:
        return "This chat watches no wallet. Start with /watch CHAIN ADDRESS [label].", None
    statuses = await asyncio.gather(
        *(monitor_status(client, r["chain"], r["address"]) for r in rows)
    )
    lines, buttons = [f"<b>Wallets watched here</b> ({len(rows)})"], []
    for n, (row, status) in enumerate(zip(rows, statuses, strict=True), start=1):
        chain, address, label = row["chain"], row["address"], row["label"]
        state = (overrides or {}).get((chain, address)) or (status.state if status else None)
        name = f"<b>{esc(label)}</b> · " if label else ""
        shown = f"{STATE_ICON.get(state, '')} {state}" if state else "not running"
        lines.append(f"{n}. {name}{chain} {address_link(chain, address)} — {shown}")
        if state in ("running", "paused"):
            action = "resume" if state == "paused" else "pause"
            caption = f"{'▶️ Resume' if action == 'resume' else '⏸ Pause'} {n}. "
            caption += label or short(address)
            data = Steer(action=action, chain=chain, address=address).pack()
            buttons.append([InlineKeyboardButton(text=caption[:64], callback_data=data)])
    markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
    return "\n".join(lines), markup


async def list_wallets(message: Message, pool: asyncpg.Pool, client: Client) -> None:
    text, markup = await render_list(pool, client, message.chat.id)
    await message.answer(text, reply_markup=markup)


async def steer_button(
    callback: CallbackQuery,
    callback_data: Steer,
    bot: Bot,
    pool: asyncpg.Pool,
    client: Client,
    roles: frozenset[Role],
) -> None:
    if not isinstance(callback.message, Message):
        await callback.answer("That message is too old; send /list again.", show_alert=True)
        return
    chat_id = callback.message.chat.id
    chain, address = monitors.parse_target(callback_data.chain, callback_data.address)
    verb = "pause" if callback_data.action == "pause" else "resume"
    await watched_by_chat(client, chain, address, chat_id, roles, verb)
    await monitors.signal_monitor(client, chain, address, verb)
    await callback.answer("Paused" if verb == "pause" else "Resumed")
    # The query may not reflect the signal yet: show the state the signal sets.
    state = "paused" if verb == "pause" else "running"
    text, markup = await render_list(pool, client, chat_id, {(chain, address): state})
    with suppress(TelegramBadRequest):  # unchanged (another press got there first)
        await callback.message.edit_text(text, reply_markup=markup)


# ---- /status ---------------------------------------------------------------------------------


def wallet_text(status: MonitorStatus, chat_id: int) -> str:
    mine = next((s for s in status.subscribers if s.chat_id == chat_id), None)
    name = f"<b>{esc(mine.label)}</b> · " if mine and mine.label else ""
    c = status.counters
    checked = status.last_check.strftime("%Y-%m-%d %H:%M:%S UTC") if status.last_check else "—"
    lines = [
        f"{name}{status.chain} wallet {address_link(status.chain, status.address)}",
        f"State: {STATE_ICON.get(status.state, '')} <b>{status.state}</b>"
        f"{' (watched in this chat)' if mine else ''}",
        f"Last check: {checked}",
        f"Transfers seen: {c.events} · notifications sent: {c.notifications_sent}",
    ]
    if status.recent:
        lines.append("Recent:")
        for e in status.recent[-5:]:
            sign = "+" if e.direction == "in" else "-"
            lines.append(
                f"  {sign}{amount(plain(e.display_amount), e.symbol)} "
                f"{tx_link(e.chain, e.tx_id, 'tx')}"
            )
    return "\n".join(lines)


def withdrawal_text(w: WithdrawalStatus) -> str:
    lines = [
        f"Withdrawal {code(w.request_id)} — <b>{w.status}</b>",
        f"{amount(w.amount, w.asset)} on {w.chain} to {address_link(w.chain, w.to)}",
        f"Requested by {esc(w.requested_by)}"
        + (f" · approved by {esc(', '.join(w.approved_by))}" if w.approved_by else ""),
    ]
    if w.reason:
        lines.append(f"Reason: {esc(w.reason)}")
    if w.tx_id:
        lines.append(f"Tx: {tx_link(w.chain, w.tx_id, w.tx_id)}")
    return "\n".join(lines)


async def status(
    message: Message, command: CommandObject, bot: Bot, client: Client, roles: frozenset[Role]
) -> None:
    parts = (command.args or "").split()
    if not parts or len(parts) > 2:
        raise BadUsage("status", "too many arguments" if parts else None)
    if len(parts) == 2:
        chain, address = monitors.parse_target(parts[0], parts[1])
    elif found := chains_of(parts[0]):
        chain, address = monitors.parse_target(found[0], parts[0])
    else:
        # Not an address: a withdrawal request id, which only staff may look up.
        if not set(STAFF) & roles:
            _, text = refusal(STAFF, message.from_user)
            await reply(bot, message, f"'{esc(parts[0])}' is not a wallet address.\n{text}")
            return
        w = await withdrawals.status(client, parts[0])
        await message.answer(withdrawal_text(w))
        return
    found_status = await monitor_status(client, chain, address)
    if found_status is None:
        raise UserError(f"{chain} wallet {address} is not watched")
    await message.answer(wallet_text(found_status, message.chat.id))


def make_router() -> Router:
    router = Router(name="wallets")
    watcher = requires("watcher")
    router.message.register(watch, Command("watch"), flags=watcher)
    router.message.register(unwatch, Command("unwatch"), flags=watcher)
    router.message.register(pause, Command("pause"), flags=watcher)
    router.message.register(resume, Command("resume"), flags=watcher)
    router.message.register(list_wallets, Command("list"), flags=watcher)
    router.message.register(status, Command("status"), flags=watcher)
    router.callback_query.register(
        steer_button, Steer.filter(F.action.in_({"pause", "resume"})), flags=watcher
    )
    return router
