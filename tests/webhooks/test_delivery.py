"""Signed webhooks end to end: endpoints stored in Postgres, one delivery workflow per endpoint
on the notify queue, and a real aiohttp receiver that verifies every delivery with the
independent `standardwebhooks` package. Retries run on a shortened schedule (backoff 0.2 s
doubling to 1 s, the breaker's cool-down at most 1 s), so "down for a while" takes seconds."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio
from solders.keypair import Keypair

from core import webhooks as rules
from core.errors import UserError
from core.ids import webhook_delivery_id
from starter.cli import exits
from starter.client import webhooks
from tests.support.cli import walletflow
from tests.support.stack import Stack, eventually, stack_cli_env
from tests.support.webhooks import Receiver
from tests.support.withdrawals import withdraw

STACK = {
    "queues": ("solana", "notify"),
    "triggers": True,
    "settings": {
        "WEBHOOKS_ALLOW_INSECURE": "true",
        "WEBHOOK_BACKOFF_SECONDS": 0.2,
        "WEBHOOK_BACKOFF_MAX_SECONDS": 1,
        "WEBHOOK_BREAKER_MAX_SECONDS": 1,
    },
}


@pytest_asyncio.fixture
async def receiver(pool: asyncpg.Pool) -> AsyncIterator[Receiver]:
    started = await Receiver().start()
    yield started
    await pool.execute("DELETE FROM webhook_endpoints")  # their loops see it and end
    await started.stop()


async def add(stack: Stack, pool: asyncpg.Pool, receiver: Receiver, events: list[str]) -> str:
    endpoint_id, secret = await webhooks.add(
        stack.client, pool, stack.settings, url=receiver.url, events=events, wallets=None,
        created_by="operator",
    )  # fmt: skip
    receiver.secrets = [secret]
    return endpoint_id


async def test_a_withdrawals_states_arrive_once_each_in_order_and_signed(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    await add(stack, pool, receiver, ["withdrawal.*"])
    request_id, done = await withdraw(stack, "solana", "SOL", str(Keypair().pubkey()), "0.01")
    assert done is not None and done.status == "confirmed", done
    emitted = [
        r["type"]
        for r in await pool.fetch(
            "SELECT type FROM webhook_events WHERE ordering = $1 ORDER BY seq",
            f"withdrawal:{request_id}",
        )
    ]
    assert emitted[0] == "withdrawal.requested" and emitted[-1] == "withdrawal.confirmed"

    async def arrived() -> list[str] | None:
        got = [e.type for e in receiver.events if e.body["data"]["request_id"] == request_id]
        return got if len(got) == len(emitted) else None

    assert await eventually(arrived) == emitted  # every state, in order
    ids = receiver.ids("withdrawal.")
    assert len(ids) == len(set(ids))  # and each once
    confirmed = next(e for e in receiver.events if e.type == "withdrawal.confirmed")
    assert confirmed.headers["webhook-id"] == confirmed.event_id
    assert confirmed.body["data"]["tx_id"] == done.tx_id
    assert confirmed.body["data"]["amount"] == "10000000"  # base units, a string


async def test_a_refused_delivery_is_dead_lettered_and_a_replay_delivers_it_once(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    endpoint_id = await add(stack, pool, receiver, ["withdrawal.*"])
    receiver.answer = 400
    outcome = await webhooks.test(pool, endpoint_id)
    assert outcome["status"] == "dead" and outcome["last_status"] == 400, outcome
    assert len(receiver.requests) == 1  # a 4xx is not retried
    [dead] = await webhooks.failed(pool, endpoint_id)
    assert dead["event_id"] == outcome["event_id"] and dead["type"] == rules.TEST_TYPE
    receiver.answer = 200
    again = await webhooks.replay(pool, event_id=outcome["event_id"], since=None,
                                  endpoint_id=None)  # fmt: skip
    assert again == [(endpoint_id, outcome["event_id"])]
    await eventually(lambda: asyncio.sleep(0, receiver.ids() == [outcome["event_id"]]))
    await asyncio.sleep(1)
    assert receiver.ids() == [outcome["event_id"]]  # once
    assert await webhooks.failed(pool, endpoint_id) == []
    with pytest.raises(UserError, match="no delivered or dead delivery of evt_nope"):
        await webhooks.replay(pool, event_id="evt_nope", since=None, endpoint_id=None)


async def test_a_receiver_down_for_a_while_gets_everything_after_in_wallet_order(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    endpoint_id = await add(stack, pool, receiver, ["wallet.*"])
    receiver.answer = 503
    wallets = [f"W{n}" for n in range(3)]
    sent = []
    for n in range(30):  # 10 events per wallet, interleaved
        wallet = wallets[n % 3]
        event = rules.Emitted(
            event_id=rules.event_id(f"test-order:{endpoint_id}:{n}"), type="wallet.transfer",
            data={"n": n, "wallet": wallet}, ordering=f"solana:{wallet}", wallet=wallet,
        )  # fmt: skip
        await webhooks.store.emit(pool, [event])
        sent.append(event)
        await asyncio.sleep(0.05)
    await asyncio.sleep(3)  # down: retries back off, the breaker holds the rest back
    attempts_while_down = len(receiver.requests)
    assert 0 < attempts_while_down < 30, attempts_while_down  # not one attempt per event
    receiver.answer = 200

    async def all_in() -> bool:
        return len(receiver.events) >= len(sent)

    await eventually(all_in, timeout=30)
    await asyncio.sleep(1)
    ids = receiver.ids()
    assert sorted(ids) == sorted(e.event_id for e in sent) and len(ids) == len(set(ids))
    for wallet in wallets:
        got = [e.body["data"]["n"] for e in receiver.events if e.body["data"]["wallet"] == wallet]
        assert got == sorted(got), (wallet, got)  # each wallet's events in order


async def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    endpoint_id = await add(stack, pool, receiver, ["withdrawal.*"])
    old = receiver.secrets[0]
    new = await webhooks.rotate(pool, stack.settings, endpoint_id, timedelta(hours=1))
    receiver.secrets = [old, new]
    assert (await webhooks.test(pool, endpoint_id))["status"] == "delivered"
    assert receiver.events[-1].verified_with == [0, 1]  # signed by both
    newest = await webhooks.rotate(pool, stack.settings, endpoint_id, timedelta(0))  # no overlap
    receiver.secrets = [new, newest]
    assert (await webhooks.test(pool, endpoint_id))["status"] == "delivered"
    assert receiver.events[-1].verified_with == [1]  # only the new one
    assert len(receiver.events[-1].headers["webhook-signature"].split(" ")) == 1


async def test_bad_endpoints_get_one_clear_line_and_nothing_is_stored(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver
) -> None:
    await add(stack, pool, receiver, ["withdrawal.*"])
    strict = stack.settings.model_copy(update={"webhooks_allow_insecure": False})
    cases = [
        (strict, "http://hooks.example.com/in", ["withdrawal.*"], "must be https"),
        (strict, "https://192.168.1.10/in", ["withdrawal.*"], "is a private address"),
        (strict, "https://localhost/in", ["withdrawal.*"], "is a private address"),
        (stack.settings, "http://127.0.0.1:1/x", ["withdrawals.*"], "unknown event type"),
        (stack.settings, receiver.url, ["wallet.transfer"], "exists already"),
    ]
    before = await pool.fetchval("SELECT count(*) FROM webhook_endpoints")
    for settings, url, events, message in cases:
        with pytest.raises(UserError, match=message) as caught:
            await webhooks.add(stack.client, pool, settings, url=url, events=events,
                               wallets=None, created_by="operator")  # fmt: skip
        assert "\n" not in str(caught.value)
    assert await pool.fetchval("SELECT count(*) FROM webhook_endpoints") == before


async def test_the_cli_adds_lists_tests_and_removes_an_endpoint(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver, tmp_path: Path
) -> None:
    env = stack_cli_env(stack, tmp_path) | {"WEBHOOKS_ALLOW_INSECURE": "true"}
    added = await walletflow(env, "webhooks", "add", receiver.url, "--events",
                             "withdrawal.*,wallet.transfer", "--json")  # fmt: skip
    assert added.code == 0, added
    doc = json.loads(added.out)
    assert doc["secret"].startswith("whsec_")
    receiver.secrets = [doc["secret"]]
    listed = json.loads((await walletflow(env, "webhooks", "list", "--json")).out)
    mine = [e for e in listed if e["id"] == doc["id"]]
    assert mine and mine[0]["events"] == ["withdrawal.*", "wallet.transfer"]
    assert "secret" not in mine[0]
    tested = await walletflow(env, "webhooks", "test", doc["id"], "--json")
    assert tested.code == 0 and json.loads(tested.out)["status"] == "delivered", tested
    bad = await walletflow(env, "webhooks", "add", receiver.url, "--events", "nope")
    assert bad.code == exits.ERROR and "unknown event type 'nope'" in bad.err, bad
    assert bad.err.strip().count("\n") == 0
    removed = await walletflow(env, "webhooks", "rm", doc["id"], "--json")
    assert removed.code == 0 and json.loads(removed.out)["removed"] is True
    gone = await walletflow(env, "webhooks", "rm", doc["id"])
    assert gone.code == exits.ERROR and f"no webhook endpoint {doc['id']}" in gone.err
    handle = stack.client.get_workflow_handle(webhook_delivery_id(doc["id"]))
    await asyncio.wait_for(handle.result(), 30)  # its delivery loop ended with it
    if os.environ.get("WALLETFLOW_RECORD_HISTORIES"):  # for tests/workflows/test_replay.py
        history = await handle.fetch_history()
        path = Path(__file__).parents[1] / "workflows" / "histories" / f"{handle.id}.json"
        path.write_text(history.to_json() + "\n")


async def test_the_cli_lists_the_dead_and_replays_them_since_a_time(
    stack: Stack, pool: asyncpg.Pool, receiver: Receiver, tmp_path: Path
) -> None:
    env = stack_cli_env(stack, tmp_path)
    endpoint_id = await add(stack, pool, receiver, ["withdrawal.*"])
    since = (await pool.fetchval("SELECT now()")).isoformat()
    receiver.answer = 410  # gone: permanent
    dead = [(await webhooks.test(pool, endpoint_id))["event_id"] for _ in range(2)]
    listed = await walletflow(env, "webhooks", "failed", "--endpoint", endpoint_id, "--json")
    assert listed.code == 0, listed
    assert [r["event_id"] for r in json.loads(listed.out)] == dead
    assert {r["last_status"] for r in json.loads(listed.out)} == {410}
    receiver.answer = 200
    replayed = await walletflow(env, "webhooks", "replay", "--since", since, "--json")
    assert replayed.code == 0, replayed
    assert sorted(r["event_id"] for r in json.loads(replayed.out)) == sorted(dead)

    async def delivered() -> bool:
        return sorted(receiver.ids()) == sorted(dead)

    await eventually(delivered)
    assert json.loads((await walletflow(env, "webhooks", "failed", "--json")).out) == []
    both = await walletflow(env, "webhooks", "replay", dead[0], "--since", since)
    assert both.code == exits.ERROR and "not both" in both.err, both
    bad = await walletflow(env, "webhooks", "replay", "--since", "yesterday")
    assert bad.code == exits.ERROR and "is not an ISO time" in bad.err, bad
