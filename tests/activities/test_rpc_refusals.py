"""A provider refusing the client (HTTP 401, 403, 429; TronGrid's key and rate-limit errors) is
that endpoint's failure: the call fails over to the next endpoint and the breaker counts it.
When every endpoint fails, the error names them by label: no URL path, query or user part,
where provider API keys live, reaches its text or the failure Temporal records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from pydantic import SecretStr
from solana.rpc.async_api import AsyncClient
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DataConverter

from activities.failover import Endpoint, Endpoints, RpcUnavailable
from activities.solana import adapters as solana_adapters
from activities.tron import adapters as tron_adapters

CANARY = "CANARY123"
GRID_KEY_ERROR = {"Success": False, "Error": "ApiKey not exists"}


class Refuser:
    """A provider that refuses every request with one status and body, counting them."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        self.hits = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, tail: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{tail}"

    async def start(self) -> None:
        async def refuse(request: web.Request) -> web.Response:
            self.hits += 1
            return web.json_response(self.body, status=self.status)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", refuse)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest_asyncio.fixture
async def refuser(request: pytest.FixtureRequest) -> AsyncIterator[Refuser]:
    status, body = getattr(request, "param", (401, GRID_KEY_ERROR))
    server = Refuser(status, body)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


REFUSALS = [
    (401, GRID_KEY_ERROR),
    (403, {"Success": False, "Error": "Exceed the user daily usage (100000)"}),
    (429, {"error": "Too Many Requests"}),
]


async def close(rpc: Endpoints[Any]) -> None:
    for endpoint in rpc.endpoints:
        await endpoint.client.close()


# ---- failover ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "refuser",
    [
        *REFUSALS,
        # TronGrid's refusal answered as data, which tronpy would return as the call's result.
        (200, {"Success": False, "Error": "The key exceeds the frequency limit(15)"}),
    ],
    indirect=True,
)
async def test_tron_refusal_fails_over_to_the_next_endpoint(
    refuser: Refuser, tron_devnet: Any
) -> None:
    rpc = tron_adapters.connect([refuser.url(), tron_devnet.url], api_key=SecretStr("k"))
    try:
        block = await tron_adapters._node(rpc, "walletsolidity/getnowblock", {"visible": True})
        assert block["blockID"]
        grid = await tron_adapters._grid(
            rpc,
            "v1/transactions",
            "/v1/accounts/TXYZopYRdj2D9XRtbG411XZZ3kM5VkAeBf/transactions",
            {},
        )
        assert grid["success"] is True
        assert refuser.hits == 2 and rpc.endpoints[0].breaker.failures == 2
        assert rpc.endpoints[1].breaker.failures == 0
    finally:
        await close(rpc)


async def test_tron_node_errors_are_the_calls_not_the_providers(tron_devnet: Any) -> None:
    """java-tron's own {"Error": "class ..."} answers are data: no failover, no breaker."""
    rpc = tron_adapters.connect([tron_devnet.url])
    try:
        reply = await tron_adapters._node(rpc, "wallet/getaccount", {"address": "nonsense"})
        assert reply["Error"].startswith("class ")
        assert rpc.endpoints[0].breaker.failures == 0
    finally:
        await close(rpc)


@pytest.mark.parametrize("refuser", REFUSALS, indirect=True)
async def test_solana_refusal_fails_over_to_the_next_endpoint(
    refuser: Refuser, solana_devnet: Any
) -> None:
    rpc = solana_adapters.connect([refuser.url(), solana_devnet.url])
    try:
        assert (await rpc.call("getSlot", AsyncClient.get_slot)).value >= 0
        assert refuser.hits == 1 and rpc.endpoints[0].breaker.failures == 1
    finally:
        await close(rpc)


async def test_refusals_open_the_breaker(refuser: Refuser, solana_devnet: Any) -> None:
    rpc = solana_adapters.connect([refuser.url(), solana_devnet.url])
    threshold = rpc.endpoints[0].breaker.threshold
    try:
        for _ in range(threshold + 3):
            await rpc.call("getSlot", AsyncClient.get_slot)
        assert rpc.endpoints[0].breaker.is_open and refuser.hits == threshold
    finally:
        await close(rpc)


class Refusing:
    def __init__(self, status: int) -> None:
        self.status = status

    async def get(self) -> str:
        request = httpx.Request("POST", "http://node")
        response = httpx.Response(self.status, request=request)
        raise httpx.HTTPStatusError(str(self.status), request=request, response=response)


class Answering:
    async def get(self) -> str:
        return "ok"


@pytest.mark.parametrize("status", [401, 403, 429])
async def test_a_refusal_fails_over_whatever_the_chains_transient_errors(status: int) -> None:
    rpc: Endpoints[Any] = Endpoints(
        "test", [Endpoint("http://a", Refusing(status)), Endpoint("http://b", Answering())], ()
    )
    assert await rpc.call("get", lambda c: c.get()) == "ok"
    assert rpc.endpoints[0].breaker.failures == 1


async def test_other_http_errors_still_follow_the_chains_transient_errors() -> None:
    rpc: Endpoints[Any] = Endpoints(
        "test", [Endpoint("http://a", Refusing(400)), Endpoint("http://b", Answering())], ()
    )
    with pytest.raises(httpx.HTTPStatusError):
        await rpc.call("get", lambda c: c.get())


# ---- no secret in the error -------------------------------------------------------------------


def texts(exc: BaseException) -> str:
    """Everything a person may see of `exc`: its text, its repr, and the failure that Temporal
    would record for an activity raising it (causes included)."""
    failure = Failure()
    DataConverter.default.failure_converter.to_failure(
        exc, DataConverter.default.payload_converter, failure
    )
    return f"{exc}\n{exc!r}\n{failure}"


@pytest.mark.parametrize("refuser", [(429, {"error": "Too Many Requests"})], indirect=True)
async def test_solana_rpc_unavailable_names_labels_not_urls(refuser: Refuser) -> None:
    urls = [
        refuser.url(f"/?api-key={CANARY}"),
        refuser.url(f"/{CANARY}/").replace("//", f"//user:{CANARY}@", 1),
    ]
    rpc = solana_adapters.connect(urls)
    rpc.rounds = 1
    try:
        # What the client library says carries the key: the test would see a leak.
        with pytest.raises(Exception) as raw:
            await rpc.call_on(rpc.endpoints[0], "getSlot", AsyncClient.get_slot)
        assert CANARY in str(raw.value.__cause__)

        with pytest.raises(RpcUnavailable) as unavailable:
            await rpc.call("getSlot", AsyncClient.get_slot)
        text = texts(unavailable.value)
        assert CANARY not in text and "api-key" not in text
        host = f"127.0.0.1:{refuser.port}"
        assert f"solana#1 ({host})" in text and f"solana#2 ({host})" in text
        assert "HTTP 429" in text
    finally:
        await close(rpc)


@pytest.mark.parametrize("refuser", [(401, GRID_KEY_ERROR)], indirect=True)
async def test_tron_rpc_unavailable_names_labels_not_urls(refuser: Refuser) -> None:
    rpc = tron_adapters.connect([refuser.url(f"/{CANARY}/")], api_key=SecretStr(CANARY))
    rpc.rounds = 1
    try:
        with pytest.raises(RpcUnavailable) as unavailable:
            await tron_adapters._node(rpc, "walletsolidity/getnowblock", {})
        text = texts(unavailable.value)
        assert CANARY not in text
        assert f"tron#1 (127.0.0.1:{refuser.port})" in text and "HTTP 401" in text
    finally:
        await close(rpc)
