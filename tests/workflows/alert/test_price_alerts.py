"""Price alerts end to end: devnet prices (Jupiter v3 shape) moved by the test, the price-watch
loop signalling `alert-{chat}-{id}`, one Telegram message per crossing."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from solders.keypair import Keypair
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError

from core.alerts import AlertRule, AlertStatus
from core.errors import UserError
from core.ids import alert_workflow_id, price_watch_id
from starter.cli import exits
from starter.client import alerts
from starter.runtime.settings import PRICES_QUEUE
from tests.support.cli import walletflow
from tests.support.ids import chat_id
from tests.support.stack import Stack, eventually, messages, stack_cli_env
from workflows.alert import PriceAlertWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
FAST = {
    "PRICE_POLL_SECONDS": 0.5,
    "JUPITER_REQUESTS_PER_SECOND": 0,
    "COINGECKO_REQUESTS_PER_SECOND": 0,
}
STACK = {"queues": ("notify", "prices"), "settings": FAST}


async def set_price(where: Stack | str, price_id: str, price: str) -> None:
    """Set a devnet price (`where`: the stack, or the devnet's price_url)."""
    url = where if isinstance(where, str) else where.devnets["solana"]["price_url"]
    async with httpx.AsyncClient() as http:
        resp = await http.post(f"{url}/_devnet/prices", json={"prices": {price_id: price}})
        resp.raise_for_status()


async def new_token(stack: Stack, price: str) -> str:
    """A mint nobody else uses, priced by the devnet's Jupiter API only."""
    mint = str(Keypair().pubkey())
    await set_price(stack, mint, price)
    return mint


async def status(client: Client, workflow_id: str) -> AlertStatus:
    result: AlertStatus = await client.get_workflow_handle(workflow_id).query(
        PriceAlertWorkflow.status
    )
    return result


async def fired(stack: Stack, chat: int, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        got = await messages(stack.telegram, chat)
        return got if len(got) >= count else None

    return list(await eventually(enough, timeout=timeout))


async def watched(pool: asyncpg.Pool, workflow_id: str, op: str) -> bool:
    row = await pool.fetchrow("SELECT op FROM price_watches WHERE watch_id = $1", workflow_id)
    return row is not None and row["op"] == op


async def test_an_alert_fires_once_per_crossing_and_re_arms_past_the_hysteresis(
    stack: Stack, pool: asyncpg.Pool
) -> None:
    mint, chat = await new_token(stack, "100"), chat_id()
    workflow_id, req = await alerts.add(
        stack.client, stack.settings, chat=chat, token=mint, condition=[">", "120"],
        repeat=True, hysteresis_pct="5", cooldown_seconds=0,
    )  # fmt: skip
    assert workflow_id == alert_workflow_id(chat, req.alert_id)
    assert req.asset.provider == "jupiter" and req.set_price == "100"
    await eventually(lambda: watched(pool, workflow_id, "ge"))

    await set_price(stack, mint, "125")
    [message] = await fired(stack, chat, 1)
    assert "&gt; 120" not in message["plain_text"] and "> 120" in message["plain_text"]
    assert "$125.00" in message["plain_text"] and "+25.00%" in message["plain_text"]
    assert "dexscreener.com/solana/" + mint in message["text"]

    # Hovering above, and just under the threshold: no second message, not re-armed.
    for price in ("126", "119", "121", "115"):
        await set_price(stack, mint, price)
        await asyncio.sleep(1.2)
    assert len(await messages(stack.telegram, chat)) == 1
    assert (await status(stack.client, workflow_id)).armed is False

    await set_price(stack, mint, "113")  # under 120 - 5%: re-armed
    await eventually(lambda: watched(pool, workflow_id, "ge"))
    await set_price(stack, mint, "130")
    got = await fired(stack, chat, 2)
    await asyncio.sleep(2)
    assert len(await messages(stack.telegram, chat)) == len(got) == 2
    current = await status(stack.client, workflow_id)
    assert current.fired == 2 and current.last_price == "130"
    await record_history(stack, workflow_id)


async def record_history(stack: Stack, workflow_id: str) -> None:
    """WALLETFLOW_RECORD_HISTORIES=1: stop the alert and keep its history (and the price-watch
    loop's) for tests/workflows/test_replay.py."""
    if not os.environ.get("WALLETFLOW_RECORD_HISTORIES"):
        return
    handle = stack.client.get_workflow_handle(workflow_id)
    await handle.signal(PriceAlertWorkflow.stop)
    await handle.result()
    loop = price_watch_id(stack.settings.task_queue(PRICES_QUEUE), "jupiter")
    for wid, name in ((workflow_id, "alert-crossings"), (loop, "prices-jupiter")):
        history = await stack.client.get_workflow_handle(wid).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")


async def test_a_trx_alert_runs_on_coingecko(stack: Stack) -> None:
    """TRX is priced by CoinGecko (`tron`): its own price-watch loop fires the alert."""
    chat = chat_id()
    await set_price(stack, "tron", "0.25")
    try:
        _, req = await alerts.add(
            stack.client, stack.settings, chat=chat, token="TRX", condition=["<", "0.2"]
        )
        assert (req.asset.chain, req.asset.provider, req.asset.price_id) == (
            "tron", "coingecko", "tron",
        )  # fmt: skip
        await set_price(stack, "tron", "0.19")
        [message] = await fired(stack, chat, 1)
        assert "TRX &lt; 0.2" in message["text"] and "$0.19" in message["plain_text"]
        assert "coingecko.com/en/coins/tron" in message["text"]
    finally:
        await set_price(stack, "tron", "0.25")


async def price_faults(stack: Stack, **knobs: Any) -> None:
    """The devnet's faults on its price APIs (`only_methods`: `v3` is Jupiter)."""
    async with httpx.AsyncClient() as http:
        url = stack.devnets["solana"]["price_url"]
        (await http.post(f"{url}/_devnet/faults", json=knobs)).raise_for_status()


async def test_an_alert_fails_over_to_another_provider_while_its_own_is_down(
    stack: Stack,
) -> None:
    """SOL is watched on Jupiter, with CoinGecko as its failover: with every Jupiter call
    failing, the price-watch loop asks CoinGecko and the alert still fires, once."""
    chat = chat_id()
    await set_price(stack, "solana", "150")
    _, req = await alerts.add(
        stack.client, stack.settings, chat=chat, token="SOL", condition=["<", "100"]
    )
    assert (req.asset.provider, req.asset.fallback) == ("jupiter", {"coingecko": "solana"})
    await price_faults(stack, error_rate=1.0, only_methods=["v3"])
    try:
        await set_price(stack, "solana", "99")
        [message] = await fired(stack, chat, 1)
        assert "SOL &lt; 100" in message["text"] and "$99" in message["plain_text"]
        await asyncio.sleep(2)  # more polls through the failover: still one message
        assert len(await fired(stack, chat, 1)) == 1
    finally:
        await price_faults(stack, error_rate=0.0, only_methods=None)
        await set_price(stack, "solana", "150")


async def test_a_move_within_the_window_fires_once(stack: Stack, pool: asyncpg.Pool) -> None:
    mint, chat = await new_token(stack, "50"), chat_id()
    workflow_id, _ = await alerts.add(
        stack.client, stack.settings, chat=chat, token=mint, condition=["-10%", "1h"]
    )
    await eventually(lambda: watched(pool, workflow_id, "move_le"))
    await asyncio.sleep(1.5)  # the loop's history holds 50
    await set_price(stack, mint, "46")  # -8%
    await asyncio.sleep(1.5)
    assert await messages(stack.telegram, chat) == []
    await set_price(stack, mint, "44")  # -12%
    [message] = await fired(stack, chat, 1)
    assert "-12.00% within the window" in message["plain_text"]
    # A one-shot alert ends after it fired, and leaves the loop's table.
    handle = stack.client.get_workflow_handle(workflow_id, result_type=AlertStatus)
    assert (await handle.result()).fired == 1
    assert (
        await pool.fetchval(
            "SELECT (SELECT count(*) FROM price_alerts WHERE workflow_id = $1)"
            " + (SELECT count(*) FROM price_watches WHERE workflow_id = $1)",
            workflow_id,
        )
        == 0
    )


async def test_pause_resume_edit_and_stop(stack: Stack, pool: asyncpg.Pool) -> None:
    mint, chat = await new_token(stack, "10"), chat_id()
    workflow_id, req = await alerts.add(
        stack.client, stack.settings, chat=chat, token=mint, condition=["<", "8"], repeat=True
    )
    await alerts.signal(stack.client, chat, req.alert_id, "pause")
    await eventually(
        lambda: pool.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM price_watches WHERE watch_id = $1)", workflow_id
        )
    )
    await set_price(stack, mint, "7")
    await asyncio.sleep(1.5)
    assert await messages(stack.telegram, chat) == []  # paused: not watched

    handle = stack.client.get_workflow_handle(workflow_id)
    edited = await handle.execute_update(
        PriceAlertWorkflow.edit, AlertRule(kind="below", threshold="6.5", repeat=True)
    )
    assert edited.rule.threshold == "6.5"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(
            PriceAlertWorkflow.edit, AlertRule(kind="below", threshold="-1")
        )
    assert "greater than 0" in str(refused.value.cause)
    await alerts.signal(stack.client, chat, req.alert_id, "resume")
    await asyncio.sleep(1.5)
    assert await messages(stack.telegram, chat) == []  # 7 is not under 6.5
    await set_price(stack, mint, "6")
    [message] = await fired(stack, chat, 1)
    assert "&lt; 6.5" in message["text"]

    await alerts.signal(stack.client, chat, req.alert_id, "stop")
    assert (await handle.describe()).status is not None
    await eventually(lambda: _closed(stack.client, workflow_id), timeout=15)
    assert await alerts.listed(pool, chat) == []


