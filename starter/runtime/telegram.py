"""The aiogram Bot for the configured token and API server (real Telegram or the stand-in)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from core.errors import UserError
from starter.runtime.settings import Settings


def make_bot(settings: Settings, *, timeout: float = 15) -> Bot:
    if not settings.bot_token:
        raise UserError("TELEGRAM_BOT_TOKEN is not set")
    session = (
        AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=timeout)
        if settings.telegram_api_url
        else AiohttpSession(timeout=timeout)
    )
    return Bot(
        settings.bot_token,
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True),
    )
