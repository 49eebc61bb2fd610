"""The bot's price alerts end to end: /alert starts `alert-{chat}-{id}`, /alerts lists this
chat's alerts with delete buttons, /unalert and the button stop one; bad input gets one line."""

from __future__ import annotations

import re
from typing import Any

from solders.keypair import Keypair

from core.ids import alert_workflow_id
from tests.support.bot import Harness, buttons
from tests.support.ids import chat_id
from tests.support.stack import Stack, eventually
from tests.workflows.alert.test_price_alerts import set_price


async def test_alert_fires_lists_and_is_deleted_by_its_button(
    stack: Stack, harness: Harness
) -> None:
    chat, mint = chat_id(), str(Keypair().pubkey())
    await set_price(stack, mint, "2.5")
    reply = await harness.ask(chat, f"/alert {mint} > 3 repeat")
    assert f"{mint[:4]}…{mint[-4:]} > 3 (repeating)" in reply and "Now $2.50" in reply, reply
    found = re.search(r"Alert (\S+) set", reply)
    assert found is not None, reply
    alert_id = found.group(1)
    described = await stack.client.get_workflow_handle(alert_workflow_id(chat, alert_id)).describe()
    assert described.workflow_type == "PriceAlertWorkflow"

    async def listed() -> dict[str, Any] | None:  # the row comes from the workflow
        since = await harness.mark()
        await harness.send(chat, "/alerts")
        [message] = await harness.wait(chat, 1, since=since)
        return message if alert_id in message["plain_text"] else None

    listing = await eventually(listed)
    assert "Price alerts here (1)" in listing["plain_text"]
    assert buttons(listing) == [f"alrt:rm:{alert_id}"]

    since = await harness.mark()
    await set_price(stack, mint, "3.2")
    fired = await harness.wait_for(chat, lambda m: m["plain_text"].startswith("🔔"), since=since)
    assert "Now $3.20 (+28.00% since the alert was set)" in fired["plain_text"], fired

    query = await harness.press(chat, f"alrt:rm:{alert_id}", message_id=listing["message_id"])
    assert (await harness.answer(query))["text"] == "Deleted"

    async def gone() -> bool:
        return "No price alerts in this chat" in await harness.ask(chat, "/alerts")

    await eventually(gone)
    assert "no alert nope in chat" in await harness.ask(chat, "/unalert nope")
    # A one-shot alert ends once it fired: /unalert then finds none.
    reply = await harness.ask(chat, f"/alert {mint} < 3")
    once = re.search(r"Alert (\S+) set", reply)
    assert once is not None, reply
    since = await harness.mark()
    await set_price(stack, mint, "2.9")
    await harness.wait_for(chat, lambda m: m["plain_text"].startswith("🔔"), since=since)

    async def ended() -> bool:
        return "No price alerts in this chat" in await harness.ask(chat, "/alerts")

    await eventually(ended)
    assert f"no alert {once.group(1)} in chat" in await harness.ask(
        chat, f"/unalert {once.group(1)}"
    )


async def test_bad_alerts_get_one_line_and_start_nothing(harness: Harness) -> None:
    chat = chat_id()
    assert "unknown token 'NOSUCH'" in await harness.ask(chat, "/alert NOSUCH > 1")
    assert "greater than 0" in await harness.ask(chat, "/alert SOL > -1")
    assert "0% move" in await harness.ask(chat, "/alert SOL 0% 1h")
    assert "Usage: /alert TOKEN CONDITION [repeat]" in await harness.ask(chat, "/alert SOL")
    unpriced = str(Keypair().pubkey())
    assert "no price for" in await harness.ask(chat, f"/alert {unpriced} > 1")
    assert "No price alerts in this chat" in await harness.ask(chat, "/alerts")
