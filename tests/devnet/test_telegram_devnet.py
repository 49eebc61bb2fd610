"""The Telegram stand-in, driven by a real aiogram Bot (and plain HTTP for /_devnet)."""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
)
from aiohttp import web

from devnet.telegram import TelegramDevnet, TelegramDevnetConfig

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
OTHER_TOKEN = "987654321:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
T = TypeVar("T")

# Flood limits stay out of the way except in the tests about them.
UNLIMITED = TelegramDevnetConfig(
    per_chat_rate=1000, per_chat_burst=1000, global_rate=1000, global_burst=1000
)


def make_bot(devnet: TelegramDevnet, token: str = TOKEN) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(devnet.url)))


@pytest.fixture
async def devnet() -> AsyncIterator[TelegramDevnet]:
    server = TelegramDevnet(UNLIMITED.model_copy())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def limited() -> AsyncIterator[TelegramDevnet]:
    server = TelegramDevnet(TelegramDevnetConfig())
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(devnet: TelegramDevnet) -> AsyncIterator[Bot]:
    client = make_bot(devnet)
    yield client
    await client.session.close()


@pytest.fixture
async def http(devnet: TelegramDevnet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=devnet.url, timeout=10) as client:
        yield client


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float = 5.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def messages(http: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    resp = await http.get("/_devnet/messages", params=params)
    resp.raise_for_status()
    result: list[dict[str, Any]] = resp.json()
    return result


async def inject(http: httpx.AsyncClient, token: str | None = TOKEN, **body: Any) -> dict[str, Any]:
    """POST /_devnet/updates; token=None leaves the choice of bot to the devnet."""
    if token is not None:
        body["token"] = token
    resp = await http.post("/_devnet/updates", json=body)
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=d.title(), callback_data=d) for d in data]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def test_send_edit_and_record(bot: Bot, http: httpx.AsyncClient) -> None:
    sent = await bot.send_message(
        42, "<b>Withdrawal</b> of 1.5 SOL", parse_mode="HTML", reply_markup=keyboard("approve:7")
    )
    assert (sent.message_id, sent.chat.id, sent.chat.type) == (1, 42, "private")
    assert sent.from_user is not None and sent.from_user.id == 123456789
    assert sent.from_user.is_bot
    assert sent.text == "Withdrawal of 1.5 SOL"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert (sent.entities[0].offset, sent.entities[0].length) == (0, 10)
    assert isinstance(sent.reply_markup, InlineKeyboardMarkup)
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "approve:7"
    assert abs(sent.date.timestamp() - time.time()) < 5
    group = await bot.send_message(-1001234567890, "to a supergroup")
    assert (group.chat.type, group.message_id) == ("supergroup", 1)  # ids are per chat
    assert (await bot.send_message(42, "second")).message_id == 2

    record = (await messages(http, chat_id=42, since_index=0, bot_id=123456789))[0]
    assert record["chat_id"] == 42 and record["message_id"] == 1
    assert record["text"] == "<b>Withdrawal</b> of 1.5 SOL" and record["parse_mode"] == "HTML"
    assert record["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "approve:7"
    assert record["time"].endswith("Z") and record["edits"] == [] and not record["deleted"]
    assert len(await messages(http, chat_id=42)) == 2
    assert len(await messages(http)) == 3

    edited = await bot.edit_message_text(
        "<i>Approved</i>", chat_id=42, message_id=sent.message_id, parse_mode="HTML"
    )
    assert isinstance(edited, Message)
    assert edited.text == "Approved" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<i>Approved</i>", chat_id=42, message_id=sent.message_id, parse_mode="HTML"
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=99)
    record = (await messages(http, chat_id=42))[0]
    assert [e["text"] for e in record["edits"]] == ["<i>Approved</i>"]
    assert record["plain_text"] == "Approved"

    markup = await bot.edit_message_reply_markup(
        chat_id=42, message_id=sent.message_id, reply_markup=keyboard("done")
    )
    assert isinstance(markup, Message) and markup.reply_markup is not None
    assert await bot.delete_message(42, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(42, sent.message_id)
    record = (await messages(http, chat_id=42))[0]
    assert record["deleted"] and len(record["edits"]) == 2


async def test_text_validation(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match='Unsupported start tag "blink"'):
        await bot.send_message(1, "<blink>x</blink>", parse_mode="HTML")
    user_text = "AT&T <script> price < 5"
    with pytest.raises(TelegramBadRequest, match="can't parse entities"):
        await bot.send_message(1, f"<b>Label:</b> {user_text}", parse_mode="HTML")
    ok = await bot.send_message(1, f"<b>Label:</b> {html.escape(user_text)}", parse_mode="HTML")
    assert ok.text == f"Label: {user_text}"
    link = await bot.send_message(
        1, '<a href="https://solscan.io/tx/abc">tx</a>', parse_mode="HTML"
    )
    assert link.entities is not None and link.entities[0].url == "https://solscan.io/tx/abc"

    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(1, "<b> </b>", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(1, "x" * 4097)
    assert (await bot.send_message(1, "x" * 4096)).text == "x" * 4096
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(1, "too much data", reply_markup=keyboard("d" * 65))
    await bot.send_message(1, "just enough", reply_markup=keyboard("d" * 64))

    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(1, "*1.5* SOL", parse_mode="MarkdownV2")
    md = await bot.send_message(1, "*1\\.5* SOL", parse_mode="MarkdownV2")
    assert md.text == "1.5 SOL" and md.entities is not None and md.entities[0].type == "bold"


async def test_reply_commands_and_chat_action(bot: Bot, http: httpx.AsyncClient) -> None:
    injected = await inject(http, chat_id=5, from_id=5, text="hello")
    reply = await bot.send_message(
        5, "hi", reply_parameters=ReplyParameters(message_id=injected["message_id"])
    )
    assert reply.reply_to_message is not None and reply.reply_to_message.text == "hello"
    assert reply.message_id == injected["message_id"] + 1  # one id sequence per chat
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(5, "hi", reply_parameters=ReplyParameters(message_id=999))

    commands = [BotCommand(command="watch", description="Watch a wallet")]
    assert await bot.set_my_commands(commands)
    assert [c.command for c in await bot.get_my_commands()] == ["watch"]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == []
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])

    assert await bot.send_chat_action(5, "typing")
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(5, "dancing")


