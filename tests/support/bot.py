"""The bot end to end: walletflow's workers on the devnets (Stack) and the bot's Dispatcher
polling the Telegram stand-in with a token of its own, so that these chats and updates are
this module's alone. Tests inject updates and read what the bot sent.

Its `stack` (overriding the shared one) and `harness` fixtures serve tests/starter/bot/, whose
conftest.py imports them."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from aiogram import Bot, Dispatcher
from temporalio.testing import WorkflowEnvironment

from core.intents import Principal, Role
from starter.bot import create_bot, create_dispatcher
from starter.bot.retry import RetryAfterMiddleware
from starter.devstack.principals import BOT_USERS
from store import authority
from store.db import create_pool
from tests.support.stack import (
    ALL_QUEUES,
    HOT_ACCOUNT,
    Devnets,
    Stack,
    eventually,
    running_stack,
)

BOT_TOKEN = "7000000616:BOTwalletflowBotTestsToken0000000"
OPERATOR = 61_000_001
APPROVER = 61_000_002
OPERATOR_APPROVER = 61_000_003  # both roles: the self-approval case
ADMIN = 61_000_004
CAREFUL_OPERATOR = 61_000_005  # sends only bad arguments: nothing may start in its name
UNLISTED = 61_000_006  # an operator and approver by settings whom the roster does not list
STRANGER = 61_000_009  # no role at all
# What the roster lets the bot sign for: the settings' roles are only the bot's first filter.
ROSTER: dict[int, list[Role]] = {
    OPERATOR: ["requester"],
    APPROVER: ["approver"],
    OPERATOR_APPROVER: ["requester", "approver"],
    ADMIN: ["admin"],
    CAREFUL_OPERATOR: ["requester"],
}


@dataclass
class Harness:
    """Talks to the stand-in as users do, and reads what the bot sent."""

    telegram: Any
    bot: Bot
    dp: Dispatcher
    retry: RetryAfterMiddleware
    bot_id: int

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            resp = await http.post(f"{self.telegram.url}{path}", json=body)
            resp.raise_for_status()
            result: dict[str, Any] = resp.json()
            return result

    async def _get(self, path: str, **params: Any) -> Any:
        async with httpx.AsyncClient() as http:
            resp = await http.get(f"{self.telegram.url}{path}", params=params)
            resp.raise_for_status()
            return resp.json()

    async def send(self, chat: int, text: str, *, user: int | None = None) -> None:
        """A user's message in `chat` (a private chat with that user unless `user` is given)."""
        body = {"token": BOT_TOKEN, "chat_id": chat, "from_id": user or chat, "text": text}
        assert (await self._post("/_devnet/updates", body))["queued"]

    async def press(
        self, chat: int, data: str, *, user: int | None = None, message_id: int | None = None
    ) -> str:
        """A button press; returns the callback query id."""
        body: dict[str, Any] = {
            "token": BOT_TOKEN,
            "chat_id": chat,
            "from_id": user or chat,
            "callback_data": data,
        }
        if message_id is not None:
            body["message_id"] = message_id
        return str((await self._post("/_devnet/updates", body))["callback_query_id"])

    async def messages(self, chat: int, since: int = 0) -> list[dict[str, Any]]:
        got = await self._get(
            "/_devnet/messages", chat_id=chat, bot_id=self.bot_id, since_index=since
        )
        return list(got)

    async def mark(self) -> int:
        """An index after every message sent so far: read only what comes next."""
        got = await self._get("/_devnet/messages", bot_id=self.bot_id)
        return max((m["index"] for m in got), default=-1) + 1

    async def wait(
        self, chat: int, count: int, *, since: int, timeout: float = 30
    ) -> list[dict[str, Any]]:
        async def enough() -> list[dict[str, Any]] | None:
            got = await self.messages(chat, since)
            return got if len(got) >= count else None

        result: list[dict[str, Any]] = await eventually(enough, timeout=timeout, interval=0.1)
        return result

    async def settled(
        self, chat: int, count: int, *, since: int, timeout: float = 45, quiet: float = 2
    ) -> list[dict[str, Any]]:
        """The chat's messages once `count` arrived and nothing more came for `quiet` seconds."""
        await self.wait(chat, count, since=since, timeout=timeout)
        await asyncio.sleep(quiet)
        return await self.messages(chat, since)

    async def wait_for(
        self,
        chat: int,
        match: Callable[[dict[str, Any]], bool],
        *,
        since: int,
        timeout: float = 45,
    ) -> dict[str, Any]:
        async def found() -> dict[str, Any] | None:
            return next((m for m in await self.messages(chat, since) if match(m)), None)

        result: dict[str, Any] = await eventually(found, timeout=timeout)
        return result

    async def edited(self, chat: int, message: dict[str, Any], edits: int = 1) -> dict[str, Any]:
        """`message` once it was edited `edits` times."""

        async def found() -> dict[str, Any] | None:
            now = next(m for m in await self.messages(chat) if m["index"] == message["index"])
            return now if len(now["edits"]) >= edits else None

        result: dict[str, Any] = await eventually(found)
        return result

    async def ask(self, chat: int, text: str, *, user: int | None = None) -> str:
        """Send a command and return the text of the single reply it gets."""
        since = await self.mark()
        await self.send(chat, text, user=user)
        [reply] = await self.wait(chat, 1, since=since)
        return str(reply["plain_text"])

    async def answer(self, query_id: str, timeout: float = 30) -> dict[str, Any]:
        """The bot's answerCallbackQuery for that press."""

        async def found() -> dict[str, Any] | None:
            answers = await self._get("/_devnet/callback_answers", bot_id=self.bot_id)
            return next((a for a in answers if a["callback_query_id"] == query_id), None)

        result: dict[str, Any] = await eventually(found, timeout=timeout)
        return result


