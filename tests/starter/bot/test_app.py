"""`starter.bot.run`, what `python -m starter.bot` runs: long polling and webhook mode against
the stand-in, commands registered, a prompt stop, and no start without the bot's signing key."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from core.errors import UserError
from starter.bot import run
from starter.client.signer import new_key
from starter.devstack import free_port
from starter.runtime.settings import Settings
from tests.support.ids import chat_id
from tests.support.stack import eventually


async def serve_and_stop(
    telegram: Any, client: Client, pool: asyncpg.Pool, token: str, **overrides: Any
) -> dict[str, Any]:
    key = Path(tempfile.mkdtemp()) / "bot.json"
    new_key(key, "bot")
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_URL": telegram.url,
        "WALLETFLOW_BOT_KEY_FILE": str(key),
        **overrides,
    }
    settings = Settings(**values)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, client, pool, stop=stop))
    chat, bot_id = chat_id(), int(token.split(":")[0])
    async with httpx.AsyncClient(base_url=telegram.url) as http:

        async def replied() -> list[Any]:
            if task.done():
                task.result()  # start-up failed: raise it here
            got = await http.get("/_devnet/messages", params={"chat_id": chat, "bot_id": bot_id})
            return list(got.json())

        await eventually(lambda: http.get("/_devnet/bots"))
        await http.post("/_devnet/updates", json={"token": token, "chat_id": chat, "text": "/help"})
        [reply] = await eventually(replied)
        commands = (await http.get(f"/bot{token}/getMyCommands")).json()["result"]
        bots = {b["bot_id"]: b for b in (await http.get("/_devnet/bots")).json()}
    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 3, "the bot must stop within seconds"
    assert "/watch CHAIN ADDRESS" in reply["plain_text"]
    assert {"watch", "withdraw", "workers", "help"} <= {c["command"] for c in commands}
    return dict(bots[bot_id])


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_run_serves_until_stopped(
    mode: str, telegram: Any, client: Client, pool: asyncpg.Pool
) -> None:
    if mode == "polling":
        bot = await serve_and_stop(telegram, client, pool, "7000000617:BOTwalletflowPolling0000")
        assert bot["webhook_url"] in (None, "")
    else:
        port = free_port()
        url = f"http://127.0.0.1:{port}/telegram/updates"
        bot = await serve_and_stop(
            telegram,
            client,
            pool,
            "7000000618:BOTwalletflowWebhook0000",
            TELEGRAM_WEBHOOK_URL=url,
            TELEGRAM_WEBHOOK_PORT=port,
        )
        assert bot["webhook_url"] == url


async def test_no_signing_key_no_bot(
    telegram: Any, client: Client, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    missing = tmp_path / "keys" / "bot.json"
    settings = Settings(
        TELEGRAM_BOT_TOKEN="7000000619:BOTwalletflowNoKey00000",
        TELEGRAM_API_URL=telegram.url,
        WALLETFLOW_BOT_KEY_FILE=str(missing),
    )
    with pytest.raises(UserError) as caught:
        await asyncio.wait_for(run(settings, client, pool, stop=asyncio.Event()), 10)
    assert str(caught.value) == (
        f"the bot's signing key (WALLETFLOW_BOT_KEY_FILE): no signing key at {missing}: create "
        "one with `walletflow keys new NAME` and have an admin add it to the roster"
    )