async def test_wire_formats_and_errors(devnet: TelegramDevnet, http: httpx.AsyncClient) -> None:
    resp = await http.get(f"/bot{TOKEN}/getMe")
    me = resp.json()["result"]
    assert me["id"] == 123456789 and me["is_bot"] and me["username"].endswith("bot")

    resp = await http.get(f"/bot{TOKEN}/sendMessage", params={"chat_id": "7", "text": "query"})
    assert resp.json()["result"]["text"] == "query"
    resp = await http.post(f"/bot{TOKEN}/sendMessage", data={"chat_id": "7", "text": "form"})
    assert resp.json()["result"]["text"] == "form"
    markup = {"inline_keyboard": [[{"text": "Go", "url": "https://example.com"}]]}
    resp = await http.post(
        f"/bot{TOKEN}/sendMessage", json={"chat_id": 7, "text": "json", "reply_markup": markup}
    )
    assert resp.json()["result"]["reply_markup"] == markup

    resp = await http.post(f"/bot{TOKEN}/sendMessage", json={"chat_id": 7, "text": ""})
    assert resp.status_code == 400
    assert resp.json() == {
        "ok": False,
        "error_code": 400,
        "description": "Bad Request: message text is empty",
    }
    resp = await http.post(f"/bot{TOKEN}/noSuchMethod")
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    resp = await http.get("/botnot-a-token/getMe")
    assert resp.status_code == 401 and resp.json()["description"] == "Unauthorized"

    # Two tokens are two bots, each with its own chats and message ids.
    other = make_bot(devnet, OTHER_TOKEN)
    try:
        assert (await other.send_message(7, "from the other bot")).message_id == 1
    finally:
        await other.session.close()
    assert {r["bot_id"] for r in await messages(http, chat_id=7)} == {123456789, 987654321}
    assert len(await messages(http, bot_id=987654321)) == 1