async def _closed(client: Client, workflow_id: str) -> bool:
    described = await client.get_workflow_handle(workflow_id).describe()
    return described.status == WorkflowExecutionStatus.COMPLETED


@pytest.mark.parametrize(
    ("token", "condition", "message"),
    [
        ("NOSUCH", [">", "1"], "unknown token 'NOSUCH'"),
        ("SOL", [">", "-5"], "greater than 0"),
        ("SOL", ["0%", "1h"], "0% move"),
        ("SOL", ["sideways"], "not a condition"),
    ],
)
async def test_bad_alerts_say_why_and_start_nothing(
    stack: Stack, token: str, condition: list[str], message: str
) -> None:
    chat = chat_id()
    with pytest.raises(UserError, match=message):
        await alerts.add(stack.client, stack.settings, chat=chat, token=token,
                         condition=condition, alert_id="bad")  # fmt: skip
    with pytest.raises(Exception, match="not found"):
        await stack.client.get_workflow_handle(alert_workflow_id(chat, "bad")).describe()


async def test_a_token_without_a_price_is_refused(stack: Stack) -> None:
    mint = str(Keypair().pubkey())  # never priced
    with pytest.raises(UserError, match="no price for"):
        await alerts.add(stack.client, stack.settings, chat=chat_id(), token=mint,
                         condition=[">", "1"])  # fmt: skip


