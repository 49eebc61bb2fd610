"""Telegram notifications: at most once per dedupe key, retried only when provably unsent."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import ClientConnectorError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from core.models import Notification, NotificationResult
from store import notifications


def _keyboard(n: Notification) -> InlineKeyboardMarkup | None:
    if not n.buttons:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.callback_data) for b in row]
            for row in n.buttons
        ]
    )


class NotifyActivities:
    def __init__(self, pool: asyncpg.Pool, bot: Bot) -> None:
        self.pool = pool
        self.bot = bot

    @activity.defn(name="send_notification")
    async def send_notification(self, n: Notification) -> NotificationResult:
        claim = await notifications.claim(self.pool, n)
        if claim.result is not None:
            metrics.notification("duplicate")
            return claim.result
        try:
            message = await self.bot.send_message(n.chat_id, n.text, reply_markup=_keyboard(n))
        except TelegramRetryAfter as exc:
            # Telegram refused it before doing anything: safe to retry after its delay.
            await notifications.finish(
                self.pool, n.dedupe_key, "pending", error=f"429: {exc.message}"
            )
            metrics.notification("retried")
            raise ApplicationError(
                f"rate limited, retry after {exc.retry_after}s",
                type="RateLimited",
                next_retry_delay=timedelta(seconds=max(1, exc.retry_after)),
            ) from None
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
