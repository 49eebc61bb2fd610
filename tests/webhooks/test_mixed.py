"""A mixed run, as a customer's receiver sees it: a watched wallet's transfer, a withdrawal, a
trade and a price alert, each an event (or several: every state) delivered exactly once by
`event_id`, in order per wallet, to a real aiohttp receiver verifying every signature."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest_asyncio
from solders.keypair import Keypair

from core.models import Subscription
from starter.client import alerts, monitors, trades, webhooks, withdrawals
from starter.client.withdrawals import TRADE
from tests.support.chain_tx import sol_account, sol_send
from tests.support.ids import chat_id, new_request_id
from tests.support.stack import Stack, eventually
from tests.support.webhooks import Receiver
from tests.support.withdrawals import withdraw
from tests.workflows.alert.test_price_alerts import set_price

STACK = {
    "queues": ("solana", "notify", "prices"),
    "triggers": True,
    "settings": {
        "WEBHOOKS_ALLOW_INSECURE": "true",
        "PRICE_POLL_SECONDS": 0.5,
        "JUPITER_REQUESTS_PER_SECOND": 0,
        "COINGECKO_REQUESTS_PER_SECOND": 0,
    },
}
SOL = 10**9


@pytest_asyncio.fixture
async def receiver(pool: asyncpg.Pool) -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await pool.execute("DELETE FROM webhook_endpoints")
    await started.stop()


async def test_every_event_of_a_mixed_run_arrives_exactly_once(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    endpoint_id, secret = await webhooks.add(
        stack.client, pool, stack.settings, url=receiver.url, events=["*"], wallets=None,
        created_by="operator",
    )  # fmt: skip
    receiver.secrets = [secret]
    # A watched wallet receives SOL.
    wallet, chat = str(Keypair().pubkey()), chat_id()
    await monitors.watch(stack.client, stack.settings, "solana", wallet,
                         Subscription(chat_id=chat))  # fmt: skip
    await set_price(stack, "solana", "150")

    async def watching() -> bool:
        return bool(await pool.fetchval("SELECT count(*) FROM wallets WHERE address = $1", wallet))

    await eventually(watching)
    await sol_send(stack.solana.url, sol_account(stack.solana, 3), wallet,
                   stack.settings.tokens("solana").native, SOL // 4)  # fmt: skip
    # A withdrawal and a trade.
    withdrawal_id, done = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "0.01")
    assert done is not None and done.status == "confirmed"
    trade = trades.build_request(
        stack.settings, chain="solana", side="buy", token="USDC", amount="0.05",
        request_id=new_request_id(), requested_by="", slippage_bps=100,
    )  # fmt: skip
    await withdrawals.start(stack.client, stack.settings, trade)
    traded = await withdrawals.handle(stack.client, trade.request_id, TRADE).result()
    assert traded.status == "confirmed", traded
    # A price alert that fires.
    _, alert = await alerts.add(stack.client, stack.settings, chat=chat, token="SOL",
                                condition=[">", "160"])  # fmt: skip
    await set_price(stack, "solana", "161")
    try:

        async def everything() -> list[str] | None:
            types = {e.type for e in receiver.events}
            wanted = {"wallet.transfer", "withdrawal.confirmed", "trade.confirmed", "alert.fired"}
            return sorted(types) if wanted <= types else None

        await eventually(everything, timeout=90)
    finally:
        await set_price(stack, "solana", "150")

    async def all_delivered() -> list[Any] | None:
        rows = await pool.fetch(
            "SELECT event_id, status FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id
        )
        return rows if rows and all(r["status"] == "delivered" for r in rows) else None

    rows = await eventually(all_delivered, timeout=60)
    ids = receiver.ids()
    assert len(ids) == len(set(ids)), "a duplicate delivery"
    assert sorted(ids) == sorted(r["event_id"] for r in rows)
    transfers = [e for e in receiver.events if e.type == "wallet.transfer"
                 and e.body["data"]["wallet"] == wallet]  # fmt: skip
    states = [e.body["data"]["state"] for e in transfers]
    assert states[-1] == "final" and states in (["final"], ["pending", "final"]), states
    assert transfers[-1].body["data"]["amount"] == SOL // 4
    money = [
        e.body["data"]["status"]
        for e in receiver.events
        if e.type.startswith("withdrawal.") and e.body["data"]["request_id"] == withdrawal_id
    ]
    assert money[0] == "requested" and money[-1] == "confirmed"  # fmt: skip
    [fired] = [e for e in receiver.events if e.type == "alert.fired"
               and e.body["data"]["alert_id"] == alert.alert_id]  # fmt: skip
    assert fired.body["data"]["price"] == "161"
