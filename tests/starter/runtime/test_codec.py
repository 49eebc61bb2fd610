"""The payload codec against a real Temporal server: every payload kind encrypted (failures
too), two-key rotation, plaintext written before the codec still read, and the codec server
that the `temporal` CLI and the Web UI decode through."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from core.errors import UserError
from starter.client import connect
from starter.devstack import free_port
from starter.runtime.codec import ENCODING, KEY_ID, EncryptionCodec, KeyRing, UnknownKey, new_key
from starter.runtime.codec_server import ALLOWED_HEADERS, COOKIE, make_app
from starter.runtime.settings import load_settings
from tests.starter.runtime.codec_workflow import CodecWorkflow, echo, fail
from tests.support.cli import temporal
from tests.support.stack import eventually

KEY_A, KEY_B = new_key("a"), new_key("b")
TOKEN = "codec-token-" + uuid.uuid4().hex
UI = "http://localhost:8233"


def address(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


async def codec_client(env: WorkflowEnvironment, keys: str) -> Client:
    """A client as every walletflow process makes it (starter.client.connect)."""
    return await connect(load_settings(TEMPORAL_ADDRESS=address(env), WALLETFLOW_CODEC_KEYS=keys))


def codec_worker(client: Client, queue: str) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[CodecWorkflow],
        activities=[echo, fail],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )


async def run_scenario(client: Client, marker: str) -> tuple[WorkflowHandle[Any, Any], dict]:
    """Every payload kind carries `marker`: input, memo, activity input and result, signal,
    update (argument and result), query result, workflow result, failure message."""
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with codec_worker(client, queue):
        handle = await client.start_workflow(
            CodecWorkflow.run,
            marker,
            id=f"codec-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            memo={"note": f"memo {marker}"},
        )
        await handle.signal(CodecWorkflow.note, marker)
        seen = await eventually(lambda: _both(handle))
        updated = await handle.execute_update(CodecWorkflow.finish, marker)
        result = await handle.result()
    memo = await (await handle.describe()).memo()
    return handle, {"seen": seen, "updated": updated, "result": result, "memo": memo}


async def _both(handle: WorkflowHandle[Any, Any]) -> list[str] | None:
    seen: list[str] = await handle.query(CodecWorkflow.status)
    return sorted(seen) if len(seen) == 2 else None


@pytest_asyncio.fixture
async def raw(temporal_env: WorkflowEnvironment) -> Client:
    """Raw Temporal access, as anyone who reaches the frontend has: no codec."""
    return await Client.connect(address(temporal_env))


async def test_every_payload_kind_is_encrypted_and_round_trips(
    temporal_env: WorkflowEnvironment, raw: Client
) -> None:
    marker = f"plain-{uuid.uuid4().hex}"
    client = await codec_client(temporal_env, KEY_A)
    handle, got = await run_scenario(client, marker)
    assert got == {
        "seen": [f"echo {marker}", f"signal {marker}"],
        "updated": f"update {marker}",
        "result": f"result {marker} after 2",
        "memo": {"note": f"memo {marker}"},
    }
    history = await raw.get_workflow_handle(handle.id).fetch_history()
    text = history.to_json()
    assert marker not in visible(text)
    assert "failed on" not in visible(text)  # the failure's message and stack trace too
    failures = [
        e.activity_task_failed_event_attributes.failure
        for e in history.events
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert [f.message for f in failures] == ["Encoded failure"]
    assert failures[0].encoded_attributes.metadata["encoding"] == ENCODING
    # Every payload in the history is ours, with the key id of the ring's first key.
    payloads = [p for p in _payloads(json.loads(text)) if p.get("data")]
    assert payloads, "the history should hold payloads"
    for p in payloads:
        assert _meta(p, "encoding") == ENCODING.decode()
        assert _meta(p, KEY_ID) == "a"
    # The codec's client reads the failure back in clear.
    decoded = await client.get_workflow_handle(handle.id).fetch_history()
    events = [e for e in decoded.events if e.HasField("activity_task_failed_event_attributes")]
    decoded_failure = await client.data_converter.decode_failure(
        events[0].activity_task_failed_event_attributes.failure
    )
    assert f"failed on {marker}" in str(decoded_failure)


async def test_rotation_keeps_old_histories_readable(
    temporal_env: WorkflowEnvironment, raw: Client
) -> None:
    old_marker, new_marker = f"old-{uuid.uuid4().hex}", f"new-{uuid.uuid4().hex}"
    old, _ = await run_scenario(await codec_client(temporal_env, KEY_A), old_marker)
    rotated = await codec_client(temporal_env, f"{KEY_B},{KEY_A}")  # b encrypts, a decrypts
    assert await rotated.get_workflow_handle(old.id).result() == f"result {old_marker} after 2"
    new, got = await run_scenario(rotated, new_marker)
    assert got["result"] == f"result {new_marker} after 2"
    new_history = json.loads((await raw.get_workflow_handle(new.id).fetch_history()).to_json())
    assert {_meta(p, KEY_ID) for p in _payloads(new_history) if p.get("data")} == {"b"}
    # Dropping key a too early: the old history no longer decrypts, and says which key it needs.
    only_b = EncryptionCodec(KeyRing.parse(KEY_B))
    old_history = await raw.get_workflow_handle(old.id).fetch_history()
    started = old_history.events[0].workflow_execution_started_event_attributes
    with pytest.raises(UnknownKey, match="key id 'a'"):
        await only_b.decode(started.input.payloads)


async def test_plaintext_from_before_the_codec_is_read(
    temporal_env: WorkflowEnvironment, raw: Client
) -> None:
    """A workflow started in clear (before the codec was turned on, or by a raw client) runs on
    an encrypting worker, and its plaintext input decodes as it is."""
    marker = f"clear-{uuid.uuid4().hex}"
    client = await codec_client(temporal_env, KEY_A)
    queue = f"codec-{uuid.uuid4().hex[:8]}"
    async with codec_worker(client, queue):
        handle = await raw.start_workflow(
            "CodecWorkflow", marker, id=f"codec-{uuid.uuid4().hex[:8]}", task_queue=queue
        )
        await client.get_workflow_handle(handle.id).execute_update(CodecWorkflow.finish, "x")
        assert await client.get_workflow_handle(handle.id).result() == f"result {marker} after 1"
    history = visible((await raw.get_workflow_handle(handle.id).fetch_history()).to_json())
    assert marker in history  # the input, written in clear, stays so
    assert f"result {marker}" not in history  # what the worker wrote is encrypted


def test_key_ring_errors_are_one_line_and_never_echo_a_key() -> None:
    key = KEY_A.partition(":")[2]
    for bad in (key, f"a:{key[:-4]}", f"a:{key},a:{key}", "", "a b:" + key):
        with pytest.raises(UserError) as caught:
            KeyRing.parse(bad)
        assert "\n" not in str(caught.value)
        assert key[:-4] not in str(caught.value)
    ring = KeyRing.parse(f"{KEY_B}\n{KEY_A}")
    assert (ring.active, sorted(ring.keys)) == ("b", ["a", "b"])


# ---- the codec server --------------------------------------------------------------------


@pytest_asyncio.fixture
async def codec_server() -> AsyncIterator[str]:
    runner = web.AppRunner(make_app(KeyRing.parse(f"{KEY_B},{KEY_A}"), TOKEN, UI))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _body(*payloads: Payload) -> dict[str, Any]:
    return {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                "data": base64.b64encode(p.data).decode(),
            }
            for p in payloads
        ]
    }


async def test_codec_server_decodes_only_for_the_token_or_a_session(codec_server: str) -> None:
    codec = EncryptionCodec(KeyRing.parse(KEY_A))
    clear = Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')
    sealed = codec.encrypt(clear)
    stranger = EncryptionCodec(KeyRing.parse(new_key("z"))).encrypt(clear)
    body = _body(sealed, clear, stranger)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    # unsafe: keep cookies of an IP-address host (127.0.0.1), as a browser does
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{codec_server}/decode", json=body) as r:
            assert r.status == 401
        async with http.post(
            f"{codec_server}/decode", json=body, headers={"Authorization": "Bearer wrong"}
        ) as r:
            assert r.status == 401
        async with http.post(f"{codec_server}/decode", json=body, headers=bearer) as r:
            assert r.status == 200
            out = (await r.json())["payloads"]
        # decrypted; plaintext and an unknown key id pass through unchanged
        assert [base64.b64decode(p["data"]) for p in out] == [b'"hello"', b'"hello"', stranger.data]
        async with http.post(f"{codec_server}/encode", json=_body(clear), headers=bearer) as r:
            [encoded] = (await r.json())["payloads"]
        assert _meta(encoded, KEY_ID) == "b"  # the ring's first key encrypts
        # The Web UI: a session cookie from /login, then no Authorization header.
        async with http.post(f"{codec_server}/login", data={"token": "wrong"}) as r:
            assert r.status == 401
        assert COOKIE not in {c.key for c in http.cookie_jar}
        async with http.post(f"{codec_server}/login", data={"token": TOKEN}) as r:
            assert r.status == 200
            cookie = r.cookies[COOKIE]
            assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with http.post(f"{codec_server}/decode", json=_body(sealed)) as r:
            assert r.status == 200
            assert base64.b64decode((await r.json())["payloads"][0]["data"]) == b'"hello"'
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # a forged cookie is not a session
        http.cookie_jar.update_cookies({COOKIE: "99999999999.deadbeef"})
        async with http.post(f"{codec_server}/decode", json=_body(sealed)) as r:
            assert r.status == 401


async def test_codec_server_cors_allows_exactly_the_ui(codec_server: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.options(
            f"{codec_server}/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        ) as r:
            assert r.status == 204
            assert r.headers["Access-Control-Allow-Origin"] == UI
            assert r.headers["Access-Control-Allow-Credentials"] == "true"
            assert r.headers["Access-Control-Allow-Headers"] == ALLOWED_HEADERS
        async with http.options(
            f"{codec_server}/decode", headers={"Origin": "http://evil.example"}
        ) as r:
            assert "Access-Control-Allow-Origin" not in r.headers
        async with http.post(
            f"{codec_server}/decode", json={"payloads": []}, headers={"Origin": UI}
        ) as r:  # a refusal still carries CORS headers, so the UI can read the 401
            assert r.status == 401
            assert r.headers["Access-Control-Allow-Origin"] == UI


async def test_temporal_cli_shows_decoded_payloads_through_the_codec_server(
    temporal_env: WorkflowEnvironment, codec_server: str
) -> None:
    marker = f"cli-{uuid.uuid4().hex}"
    handle, _ = await run_scenario(await codec_client(temporal_env, KEY_A), marker)
    show = ("workflow", "show", "--workflow-id", handle.id, "--output", "json")
    sealed = await temporal(address(temporal_env), *show)
    assert sealed.returncode == 0, sealed.stderr
    assert marker not in visible(sealed.stdout)
    opened = await temporal(
        address(temporal_env),
        *show,
        "--codec-endpoint",
        codec_server,
        "--codec-auth",
        f"Bearer {TOKEN}",
    )
    assert opened.returncode == 0, opened.stderr
    assert marker in visible(opened.stdout)
    refused = await temporal(
        address(temporal_env), *show, "--codec-endpoint", codec_server, "--codec-auth", "Bearer x"
    )
    assert refused.returncode != 0 and marker not in refused.stdout  # 401: the CLI stops


def visible(history_json: str) -> str:
    """What a reader of a history sees: its JSON plus every payload's data, base64-decoded."""
    data = [base64.b64decode(p.get("data", "")) for p in _payloads(json.loads(history_json))]
    return history_json + "\n".join(d.decode(errors="replace") for d in data)


def _payloads(doc: Any) -> list[dict[str, Any]]:
    """Every Payload-shaped object in a history's JSON."""
    found = []
    if isinstance(doc, dict):
        if (
            "metadata" in doc
            and isinstance(doc["metadata"], dict)
            and "encoding" in doc["metadata"]
        ):
            found.append(doc)
        for value in doc.values():
            found += _payloads(value)
    elif isinstance(doc, list):
        for value in doc:
            found += _payloads(value)
    return found


def _meta(payload: dict[str, Any], key: str) -> str:
    return base64.b64decode(payload["metadata"][key]).decode()
