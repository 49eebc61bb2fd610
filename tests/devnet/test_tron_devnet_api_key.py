"""The TRON devnet as TronGrid's gateway: `require_api_key` (`--require-api-key KEY`) refuses
calls without that TRON-PRO-API-KEY header, and injected 429 / 403 faults carry TronGrid's
bodies. Through plain httpx and tronpy, as clients see it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from tronpy import AsyncTron
from tronpy.providers.async_http import AsyncHTTPProvider

from devnet.tron import TronDevnet, TronDevnetConfig
from devnet.tron.__main__ import parse_args

KEY = "devnet-key-5c2e"
HEADER = "TRON-PRO-API-KEY"


@pytest_asyncio.fixture(scope="module")
async def devnet() -> AsyncIterator[TronDevnet]:
    net = TronDevnet(TronDevnetConfig(auto_produce=False, accounts=2, require_api_key=KEY))
    await net.start()
    try:
        yield net
    finally:
        await net.stop()


@pytest_asyncio.fixture
async def http(devnet: TronDevnet) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=devnet.url, timeout=10) as client:
        yield client


@pytest.mark.parametrize("path", ["/wallet/getnowblock", "/walletsolidity/getnowblock"])
async def test_calls_without_the_key_get_401(http: httpx.AsyncClient, path: str) -> None:
    missing = await http.post(path, json={})
    wrong = await http.post(path, json={}, headers={HEADER: KEY + "x"})
    for reply in (missing, wrong):
        assert reply.status_code == 401
        body = reply.json()
        assert body["Success"] is False and "ApiKey" in body["Error"]
        assert KEY not in reply.text
    right = await http.post(path, json={}, headers={HEADER: KEY})
    assert right.status_code == 200 and right.json()["blockID"]


async def test_trongrid_routes_need_the_key_too(
    devnet: TronDevnet, http: httpx.AsyncClient
) -> None:
    address = devnet.info()["accounts"][0]["address"]
    path = f"/v1/accounts/{address}/transactions"
    assert (await http.get(path)).status_code == 401
    assert (await http.get(path, headers={HEADER: KEY})).json()["success"] is True


async def test_admin_routes_stay_open(http: httpx.AsyncClient) -> None:
    assert (await http.get("/_devnet/faults")).status_code == 200
    assert (await http.get("/_devnet/stats")).status_code == 200


async def test_tronpy_with_its_own_key_is_refused(devnet: TronDevnet) -> None:
    """tronpy sends its `api_key` only to URLs containing "trongrid": not to this one."""
    async with AsyncTron(AsyncHTTPProvider(devnet.url, api_key=KEY)) as tron:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await tron.get_latest_block_number()
    assert refused.value.response.status_code == 401


async def test_open_devnet_needs_no_key() -> None:
    net = TronDevnet(TronDevnetConfig(auto_produce=False, accounts=1))
    await net.start()
    try:
        async with httpx.AsyncClient(base_url=net.url) as http:
            assert (await http.post("/wallet/getnowblock", json={})).status_code == 200
    finally:
        await net.stop()


@pytest.mark.parametrize(
    ("knobs", "status", "error"),
    [
        ({"rate_429": 1.0, "retry_after": 4}, 429, "allowed_rps"),
        ({"rate_403": 1.0}, 403, "Exceed the user daily usage"),
    ],
)
async def test_injected_refusals_look_like_trongrids(
    devnet: TronDevnet, http: httpx.AsyncClient, knobs: dict[str, float], status: int, error: str
) -> None:
    assert (await http.post("/_devnet/faults", json=knobs)).status_code == 200
    try:
        reply = await http.post("/wallet/getnowblock", json={}, headers={HEADER: KEY})
        assert reply.status_code == status
        assert reply.json()["Success"] is False and error in reply.json()["Error"]
        if status == 429:
            assert reply.headers["Retry-After"] == "4"
        # The key is checked first: a call without it is refused for that, not rate-limited.
        assert (await http.post("/wallet/getnowblock", json={})).status_code == 401
    finally:
        await http.post("/_devnet/faults", json={"rate_429": 0, "rate_403": 0})


def test_cli_option() -> None:
    assert parse_args(["--require-api-key", KEY]).require_api_key == KEY
    assert parse_args([]).require_api_key is None


def test_the_key_is_not_in_the_config_repr() -> None:
    config = TronDevnetConfig(require_api_key=KEY)
    assert KEY not in repr(config) and KEY not in str(config.model_dump())