async def test_a_second_alert_with_the_same_id_is_refused(stack: Stack) -> None:
    mint, chat = await new_token(stack, "3"), chat_id()
    await alerts.add(stack.client, stack.settings, chat=chat, token=mint, condition=[">", "4"],
                     alert_id="dup")  # fmt: skip
    with pytest.raises(UserError, match="exists already"):
        await alerts.add(stack.client, stack.settings, chat=chat, token=mint,
                         condition=[">", "5"], alert_id="dup")  # fmt: skip


async def test_the_cli_adds_lists_and_removes_alerts(stack: Stack, tmp_path: Path) -> None:
    env = stack_cli_env(stack, tmp_path)
    mint, chat = await new_token(stack, "7"), chat_id()
    added = await walletflow(
        env, "alert", "add", mint, "-10%", "1h", "--chat", str(chat), "--id", "dip", "--json"
    )
    assert added.code == 0, added
    doc = json.loads(added.out)
    assert doc["workflow_id"] == alert_workflow_id(chat, "dip") and doc["price"] == "7"
    assert doc["rule"]["kind"] == "move" and doc["rule"]["threshold"] == "-10"

    async def listed() -> list[dict[str, Any]] | None:
        found = json.loads((await walletflow(env, "alert", "list", "--chat", str(chat),
                                             "--json")).out)  # fmt: skip
        return found or None

    [row] = await eventually(listed)
    assert row["alert_id"] == "dip" and row["description"].endswith("-10% in 1h")
    removed = await walletflow(env, "alert", "rm", "dip", "--chat", str(chat), "--json")
    assert removed.code == 0 and json.loads(removed.out)["sent"] == "stop", removed

    async def gone() -> bool:
        out = (await walletflow(env, "alert", "list", "--chat", str(chat), "--json")).out
        return json.loads(out) == []

    await eventually(gone)
    for args, message in [
        (["add", "NOSUCH", "above", "1"], "unknown token 'NOSUCH'"),
        (["add", mint, "above", "-1"], "greater than 0"),
        (["add", mint, "0%", "1h"], "0% move"),
        (["add", str(Keypair().pubkey()), "above", "1"], "no price for"),
        (["rm", "nope"], "no alert nope in chat"),
    ]:
        bad = await walletflow(env, "alert", *args, "--chat", str(chat))
        assert bad.code == exits.ERROR and message in bad.err, (args, bad)
        assert bad.err.strip().count("\n") == 0, bad.err