def buttons(message: dict[str, Any]) -> list[str]:
    """The callback data of the message's buttons as shown now (after any edit)."""
    edits = message.get("edits") or []
    markup = (edits[-1]["reply_markup"] if edits else message.get("reply_markup")) or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


def request_id_in(text: str) -> str:
    found = re.search(r"\btg-[0-9a-f]{12}\b", text)
    assert found, text
    return found.group(0)


@pytest_asyncio.fixture(scope="module")
async def stack(
    temporal_env: WorkflowEnvironment, pg_dsn: str, devnets: Devnets
) -> AsyncIterator[Stack]:
    # The workers' notifications go through the same bot, as in a deployment: approval
    # requests land in this bot's chats and their button presses come back to it.
    settings = {
        "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
        "TELEGRAM_ADMINS": str(ADMIN),
        "TELEGRAM_OPERATORS": f"{OPERATOR},{OPERATOR_APPROVER},{CAREFUL_OPERATOR},{UNLISTED}",
        "TELEGRAM_APPROVERS": f"{APPROVER},{OPERATOR_APPROVER},{UNLISTED}",
        "WALLETFLOW_SOLANA_HOT_WALLET": devnets.solana.info()["accounts"][HOT_ACCOUNT]["address"],
        "WALLETFLOW_TRON_HOT_WALLET": devnets.tron.info()["accounts"][HOT_ACCOUNT]["address"],
    }
    queues = (*ALL_QUEUES, "prices")  # price alerts (/alert) too
    settings["PRICE_POLL_SECONDS"] = "0.5"
    async with running_stack(
        temporal_env.client, pg_dsn, devnets, queues=queues, settings=settings
    ) as s:
        await list_bot_users(s)
        yield s


async def list_bot_users(stack: Stack) -> None:
    """The roster lets the bot (`running_stack` lists the dev principals) sign for this
    module's Telegram users too, as an admin would with `walletflow principals add bot ...`."""
    users = {**BOT_USERS, **{f"tg:{uid}": roles for uid, roles in ROSTER.items()}}
    bot = Principal(id="bot", public_key=stack.signer("bot").public_key, users=users)
    pool = await create_pool(stack.settings.dsn or "", max_size=1)
    try:
        await authority.add_principal(pool, bot, by="tests")
    finally:
        await pool.close()


@pytest_asyncio.fixture(scope="module")
async def harness(stack: Stack, pool: asyncpg.Pool) -> AsyncIterator[Harness]:
    bot = create_bot(stack.settings)
    retry = next(m for m in bot.session.middleware if isinstance(m, RetryAfterMiddleware))
    dp = create_dispatcher(stack.settings, stack.client, pool)
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, polling_timeout=5))
    h = Harness(stack.telegram, bot, dp, retry, int(BOT_TOKEN.split(":")[0]))
    try:
        assert "walletflow" in await h.ask(ADMIN, "/start")  # polling and answering
        yield h
    finally:
        await dp.stop_polling()
        await polling
