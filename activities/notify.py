"""Telegram notifications: at most once per dedupe key, retried only when provably unsent.

Two phases: an early message is later edited in place (editMessageText) to final or dropped.
An edit, unlike a send, is idempotent, so it is retried on any transient error; when there is
no message to edit (the early send's outcome is unknown, or it failed), the conclusion goes out
as one new message under its own dedupe key, so there is never a second final.

A text longer than Telegram's 4,096 characters is cut, not split: one notification stays one
message (one send, one dedupe key, its buttons on it), ending in "…" (see `fit_message`).
"""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import ClientConnectorError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from core.models import Conclusion, Notification, NotificationResult
from core.webhooks import wallet_events
from store import notifications, webhooks

# ---- fitting Telegram's length limit ----------------------------------------------------------

# Telegram refuses a message whose text, once the HTML is parsed, is longer than this (in UTF-16
# code units); a refusal would be final ("failed"), so a long message is cut instead.
MAX_TEXT = 4096
CUT_MARK = "…"
# A line boundary is preferred, unless cutting there would keep less than this share of the
# room (one enormous line): then the cut falls between two characters of that line.
MIN_KEPT = 0.5
# A tag (quoted attribute values may hold '>'), an HTML entity, or one character.
_TOKEN = re.compile(
    r"""<(/?)([A-Za-z][\w-]*)(?:[^>"']|"[^"]*"|'[^']*')*>"""
    r"|&(?:#[0-9]{1,8}|#x[0-9A-Fa-f]{1,8}|[A-Za-z]{2,8});?"
    r"|.",
    re.DOTALL,
)


def _units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _visible(token: str) -> int:
    """What a token adds to the parsed text: a tag nothing, an entity one character."""
    if token.startswith("<") and len(token) > 1:
        return 0
    if token.startswith("&") and len(token) > 1:
        return 1 if not token.startswith("&#") else 2  # a numeric one may be astral: 2 units
    return _units(token)


def fit_message(text: str, limit: int = MAX_TEXT) -> str:
    """The text, or, if its parsed form is longer than `limit`, its beginning cut cleanly:

    - at the end of the last line that fits (else between two characters of a line);
    - never inside a tag or an entity; the tags still open there are closed;
    - followed by "…" on a line of its own ("…" at the cut when no line boundary is used).

    One message, never several: a notification is sent at most once per dedupe key, and the
    keyboard stays on it.
    """
    tokens = [m.group(0) for m in _TOKEN.finditer(text)]
    if sum(map(_visible, tokens)) <= limit:
        return text
    room = limit - _units("\n" + CUT_MARK)
    open_tags: list[str] = []
    used = 0
    position = 0
    line_cut: tuple[int, list[str], int] | None = None  # before a "\n": index, open tags, used
    char_cut: tuple[int, list[str]] = (0, [])
    for token in tokens:
        width = _visible(token)
        if token == "\n":
            line_cut = (position, list(open_tags), used)
        if used + width > room:
            break
        closing = ""
        if token.startswith("<") and len(token) > 1:
            match = _TOKEN.match(token)
            assert match is not None
            closing, name = match.group(1), match.group(2).lower()
            if closing:
                if open_tags and open_tags[-1] == name:
                    open_tags.pop()
            else:
                open_tags.append(name)
        used += width
        position += len(token)
        if not (token.startswith("<") and len(token) > 1 and not closing):
            char_cut = (position, list(open_tags))  # not after an opening tag: no empty element
    if line_cut is not None and line_cut[2] >= MIN_KEPT * room:
        end, still_open, _ = line_cut
        mark = "\n" + CUT_MARK
    else:
        end, still_open = char_cut
        mark = CUT_MARK
    closing_tags = "".join(f"</{name}>" for name in reversed(still_open))
    return text[:end].rstrip("\n") + closing_tags + mark


def _keyboard(n: Notification) -> InlineKeyboardMarkup | None:
    if not n.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.callback_data) for b in row]
            for row in n.buttons
        ]
    )


def _retry_after(exc: TelegramRetryAfter) -> ApplicationError:
    """Telegram's 429: retry (the activity) no sooner than it asks."""
    return ApplicationError(
        f"rate limited, retry after {exc.retry_after}s",
        type="RateLimited",
        next_retry_delay=timedelta(seconds=max(1, exc.retry_after)),
    )


