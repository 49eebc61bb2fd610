"""The delivery loop's own guard (activities/webhooks.py): an endpoint whose host resolves to a
private address by the time of delivery (DNS changed since `webhooks add`, or changes between
the check and the connection) gets nothing; the attempt is a failure that is retried, and the
dead-letter rules take it from there."""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from aiohttp import web
from standardwebhooks import Webhook
from temporalio.testing import ActivityEnvironment

from activities.webhooks import WebhookActivities, WebhookSettings
from core import webhooks as rules
from core.webhooks import DeliveryState
from store import webhooks as store


@pytest_asyncio.fixture
async def listener() -> AsyncIterator[list[bytes]]:
    """Something listening on localhost, to show that nothing reaches it."""
    got: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        got.append(json.dumps({"headers": dict(request.headers), "body": body}).encode())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    got.append(str(site._server.sockets[0].getsockname()[1]).encode())  # type: ignore[union-attr]
    yield got
    await runner.cleanup()


NAME = "hooks.example.test"  # a public-looking name that now resolves to 127.0.0.1


async def endpoint_with_an_event(pool: asyncpg.Pool, url: str) -> str:
    """An endpoint at `url` (plain http: without a guard a post would reach the listener)
    with one test event due; its id."""
    endpoint_id = "ep_" + secrets.token_hex(6)
    secret = rules.new_secret()
    await store.add_endpoint(pool, endpoint_id=endpoint_id, url=url, events=["wallet.*"],
                             wallets=None, secret=secret, created_by="test")  # fmt: skip
    event = rules.Emitted(event_id=rules.event_id(f"guard:{endpoint_id}"),
                          type=rules.TEST_TYPE, data={})  # fmt: skip
    await store.emit_test(pool, endpoint_id, event)
    return endpoint_id


async def one_round(pool: asyncpg.Pool, endpoint_id: str, *, allow_insecure: bool) -> Any:
    acts = WebhookActivities(pool, WebhookSettings(allow_insecure=allow_insecure))
    return await ActivityEnvironment().run(
        acts.deliver_webhooks, DeliveryState(endpoint_id=endpoint_id, round_seconds=1)
    )


async def test_a_host_that_resolves_inside_the_network_gets_nothing(
    pool: asyncpg.Pool, listener: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = socket.getaddrinfo

    def rebound(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host  # anyio passes IDNA bytes
        return real("127.0.0.1" if name == NAME else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)  # the guard and httpx both see it
    endpoint_id = await endpoint_with_an_event(pool, f"http://{NAME}:{listener.pop().decode()}/in")
    try:
        result = await one_round(pool, endpoint_id, allow_insecure=False)
        assert result.delivered == 0 and result.retried == 1
        row = await pool.fetchrow(
            "SELECT status, attempts, last_error FROM webhook_deliveries WHERE endpoint_id = $1",
            endpoint_id,
        )
        assert dict(row) == {"status": "pending", "attempts": 1,
                             "last_error": "its host resolves to a private address"}  # fmt: skip
        assert listener == []  # not a byte sent
        # With the dev flag the same loop posts to the same URL: it reaches the listener.
        await pool.execute("UPDATE webhook_deliveries SET next_at = now() WHERE endpoint_id = $1",
                           endpoint_id)  # fmt: skip
        result = await one_round(pool, endpoint_id, allow_insecure=True)
        assert result.delivered == 1 and len(listener) == 1
    finally:
        await store.remove_endpoint(pool, endpoint_id)


async def test_a_name_that_rebinds_after_the_check_reaches_nothing_inside(
    pool: asyncpg.Pool, listener: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name answers a public address to the pass's check and 127.0.0.1 to
    every lookup after it. The connection resolves and checks on its own (PinnedBackend),
    so it never goes to the address the check did not see."""
    real, asked = socket.getaddrinfo, []

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name != NAME:
            return real(host, *args, **kwargs)
        asked.append(name)
        answer = "93.184.216.34" if len(asked) == 1 else "127.0.0.1"
        return real(answer, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    endpoint_id = await endpoint_with_an_event(pool, f"http://{NAME}:{listener.pop().decode()}/in")
    try:
        result = await one_round(pool, endpoint_id, allow_insecure=False)
        assert len(asked) >= 2  # the pass's check, then the connection's own lookup
        assert result.delivered == 0 and result.retried >= 1, result
        error = await pool.fetchval(
            "SELECT last_error FROM webhook_deliveries WHERE endpoint_id = $1", endpoint_id
        )
        assert error == "ConnectError", error
        assert listener == []  # not a byte sent
    finally:
        await store.remove_endpoint(pool, endpoint_id)


async def test_secrets_are_sealed_at_rest_and_sign_as_ever(
    pool: asyncpg.Pool, listener: list[bytes]
) -> None:
    """With the codec's keys the stored secret is ciphertext (the key id as associated data);
    the loop opens it to sign, and the receiver verifies with the secret it was given."""
    port = listener.pop().decode()
    ring = {"k1": os.urandom(32), "k0": os.urandom(32)}
    sealer = store.Sealer(ring, "k1")
    secret, endpoint_id = rules.new_secret(), "ep_" + secrets.token_hex(6)
    await store.add_endpoint(pool, endpoint_id=endpoint_id, url=f"http://127.0.0.1:{port}/in",
                             events=["wallet.*"], wallets=None, secret=sealer.seal(secret),
                             created_by="test")  # fmt: skip
    try:
        stored = await pool.fetchval(
            "SELECT secret FROM webhook_endpoints WHERE id = $1", endpoint_id
        )
        assert stored.startswith("sealed:k1:") and secret not in stored
        assert secret.removeprefix("whsec_") not in stored
        assert store.Sealer(ring, "k0").open(stored) == secret  # any key of the ring opens
        with pytest.raises(ValueError, match="sealed with key 'k1', not configured") as caught:
            store.Sealer({"k0": ring["k0"]}, "k0").open(stored)
        assert secret not in str(caught.value)
        tampered = stored[:-4] + ("AAAA" if not stored.endswith("AAAA") else "BBBB")
        with pytest.raises(ValueError, match="does not open"):
            sealer.open(tampered)
        assert store.Sealer().open(secret) == secret  # stored before keys were set
        event = rules.Emitted(event_id=rules.event_id(f"sealed:{endpoint_id}"),
                              type=rules.TEST_TYPE, data={})  # fmt: skip
        await store.emit_test(pool, endpoint_id, event)
        acts = WebhookActivities(pool, WebhookSettings(allow_insecure=True), sealer)
        result = await ActivityEnvironment().run(
            acts.deliver_webhooks, DeliveryState(endpoint_id=endpoint_id, round_seconds=1)
        )
        assert result.delivered == 1
        [request] = listener
        headers = json.loads(request)["headers"]
        body = json.loads(request)["body"].encode()
        Webhook(secret).verify(body, headers)  # signed with the opened secret
    finally:
        await store.remove_endpoint(pool, endpoint_id)
