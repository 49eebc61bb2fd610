"""Assembling the bot: the Bot (with 429 retries), the Dispatcher (routers, the role middleware,
the injected Temporal client, pool, settings, fee estimator and the bot's signing key), and the
polling/webhook loops."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import signal
from contextlib import suppress
from urllib.parse import urlsplit

import asyncpg
from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, CallbackQuery, ErrorEvent, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from temporalio.client import Client
from temporalio.service import RPCError

from core.errors import UserError
from starter.bot import admin, alerts, basics, trades, wallets, withdrawals
from starter.bot.auth import AuthMiddleware, Roles
from starter.bot.fees import FeeEstimator
from starter.bot.pending import PendingWithdrawals
from starter.bot.retry import RetryAfterMiddleware
from starter.bot.text import COMMANDS, BadUsage, esc
from starter.client.signer import Signer, load_key
from starter.runtime.settings import Settings
from starter.runtime.telegram import make_bot

log = logging.getLogger("walletflow.bot")


def create_bot(settings: Settings) -> Bot:
    bot = make_bot(settings)
    bot.session.middleware(RetryAfterMiddleware())
    return bot


def bot_signer(settings: Settings) -> Signer:
    """The bot's service key (WALLETFLOW_BOT_KEY_FILE): it signs withdrawals and decisions for
    the Telegram users the roster lists for it. One clear error when it is missing."""
    try:
        return load_key(settings.bot_signing_key())
    except UserError as exc:
        raise UserError(f"the bot's signing key (WALLETFLOW_BOT_KEY_FILE): {exc}") from None


def create_dispatcher(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    *,
    fees: FeeEstimator | None = None,
    signer: Signer | None = None,
) -> Dispatcher:
    """Handlers receive `settings`, `client`, `pool`, `fees`, `pending`, `signer` (the bot's
    key, default `bot_signer(settings)`) and `roles` by name."""
    dp = Dispatcher()
    dp["signer"] = signer or bot_signer(settings)
    dp["settings"] = settings
    dp["client"] = client
    dp["pool"] = pool
    dp["fees"] = fees or FeeEstimator(settings)
    dp["pending"] = PendingWithdrawals()
    # Inner middlewares: they run after the filters matched, so the handler's flags are known.
    auth = AuthMiddleware(Roles.from_settings(settings))
    dp.message.middleware(auth)
    dp.callback_query.middleware(auth)
    dp.errors.register(on_error)
    dp.include_routers(
        basics.make_router(),
        wallets.make_router(),
        alerts.make_router(),
        withdrawals.make_router(),
        trades.make_router(),
        admin.make_router(),
        basics.make_fallback_router(),
    )
    dp.shutdown.register(_close_fees)
    return dp


async def _close_fees(fees: FeeEstimator) -> None:
    await fees.close()


async def on_error(event: ErrorEvent, bot: Bot) -> bool:
    """Bad input becomes a reply naming what is wrong; anything else a short apology (the
    details go to the log, not to the chat)."""
    exc = event.exception
    if isinstance(exc, BadUsage):
        text, short = exc.html(), exc.problem or "see the usage"
    elif isinstance(exc, UserError):
        text, short = f"⚠️ {esc(exc)}", str(exc)
    elif isinstance(exc, RPCError):
        log.error("Temporal call failed: %s", exc)
        text = short = "⚠️ walletflow's workflow service is unreachable; try again in a minute."
    else:
        log.error("handler failed", exc_info=exc)
        text = short = "⚠️ Something went wrong on our side; the admins can see it in the log."
    update = event.update
    with suppress(TelegramAPIError):
        if isinstance(update.message, Message):
            await update.message.answer(text)
        elif isinstance(update.callback_query, CallbackQuery):
            query = update.callback_query
            await query.answer(short[:200], show_alert=True)
            if query.message is not None:
                await bot.send_message(query.message.chat.id, text)
    return True


async def register_commands(bot: Bot) -> None:
    await bot.set_my_commands(
        [BotCommand(command=name, description=text) for name, text in COMMANDS.items()]
    )


def webhook_secret(settings: Settings) -> str:
    """Derived from the token: only Telegram (which knows the token's owner) can post updates."""
    token = settings.bot_token or ""
    return hashlib.sha256(f"walletflow-webhook:{token}".encode()).hexdigest()[:48]


async def run(
    settings: Settings,
    client: Client,
    pool: asyncpg.Pool,
    *,
    stop: asyncio.Event | None = None,
    signer: Signer | None = None,
) -> None:
    """Serve until `stop` is set (default: SIGTERM or SIGINT): long polling, or a webhook when
    TELEGRAM_WEBHOOK_URL is set. `signer`: the bot's key (default `bot_signer(settings)`)."""
    signer = signer or bot_signer(settings)  # before anything: no key, no bot
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    bot = create_bot(settings)
    dp = create_dispatcher(settings, client, pool, signer=signer)
    try:
        await register_commands(bot)
        me = await bot.get_me()
        if settings.telegram_webhook_url:
            await _serve_webhook(settings, bot, dp, stop)
        else:
            # A webhook left from an earlier deployment would make getUpdates fail (409).
            await bot.delete_webhook(drop_pending_updates=False)
            log.info("bot @%s polling", me.username)
            polling = asyncio.create_task(
                dp.start_polling(bot, handle_signals=False, close_bot_session=False)
            )
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not polling.done():
                try:
                    await dp.stop_polling()  # cancels the long poll at once
                except RuntimeError:  # stopped before polling began
                    polling.cancel()
            with suppress(asyncio.CancelledError):
                await polling
    finally:
        await bot.session.close()


async def _serve_webhook(settings: Settings, bot: Bot, dp: Dispatcher, stop: asyncio.Event) -> None:
    url = settings.telegram_webhook_url or ""
    path = urlsplit(url).path or "/"
    secret = webhook_secret(settings)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot, secret_token=secret).register(app, path=path)
    setup_application(app, dp, bot=bot)  # runs the dispatcher's startup/shutdown hooks
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "0.0.0.0", settings.telegram_webhook_port).start()
        await bot.set_webhook(
            url, secret_token=secret, allowed_updates=dp.resolve_used_update_types()
        )
        log.info("bot webhook %s on port %s", url, settings.telegram_webhook_port)
        await stop.wait()
    finally:
        # The webhook stays set: Telegram keeps updates queued until the bot is back.
        await runner.cleanup()