async def test_flood_limit_per_chat(limited: TelegramDevnet) -> None:
    bot = make_bot(limited)
    try:
        sent = 0
        with pytest.raises(TelegramRetryAfter) as caught:
            for i in range(10):
                await bot.send_message(100, f"alert {i}")
                sent += 1
        assert sent == 3  # the default burst
        assert caught.value.retry_after >= 1
        assert "Too Many Requests: retry after" in caught.value.message
        await bot.send_message(101, "another chat is not limited")
        await asyncio.sleep(caught.value.retry_after)
        assert (await bot.send_message(100, "after waiting")).text == "after waiting"
        stored = [m for m in limited.messages if m.chat_id == 100]
        assert len(stored) == 4  # refused messages are not stored
    finally:
        await bot.session.close()


async def test_flood_limit_global(limited: TelegramDevnet) -> None:
    bot = make_bot(limited)
    try:
        # One message to each of 60 chats at once: no chat limit applies, the bot's 30/s does.
        results = await asyncio.gather(
            *(bot.send_message(chat_id, "broadcast") for chat_id in range(1000, 1060)),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, TelegramRetryAfter)]
        delivered = [r for r in results if isinstance(r, Message)]
        assert len(refused) + len(delivered) == 60
        assert 30 <= len(delivered) < 60
        assert all(r.retry_after >= 1 for r in refused)
        assert len(limited.messages) == len(delivered)
    finally:
        await bot.session.close()


async def test_polling_dispatcher(
    devnet: TelegramDevnet, bot: Bot, http: httpx.AsyncClient
) -> None:
    router = Router()
    seen: list[Message] = []

    @router.message(CommandStart())
    async def on_start(message: Message) -> None:
        seen.append(message)
        await message.answer("<b>Welcome</b>", parse_mode="HTML", reply_markup=keyboard("ok"))

    @router.callback_query(F.data == "ok")
    async def on_ok(query: CallbackQuery) -> None:
        await query.answer("done")
        assert isinstance(query.message, Message)
        await query.message.edit_text("Confirmed")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=5, handle_signals=False)
    )
    try:
        injected = await inject(http, chat_id=777, from_id=777, username="alice", text="/start")
        assert injected["queued"] and injected["update_id"] >= 1

        async def welcomed() -> list[dict[str, Any]]:
            return await messages(http, chat_id=777)

        [welcome] = await eventually(welcomed)
        assert welcome["text"] == "<b>Welcome</b>"
        assert seen[0].from_user is not None and seen[0].from_user.username == "alice"
        assert seen[0].entities is not None and seen[0].entities[0].type == "bot_command"

        pressed = await inject(http, chat_id=777, from_id=777, callback_data="ok")
        assert pressed["message_id"] == welcome["message_id"]

        async def answered() -> list[dict[str, Any]]:
            resp = await http.get("/_devnet/callback_answers")
            return [
                a for a in resp.json() if a["callback_query_id"] == pressed["callback_query_id"]
            ]

        [answer] = await eventually(answered)
        assert answer["text"] == "done"

        async def edited() -> list[dict[str, Any]]:
            return (await messages(http, chat_id=777))[0]["edits"]

        assert (await eventually(edited))[0]["text"] == "Confirmed"
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, 5)
    assert polling.exception() is None


async def test_get_updates_semantics(
    devnet: TelegramDevnet, bot: Bot, http: httpx.AsyncClient
) -> None:
    first = await inject(http, token=TOKEN, chat_id=9, text="one")
    await inject(http, token=TOKEN, chat_id=9, text="two")
    updates = await bot.get_updates()
    assert [u.message.text for u in updates if u.message] == ["one", "two"]
    assert updates[0].update_id == first["update_id"]
    assert await bot.get_updates() != []  # not confirmed yet
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == []  # confirmed

    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3

    waiting = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await inject(http, token=None, chat_id=9, text="three")  # the only bot by default
    [update] = await asyncio.wait_for(waiting, 3)
    assert update.message is not None and update.message.text == "three"
    assert time.monotonic() - started < 1

    # Another getUpdates ends the pending one, as when two bot instances poll.
    second = make_bot(devnet)
    try:
        older = asyncio.create_task(bot.get_updates(offset=update.update_id + 1, timeout=10))
        await asyncio.sleep(0.1)
        newer = asyncio.create_task(second.get_updates(offset=update.update_id + 1, timeout=1))
        with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
            await asyncio.wait_for(older, 3)
        assert await newer == []
    finally:
        await second.session.close()

    # allowed_updates filters updates that arrive afterwards.
    await bot.get_updates(offset=-1, allowed_updates=["callback_query"])
    dropped = await inject(http, chat_id=9, text="filtered out")
    assert dropped["queued"] is False


