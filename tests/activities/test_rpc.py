"""Endpoints.call: transient errors get a few rounds over the endpoints, honouring a 429's
Retry-After, before the call fails; every attempt is counted."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from activities import failover as rpc
from activities.failover import Endpoint, Endpoints, RpcUnavailable


class Flaky:
    """A client whose first `failures` calls raise `error`."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def get(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def status_error(code: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("POST", "http://node")
    response = httpx.Response(code, headers=headers, request=request)
    return httpx.HTTPStatusError(f"{code}", request=request, response=response)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    # Only the rpc module's view of asyncio: the session's event loop keeps the real one.
    monkeypatch.setattr(rpc, "asyncio", SimpleNamespace(sleep=sleep))
    return slept


def endpoints(*clients: Flaky, rounds: int = 4) -> Endpoints[Flaky]:
    return Endpoints(
        "test",
        [Endpoint(f"http://node{i}", c) for i, c in enumerate(clients)],
        transient=(httpx.HTTPError,),
        rounds=rounds,
    )


async def test_transient_errors_are_retried_with_backoff(sleeps: list[float]) -> None:
    client = Flaky(3, status_error(503))
    eps = endpoints(client)
    assert await eps.call("getSlot", lambda c: c.get()) == "ok"
    assert client.calls == 4 and eps.calls["getSlot"] == 4
    assert sleeps == [0.25, 0.5, 1.0]


async def test_a_429_waits_for_its_retry_after(sleeps: list[float]) -> None:
    client = Flaky(1, status_error(429, {"Retry-After": "2"}))
    assert await endpoints(client).call("getSlot", lambda c: c.get()) == "ok"
    assert sleeps == [2.0]


async def test_the_next_endpoint_is_tried_before_sleeping(sleeps: list[float]) -> None:
    down, up = Flaky(100, status_error(503)), Flaky(0, status_error(503))
    assert await endpoints(down, up).call("getSlot", lambda c: c.get()) == "ok"
    assert (down.calls, up.calls, sleeps) == (1, 1, [])


async def test_gives_up_after_its_rounds(sleeps: list[float]) -> None:
    client = Flaky(100, status_error(503))
    eps = endpoints(client, rounds=3)
    with pytest.raises(RpcUnavailable):
        await eps.call("getSlot", lambda c: c.get())
    assert client.calls == 3 and eps.calls["getSlot"] == 3


async def test_other_errors_are_not_retried(sleeps: list[float]) -> None:
    client = Flaky(1, ValueError("bad params"))
    with pytest.raises(ValueError):
        await endpoints(client).call("getSlot", lambda c: c.get())
    assert client.calls == 1 and sleeps == []
