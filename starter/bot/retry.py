"""Retrying Bot API calls Telegram refused without doing anything.

aiogram raises TelegramRetryAfter on a 429 and does not retry. A 429 (and a connection that
never opened) means the call was not executed, so sending it again after `retry_after` cannot
duplicate a message. A read time-out or a dropped response may mean it *was* executed:
sendMessage is not idempotent, so those are never retried here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientConnectorError

log = logging.getLogger("walletflow.bot")


class RetryAfterMiddleware(BaseRequestMiddleware):
    """Session middleware: retry 429s after their retry_after, and refused connections, for
    up to `patience` seconds per call (a reply minutes late is better than none)."""

    def __init__(self, *, patience: float = 300, connect_delay: float = 1) -> None:
        self.patience = patience
        self.connect_delay = connect_delay
        self.retries = 0  # how often a call was sent again (logs, tests)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        deadline = time.monotonic() + self.patience
        attempt = 0
        while True:
            attempt += 1
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                # A little jitter so that replies held by one limit don't all return together.
                delay = exc.retry_after + random.uniform(0, 0.5)
                if time.monotonic() + delay > deadline:
                    raise
            except TelegramNetworkError as exc:
                delay = min(self.connect_delay * attempt, 30)
                if (
                    not isinstance(exc.__cause__, ClientConnectorError)
                    or time.monotonic() + delay > deadline
                ):
                    raise
            self.retries += 1
            log.info(
                "%s not executed (attempt %d); retrying in %.1fs",
                method.__api_method__,
                attempt,
                delay,
            )
            await asyncio.sleep(delay)
