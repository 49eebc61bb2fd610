"""The circuit breaker and the failover of `Endpoints.call`, with fake clients and a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from activities import failover as rpc_module
from activities import metrics
from activities.failover import CircuitBreaker, Endpoint, Endpoints, RpcUnavailable


class Clock:
    """Stands in for `time` inside activities.failover only (asyncio keeps the real one)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock(100.0)
    monkeypatch.setattr(rpc_module, "time", c)
    return c


class Down(Exception):
    """A transient failure: the endpoint did not answer."""


class Fake:
    def __init__(self, name: str, *, up: bool = True) -> None:
        self.name = name
        self.up = up
        self.calls = 0

    async def get(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if not self.up:
            raise Down(self.name)
        return self.name


def endpoints(*fakes: Fake, threshold: int = 3, cooldown: float = 10.0) -> Endpoints[Fake]:
    return Endpoints(
        "solana",
        [
            Endpoint(f"http://{f.name}.example:8899/key", f, CircuitBreaker(threshold, cooldown))
            for f in fakes
        ],
        transient=(Down,),
    )


# ---- the breaker alone -----------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    b = CircuitBreaker(threshold=3, cooldown=10)
    b.failure(0)
    b.failure(1)
    assert b.available(1.5) and not b.is_open
    b.failure(2)
    assert b.is_open and not b.available(2.1) and not b.available(11.9)


def test_a_success_resets_the_count() -> None:
    b = CircuitBreaker(threshold=3, cooldown=10)
    b.failure(0)
    b.failure(1)
    b.success()
    b.failure(2)
    b.failure(3)
    assert not b.is_open and b.available(3)


def test_half_open_lets_one_probe_through_at_a_time() -> None:
    b = CircuitBreaker(threshold=2, cooldown=10)
    b.failure(0)
    b.failure(0)
    assert b.available(10)  # the probe
    assert not b.available(10.1)  # concurrent callers keep away while it is out
    assert not b.available(19.9)
    assert b.available(20.1)  # its outcome never came back: another probe, a cooldown later


def test_failed_probe_reopens_for_another_cooldown() -> None:
    b = CircuitBreaker(threshold=2, cooldown=10)
    b.failure(0)
    b.failure(0)
    assert b.available(10)
    b.failure(10.5)
    assert b.is_open and not b.available(20) and b.available(20.5)


def test_successful_probe_closes_it() -> None:
    b = CircuitBreaker(threshold=2, cooldown=10)
    b.failure(0)
    b.failure(0)
    assert b.available(10)
    b.success()
    assert not b.is_open and b.available(10.1) and b.available(10.2)


# ---- failover through Endpoints.call ---------------------------------------------------------


async def test_failover_to_the_next_endpoint_and_breaker_skips_the_dead_one(clock: Clock) -> None:
    dead, live = Fake("dead", up=False), Fake("live")
    rpc = endpoints(dead, live, threshold=3, cooldown=10)

    for _ in range(3):
        assert await rpc.call("getSlot", Fake.get) == "live"
    assert dead.calls == 3 and rpc.endpoints[0].breaker.is_open

    for _ in range(20):  # open: the dead endpoint is not even tried
        assert await rpc.call("getSlot", Fake.get) == "live"
    assert dead.calls == 3 and live.calls == 23

    clock.now += 10  # half-open: one probe, still dead, open again
    assert await rpc.call("getSlot", Fake.get) == "live"
    assert await rpc.call("getSlot", Fake.get) == "live"
    assert dead.calls == 4

    dead.up = True
    clock.now += 10  # the next probe succeeds and the endpoint is back in front
    assert await rpc.call("getSlot", Fake.get) == "dead"
    assert await rpc.call("getSlot", Fake.get) == "dead"
    assert not rpc.endpoints[0].breaker.is_open


async def test_concurrent_calls_send_one_probe_to_a_half_open_endpoint(clock: Clock) -> None:
    dead, live = Fake("dead", up=False), Fake("live")
    rpc = endpoints(dead, live, threshold=2, cooldown=10)
    for _ in range(2):
        await rpc.call("getSlot", Fake.get)
    clock.now += 10
    results = await asyncio.gather(*(rpc.call("getTransaction", Fake.get) for _ in range(8)))
    assert results == ["live"] * 8
    assert dead.calls == 3  # two before it opened, one probe


async def test_every_endpoint_down_raises_rpc_unavailable_and_counts_errors() -> None:
    a, b = Fake("a", up=False), Fake("b", up=False)
    rpc = endpoints(a, b, threshold=100)
    errors = metrics.RPC_ERRORS.labels("solana", "a.example:8899", "getBalance", "Down")
    before = errors._value.get()
    with pytest.raises(RpcUnavailable):
        await rpc.call("getBalance", Fake.get)
    assert a.calls >= 1 and b.calls >= 1
    assert errors._value.get() - before == a.calls


async def test_all_open_still_tries_them_rather_than_failing_unasked(clock: Clock) -> None:
    """With every breaker open, a call still goes out: the providers may be back, and failing
    without asking would turn a short outage into a long one."""
    a, b = Fake("a", up=False), Fake("b", up=False)
    rpc = endpoints(a, b, threshold=1, cooldown=60)
    with pytest.raises(RpcUnavailable):
        await rpc.call("getSlot", Fake.get)
    a.up = True
    assert await rpc.call("getSlot", Fake.get) == "a"


def test_metric_labels_never_carry_the_url_path_or_credentials() -> None:
    assert metrics.endpoint_label("https://user:pw@rpc.example.com/v2/SECRET?api-key=X") == (
        "rpc.example.com"
    )
    assert metrics.endpoint_label("http://127.0.0.1:8899") == "127.0.0.1:8899"
    assert metrics.endpoint_label("not a url") == "?"
