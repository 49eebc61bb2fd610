"""Withdrawal commands: /withdraw (a summary with the fee estimate and Confirm/Cancel), the
approvers' Approve/Reject buttons the workflow sends, and /cancel.

The role middleware (TELEGRAM_* settings) is only a first filter: every withdrawal and decision
is a statement the bot signs with its service key for the Telegram user (`tg:<id>`), and the
workflow verifies it against the roster, which says what the bot may sign for whom. The bot
replies with the workflow's answer: accepted, or refused with its reason."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from contextlib import suppress
from decimal import Decimal
from typing import Literal

import asyncpg
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from temporalio.client import Client

from core import texts
from core.amounts import to_base_units
from core.errors import UserError
from core.ids import withdrawal_id
from core.intents import verify
from core.models import WithdrawalRequest
from starter.bot.auth import requires
from starter.bot.fees import FeeEstimator
from starter.bot.pending import Pending, PendingWithdrawals
from starter.bot.text import BadUsage, address_link, amount, code, esc
from starter.client import withdrawals
from starter.client.errors import Refused
from starter.client.signer import Signer
from starter.runtime.settings import Settings
from store import authority, policy

log = logging.getLogger("walletflow.bot")

ARGS = ("CHAIN", "ASSET", "TO", "AMOUNT")
FEE_TIMEOUT = 8.0  # seconds; a slow RPC must not hold the summary


class Confirm(CallbackData, prefix="wdc"):
    """Confirm/Cancel under a /withdraw summary; the request itself waits in `pending`."""

    action: str  # go | drop
    request_id: str


def new_request_id() -> str:
    return f"tg-{secrets.token_hex(6)}"


def confirm_keyboard(request_id: str) -> InlineKeyboardMarkup:
    """Confirm/Cancel under a summary (a withdrawal's or a trade's); the request waits in
    `pending` under its id."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text="✅ Confirm",
                    callback_data=Confirm(action="go", request_id=request_id).pack(),
                ),
                InlineKeyboardButton(
                    text="✖️ Cancel",
                    callback_data=Confirm(action="drop", request_id=request_id).pack(),
                ),
            ]
        ]
    )


async def fee_line(fees: FeeEstimator, settings: Settings, req: WithdrawalRequest) -> str:
    asset = settings.tokens(req.chain).by_symbol(req.asset)
    assert asset is not None  # build_request found it
    try:
        est = await asyncio.wait_for(
            fees.estimate(req.chain, asset, req.to, to_base_units(req.amount, asset.decimals)),
            FEE_TIMEOUT,
        )
    except Exception as exc:  # an estimate is a courtesy: never refuse a withdrawal over it
        log.warning("fee estimate for %s failed: %r", req.request_id, exc)
        return "Network fee: unknown (the chain did not answer)"
    notes = f" ({esc('; '.join(est.notes))})" if est.notes else ""
    return f"Network fee: {esc(est.text())}{notes}"


def approval_line(settings: Settings, req: WithdrawalRequest) -> str:
    threshold = settings.amounts("approval_thresholds").get(req.asset.upper())
    if threshold is None or Decimal(req.amount) <= threshold:
        return "Approval: not needed"
    line = f"Approval: needed (above {amount(threshold, req.asset)})"
    if not req.approver_chats:
        line += " — ⚠️ no approvers are configured (TELEGRAM_APPROVERS): it would expire"
    return line


def for_user(signer: Signer, user_id: int) -> Signer:
    """The bot's key, signing for this Telegram user."""
    return signer.acting_for(f"tg:{user_id}")


async def may_withdraw(pool: asyncpg.Pool, req: WithdrawalRequest, by: Signer) -> None:
    """The roster's answer now, so that a user it does not list hears why at once rather than
    from a withdrawal (or trade) refused after Confirm. The workflow checks again: it decides."""
    signed = withdrawals.signed(req, by)
    assert signed.intent is not None
    kind = withdrawals.kind_of(req)
    verdict = verify(
        signed.intent,
        await authority.load_roster(pool),
        action=kind.intent,
        workflow_id=kind.workflow_id(req.request_id),
        params=signed.withdraw_params(),
        now=int(time.time()),
    )
    if not verdict.ok:
        raise Refused(f"refused: {verdict.reason}")


async def withdraw(
    message: Message,
    command: CommandObject,
    settings: Settings,
    pending: PendingWithdrawals,
    fees: FeeEstimator,
    pool: asyncpg.Pool,
    signer: Signer,
) -> None:
    parts = (command.args or "").split()
    if len(parts) < len(ARGS):
        missing = " and ".join(ARGS[len(parts) :])
        raise BadUsage("withdraw", f"missing {missing}" if parts else None)
    if len(parts) > len(ARGS):
        raise BadUsage("withdraw", f"unexpected {' '.join(parts[len(ARGS) :])!r} after AMOUNT")
    chain, asset, to, value = parts
    user = message.from_user
    assert user is not None  # the auth middleware let an operator through
    req = withdrawals.build_request(
        settings,
        chain=chain,
        asset=asset,
        to=to,
        amount=value,
        request_id=new_request_id(),
        requested_by=f"tg:{user.id}",
        notify_chat=message.chat.id,
    )
    # The workflow refuses these too; saying so now spares a summary and a failed withdrawal.
    hot = settings.hot_wallet(req.chain)
    if hot and req.to == hot.strip():
        raise UserError("the destination is the hot wallet itself")
    refusal = await policy.allowlist_refusal(pool, req.chain, req.to, *settings.allowlist())
    if refusal is not None:
        raise UserError(refusal)
    await may_withdraw(pool, req, for_user(signer, user.id))
    summary = "\n".join(
        [
            f"<b>Withdrawal</b> {code(req.request_id)}",
            f"Send <b>{amount(req.amount, req.asset)}</b> on {req.chain}",
            f"To: {address_link(req.chain, req.to)}",
            await fee_line(fees, settings, req),
            approval_line(settings, req),
        ]
    )
    pending.add(Pending(request=req, user_id=user.id, summary=summary))
    keyboard = confirm_keyboard(req.request_id)
    await message.answer(f"{summary}\n\nSend it?", reply_markup=keyboard)