async def test_update_for_a_bot_that_never_called(devnet: TelegramDevnet) -> None:
    async with httpx.AsyncClient(base_url=devnet.url) as http:
        await inject(http, token=TOKEN, chat_id=1, text="early")
        await inject(http, token=OTHER_TOKEN, chat_id=1, text="for the other bot")
    late = make_bot(devnet, OTHER_TOKEN)
    try:
        [update] = await late.get_updates()
        assert update.message is not None and update.message.text == "for the other bot"
    finally:
        await late.session.close()


async def test_webhook_mode(devnet: TelegramDevnet, bot: Bot, http: httpx.AsyncClient) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        await received.put((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), update))
        if update.get("message", {}).get("text") == "ping":
            # Telegram runs a method the webhook answers with.
            return web.json_response({"method": "sendMessage", "chat_id": 31, "text": "pong"})
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/hook"
    try:
        assert await bot.set_webhook(url, secret_token="s3cret-token")
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates()

        await inject(http, chat_id=31, from_id=31, text="ping")
        secret, update = await asyncio.wait_for(received.get(), 5)
        assert secret == "s3cret-token"
        assert update["message"]["text"] == "ping" and "update_id" in update

        async def pong() -> list[dict[str, Any]]:
            return await messages(http, chat_id=31)

        assert (await eventually(pong))[0]["text"] == "pong"

        assert await bot.delete_webhook()
        await inject(http, chat_id=31, from_id=31, text="polled again")
        [polled] = await bot.get_updates()
        assert polled.message is not None and polled.message.text == "polled again"
        assert received.empty()
    finally:
        await runner.cleanup()


async def set_faults(http: httpx.AsyncClient, **knobs: Any) -> None:
    resp = await http.post("/_devnet/faults", json=knobs)
    assert resp.status_code == 200, resp.text


async def test_faults(bot: Bot, http: httpx.AsyncClient) -> None:
    await set_faults(http, error_rate=1.0)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()
    await set_faults(http, error_rate=0.0, rate_429=1.0, retry_after=2)
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(3, "x")
    assert caught.value.retry_after == 2
    await set_faults(http, rate_429=0.0)

    started = time.monotonic()
    await bot.get_me()
    baseline = time.monotonic() - started
    await set_faults(http, latency_ms=300)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.3 > baseline
    await set_faults(http, latency_ms=0, lost_response_rate=1.0)

    with pytest.raises(TelegramNetworkError):
        await bot.send_message(3, "maybe sent")
    # The message was delivered although the client saw an error: a blind retry duplicates it.
    assert [m["text"] for m in await messages(http, chat_id=3)] == ["maybe sent"]
    assert (await bot.get_me()).id == 123456789  # only sendMessage loses responses
    await set_faults(http, lost_response_rate=0.0)


async def test_reset_and_config(devnet: TelegramDevnet, bot: Bot, http: httpx.AsyncClient) -> None:
    await bot.send_message(8, "before reset")
    await inject(http, chat_id=8, text="pending")
    assert (await http.post("/_devnet/reset")).json() == {"ok": True}
    assert await messages(http) == []
    assert await bot.get_updates() == []
    assert (await bot.send_message(8, "after")).message_id == 1

    resp = await http.post("/_devnet/config", json={"blocked_chats": [8]})
    assert resp.json()["blocked_chats"] == [8]
    with pytest.raises(Exception, match="bot was blocked by the user"):
        await bot.send_message(8, "blocked")
    resp = await http.post("/_devnet/config", json={"per_chat_rate": -1})
    assert resp.status_code == 400
