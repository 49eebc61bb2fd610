"""The notification activity against the Telegram stand-in: at most one message per key."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from core.models import Conclusion, Notification
from starter.runtime.settings import Settings
from starter.runtime.telegram import make_bot
from tests.support.ids import chat_id


@pytest.fixture
async def notify(pool: asyncpg.Pool, telegram: Any) -> Any:
    settings = Settings(
        TELEGRAM_BOT_TOKEN=telegram.config.default_token, TELEGRAM_API_URL=telegram.url
    )
    bot = make_bot(settings, timeout=3)
    yield NotifyActivities(pool, bot)
    await bot.session.close()


async def sent_to(telegram: Any, chat: int) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{telegram.url}/_devnet/messages", params={"chat_id": chat})
        return list(resp.json())


async def row(pool: asyncpg.Pool, key: str) -> asyncpg.Record:
    r = await pool.fetchrow("SELECT * FROM notifications WHERE dedupe_key = $1", key)
    assert r is not None
    return r


async def test_sends_once_per_key(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat = chat_id()
    n = Notification(dedupe_key=f"{chat}:e1", chat_id=chat, text="<b>hello</b> &amp; bye")
    env = ActivityEnvironment()
    first = await env.run(notify.send_notification, n)
    again = await env.run(notify.send_notification, n)
    assert first.status == "sent" and first.message_id
    assert again == first  # the retry found the row and sent nothing
    messages = await sent_to(telegram, chat)
    assert [m["text"] for m in messages] == [n.text]
    assert (await row(pool, n.dedupe_key))["status"] == "sent"


async def test_rate_limit_is_retryable_with_telegrams_delay(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat = chat_id()
    telegram.faults.update({"rate_429": 1.0, "retry_after": 3})
    n = Notification(dedupe_key=f"{chat}:429", chat_id=chat, text="x")
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(notify.send_notification, n)
    assert info.value.type == "RateLimited" and not info.value.non_retryable
    assert info.value.next_retry_delay is not None
    assert info.value.next_retry_delay.total_seconds() == 3
    assert (await row(pool, n.dedupe_key))["status"] == "pending"
    telegram.faults.update({"rate_429": 0})
    assert (await ActivityEnvironment().run(notify.send_notification, n)).status == "sent"
    assert len(await sent_to(telegram, chat)) == 1


async def test_lost_response_is_unknown_and_never_resent(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat = chat_id()
    telegram.faults.update({"lost_response_rate": 1.0})
    n = Notification(dedupe_key=f"{chat}:lost", chat_id=chat, text="maybe")
    result = await ActivityEnvironment().run(notify.send_notification, n)
    assert result.status == "unknown"
    telegram.faults.update({"lost_response_rate": 0})
    assert (await ActivityEnvironment().run(notify.send_notification, n)).status == "unknown"
    assert len(await sent_to(telegram, chat)) == 1  # delivered once, never duplicated


async def test_unreachable_api_is_retryable(pool: asyncpg.Pool) -> None:
    settings = Settings(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_API_URL="http://127.0.0.1:9")
    bot = make_bot(settings, timeout=3)
    try:
        n = Notification(dedupe_key="unreachable:1", chat_id=1, text="x")
        with pytest.raises(Exception, match="ClientConnectorError"):
            await ActivityEnvironment().run(NotifyActivities(pool, bot).send_notification, n)
        assert (await row(pool, n.dedupe_key))["status"] == "pending"  # free to retry
    finally:
        await bot.session.close()


async def test_an_attempt_that_died_mid_request_becomes_unknown(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat = chat_id()
    n = Notification(dedupe_key=f"{chat}:crash", chat_id=chat, text="x")
    await pool.execute(
        "INSERT INTO notifications (dedupe_key, chat_id, text, status, attempts)"
        " VALUES ($1, $2, $3, 'sending', 1)",
        n.dedupe_key,
        chat,
        n.text,
    )
    assert (await ActivityEnvironment().run(notify.send_notification, n)).status == "unknown"
    assert await sent_to(telegram, chat) == []


async def test_bad_markup_fails_without_retry(notify: NotifyActivities, telegram: Any) -> None:
    chat = chat_id()
    n = Notification(dedupe_key=f"{chat}:bad", chat_id=chat, text="<b>unclosed")
    result = await ActivityEnvironment().run(notify.send_notification, n)
    assert result.status == "failed" and "parse entities" in (result.detail or "")


# ---- two phases: the early message's conclusion -----------------------------------------------


def conclusion(chat: int, key: str, outcome: str = "final") -> Conclusion:
    return Conclusion(dedupe_key=key, chat_id=chat, text=f"<b>{outcome}</b>", outcome=outcome)


async def test_conclusion_edits_the_early_message_once(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat, env = chat_id(), ActivityEnvironment()
    key = f"{chat}:early"
    await env.run(notify.send_notification, Notification(dedupe_key=key, chat_id=chat, text="p"))
    first = await env.run(notify.conclude_notification, conclusion(chat, key))
    again = await env.run(notify.conclude_notification, conclusion(chat, key))
    assert first.status == again.status == "edited"
    [message] = await sent_to(telegram, chat)
    assert message["plain_text"] == "final" and len(message["edits"]) == 1
    assert (await row(pool, key))["concluded"] == "final"


async def test_conclusion_without_a_message_id_is_one_new_message(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat, env = chat_id(), ActivityEnvironment()
    key = f"{chat}:lost"
    telegram.faults.update({"lost_response_rate": 1.0})
    early = await env.run(
        notify.send_notification, Notification(dedupe_key=key, chat_id=chat, text="p")
    )
    telegram.faults.update({"lost_response_rate": 0})
    assert early.status == "unknown"
    for _ in range(2):  # a retried conclusion sends nothing more
        assert (await env.run(notify.conclude_notification, conclusion(chat, key))).status == "sent"
    pending, final = await sent_to(telegram, chat)
    assert pending["edits"] == [] and final["plain_text"] == "final"
    assert (await row(pool, f"{key}:end"))["status"] == "sent"


async def test_a_refused_edit_falls_back_to_a_new_message(
    notify: NotifyActivities, telegram: Any, pool: asyncpg.Pool
) -> None:
    chat, env = chat_id(), ActivityEnvironment()
    key = f"{chat}:gone"
    await env.run(notify.send_notification, Notification(dedupe_key=key, chat_id=chat, text="p"))
    await notify.bot.delete_message(chat, (await row(pool, key))["message_id"])
    result = await env.run(notify.conclude_notification, conclusion(chat, key, "dropped"))
    assert result.status == "sent"
    messages = [m for m in await sent_to(telegram, chat) if not m["deleted"]]
    assert [m["plain_text"] for m in messages] == ["dropped"]