async def confirm_button(
    callback: CallbackQuery,
    callback_data: Confirm,
    settings: Settings,
    client: Client,
    pending: PendingWithdrawals,
    signer: Signer,
) -> None:
    rid = callback_data.request_id
    found = pending.get(rid)
    if found is None:
        await callback.answer(
            "This request expired or was already answered; send /withdraw again.", show_alert=True
        )
        await _edit(callback, None, drop_buttons=True)
        return
    if found.user_id != callback.from_user.id:
        await callback.answer("Only the requester can confirm this withdrawal.", show_alert=True)
        return
    pending.take(rid)  # no await since `get`: nobody else can act on it from here
    if callback_data.action == "drop":
        await callback.answer("Not sent")
        await _edit(callback, f"{found.summary}\n\n✖️ Cancelled: nothing was sent.")
        return
    try:
        workflow_id, created = await withdrawals.start(
            client, settings, found.request, for_user(signer, found.user_id)
        )
    except Exception:
        # Not known to be started: the same request id may be confirmed again safely.
        pending.add(found)
        raise
    await callback.answer("Started" if created else "Already started")
    await _edit(
        callback,
        f"{found.summary}\n\n🚀 Started as {code(workflow_id)}. "
        "The outcome is posted in this chat.",
    )


async def _edit(callback: CallbackQuery, text: str | None, *, drop_buttons: bool = True) -> None:
    """Replace the summary (and drop its buttons, so they can't be pressed again)."""
    if not isinstance(callback.message, Message):
        return
    with suppress(TelegramBadRequest):
        if text is None:
            await callback.message.edit_reply_markup(reply_markup=None)
        else:
            await callback.message.edit_text(text, reply_markup=None)


async def request_of(pool: asyncpg.Pool, rid: str) -> str:
    """The request id of a button's data: as is, or the long id its `#<hash>` stands for
    (`core.texts.request_ref`), among the withdrawals awaiting approval."""
    if not texts.is_request_ref(rid):
        return rid
    found: str | None = await pool.fetchval(
        "SELECT request_id FROM withdrawals WHERE status = 'awaiting_approval' "
        "AND left(encode(sha256(convert_to(request_id, 'UTF8')), 'hex'), 16) = $1",
        rid[1:],
    )
    if found is None:
        raise Refused("this withdrawal is no longer awaiting approval")
    return found


async def decide_button(
    callback: CallbackQuery, bot: Bot, client: Client, pool: asyncpg.Pool, signer: Signer
) -> None:
    """The workflow's Approve / Reject buttons (`core.texts.decision_button`): a statement
    signed for the user who pressed, and the workflow's answer."""
    parsed = texts.parse_decision_button(callback.data or "")
    assert parsed is not None  # the router's filter matched it
    action, ref = parsed
    user = callback.from_user
    decision: Literal["approve", "reject"] = "approve" if action == "approve" else "reject"
    rid = ref
    try:
        rid = await request_of(pool, ref)
        await withdrawals.decide(client, rid, decision, for_user(signer, user.id))
    except Refused as exc:
        await callback.answer(f"⛔ Refused: {exc}"[:200], show_alert=True)
        if callback.message is not None:
            await bot.send_message(
                callback.message.chat.id,
                f"⛔ {decision.capitalize()} of withdrawal {code(rid)} refused: {esc(exc)}",
            )
        return
    done = "✅ Approved" if decision == "approve" else "❌ Rejected"
    await callback.answer(done)
    if isinstance(callback.message, Message):
        name = f"@{user.username}" if user.username else user.full_name
        with suppress(TelegramBadRequest):
            await callback.message.edit_text(
                f"{callback.message.html_text}\n\n{done} by {esc(name)} ({code(user.id)})",
                reply_markup=None,
            )


async def cancel(message: Message, command: CommandObject, client: Client, signer: Signer) -> None:
    parts = (command.args or "").split(maxsplit=1)
    if not parts:
        raise BadUsage("cancel")
    rid, reason = parts[0], (parts[1].strip() if len(parts) > 1 else None)
    user = message.from_user
    assert user is not None
    try:
        await withdrawals.decide(client, rid, "cancel", for_user(signer, user.id), reason)
    except Refused as exc:
        await message.answer(
            f"⛔ Cancel of withdrawal {code(withdrawal_id(rid))} refused: {esc(exc)}"
        )
        return
    await message.answer(
        f"Cancel accepted for withdrawal {code(withdrawal_id(rid))}. "
        "The requester's chat gets the outcome."
    )


def make_router() -> Router:
    router = Router(name="withdrawals")
    operators = requires("operator")
    router.message.register(withdraw, Command("withdraw"), flags=operators)
    router.message.register(cancel, Command("cancel"), flags=requires("operator", "admin"))
    router.callback_query.register(confirm_button, Confirm.filter(), flags=operators)
    router.callback_query.register(
        decide_button,
        F.data.regexp(texts.DECISION_BUTTON),
        flags=requires("approver"),
    )
    return router