class NotifyActivities:
    def __init__(self, pool: asyncpg.Pool, bot: Bot) -> None:
        self.pool = pool
        self.bot = bot

    @activity.defn(name="send_notification")
    async def send_notification(self, n: Notification) -> NotificationResult:
        if n.webhook is not None:  # the same event for webhooks, once under its id
            await webhooks.emit(self.pool, [n.webhook])
        return await self._send(n)

    @activity.defn(name="conclude_notification")
    async def conclude_notification(self, c: Conclusion) -> NotificationResult:
        if c.outcome == "dropped" and c.event is not None:  # a webhook event too (once)
            await webhooks.emit(self.pool, wallet_events([c.event], "dropped"))
        early = await notifications.early(self.pool, c.dedupe_key)
        end_key = f"{c.dedupe_key}:end"
        if early is not None and early.concluded == c.outcome:
            # Already concluded: answer as the first time did, an edit or a new message.
            metrics.notification("duplicate")
            end = await notifications.early(self.pool, end_key)
            if end is None:
                return NotificationResult(status="edited", message_id=early.message_id)
            return NotificationResult(status=end.status, message_id=end.message_id)
        message_id = early.message_id if early is not None and early.status == "sent" else None
        if message_id is not None and await self._edit(c, message_id):
            await notifications.conclude(self.pool, c.dedupe_key, c.outcome, c.text)
            metrics.notification("edited")
            return NotificationResult(status="edited", message_id=message_id)
        # Nothing to edit: the conclusion as a new message, once (one key whatever the outcome).
        result = await self._send(Notification(dedupe_key=end_key, chat_id=c.chat_id, text=c.text))
        if early is not None:
            await notifications.conclude(self.pool, c.dedupe_key, c.outcome, c.text)
        return result

    async def _edit(self, c: Conclusion, message_id: int) -> bool:
        """Edit the early message; False when Telegram refuses (deleted, too old): send anew."""
        try:
            await self.bot.edit_message_text(
                fit_message(c.text), chat_id=c.chat_id, message_id=message_id
            )
        except TelegramRetryAfter as exc:
            raise _retry_after(exc) from None
        except TelegramBadRequest as exc:
            if "not modified" in exc.message:
                return True  # an earlier attempt's edit landed; its answer was lost
            activity.logger.warning("notification %s edit refused: %s", c.dedupe_key, exc)
            return False
        return True

    async def _send(self, n: Notification) -> NotificationResult:
        claim = await notifications.claim(self.pool, n)
        if claim.result is not None:
            metrics.notification("duplicate")
            return claim.result
        text = fit_message(n.text)
        if text is not n.text:
            activity.logger.info("notification %s cut to Telegram's length limit", n.dedupe_key)
        try:
            message = await self.bot.send_message(n.chat_id, text, reply_markup=_keyboard(n))
        except TelegramRetryAfter as exc:
            # Telegram refused it before doing anything: safe to retry after its delay.
            await notifications.finish(
                self.pool, n.dedupe_key, "pending", error=f"429: {exc.message}"
            )
            metrics.notification("retried")
            raise _retry_after(exc) from None
        except TelegramNetworkError as exc:
            if isinstance(exc.__cause__, ClientConnectorError):
                # The connection never opened, so the request was never sent.
                await notifications.finish(self.pool, n.dedupe_key, "pending", error=str(exc))
                metrics.notification("retried")
                raise
            # Time-out or disconnect after sending: Telegram may have delivered it.
            await notifications.finish(self.pool, n.dedupe_key, "unknown", error=str(exc))
            metrics.notification("unknown")
            activity.logger.warning("notification %s outcome unknown: %s", n.dedupe_key, exc)
            return NotificationResult(status="unknown", detail=str(exc))
        except TelegramServerError as exc:
            await notifications.finish(self.pool, n.dedupe_key, "pending", error=str(exc))
            metrics.notification("retried")
            raise
        except TelegramAPIError as exc:
            # 400/403: bad markup, blocked bot, unknown chat. Retrying cannot help.
            await notifications.finish(self.pool, n.dedupe_key, "failed", error=str(exc))
            metrics.notification("failed")
            activity.logger.warning("notification %s refused: %s", n.dedupe_key, exc)
            return NotificationResult(status="failed", detail=str(exc))
        await notifications.finish(self.pool, n.dedupe_key, "sent", message_id=message.message_id)
        metrics.notification("sent")
        activity.logger.info("notification %s sent", n.dedupe_key)
        return NotificationResult(status="sent", message_id=message.message_id)
