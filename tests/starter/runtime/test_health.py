"""Health and the ops server in process: readiness follows its checks (failing, raising, slow)
and shutdown; /metrics joins walletflow's registry and the Temporal SDK's text, and still
answers when the SDK endpoint does not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from activities import metrics
from starter.devstack import free_port
from starter.runtime import health as health_module
from starter.runtime.health import Health, OpsServer

SDK_TEXT = (
    "# HELP temporal_worker_task_slots_available Task slots\n"
    "# TYPE temporal_worker_task_slots_available gauge\n"
    'temporal_worker_task_slots_available{task_queue="q",worker_type="ActivityWorker"} 7\n'
)


async def test_ready_only_when_every_check_passes() -> None:
    h = Health("test")
    assert await h.report() == (False, {"process": "starting"})
    h.add_check("sync", lambda: True)

    async def db() -> int:
        return 1

    h.add_check("async", db)
    assert await h.report() == (True, {"sync": "ok", "async": "ok"})

    h.add_check("workers", lambda: False)
    ready, detail = await h.report()
    assert not ready and detail["workers"] == "failing" and detail["sync"] == "ok"


async def test_raising_and_slow_checks_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health_module, "CHECK_TIMEOUT", 0.2)
    h = Health("test")

    async def refused() -> None:
        raise ConnectionRefusedError("connection refused")

    async def hangs() -> None:
        await asyncio.sleep(10)

    h.add_check("postgres", refused)
    h.add_check("temporal", hangs)
    ready, detail = await h.report()
    assert not ready
    assert detail["postgres"].startswith("ConnectionRefusedError")
    assert detail["temporal"].startswith("timed out")


async def test_not_ready_while_stopping() -> None:
    h = Health("test")
    h.add_check("ok", lambda: True)
    h.stopping = True
    assert await h.report() == (False, {"process": "shutting down"})


@pytest_asyncio.fixture
async def sdk_endpoint() -> AsyncIterator[str]:
    async def serve(request: web.Request) -> web.Response:
        return web.Response(text=SDK_TEXT, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        await runner.cleanup()


async def test_ops_server_endpoints(sdk_endpoint: str) -> None:
    h = Health("worker test")
    passing = {"value": True}
    h.add_check("workers", lambda: passing["value"])
    health_port, metrics_port = free_port(), free_port()
    server = OpsServer(h, [health_port, metrics_port], sdk_metrics_url=sdk_endpoint)
    await server.start()
    metrics.notification("sent")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{health_port}") as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            assert ready.json() == {
                "ready": True,
                "process": "worker test",
                "checks": {"workers": "ok"},
            }
            passing["value"] = False
            not_ready = await http.get("/readyz")
            assert not_ready.status_code == 503 and not_ready.json()["ready"] is False

            scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain; version=0.0.4")
            assert "walletflow_notifications_total" in scraped.text
            assert 'temporal_worker_task_slots_available{task_queue="q"' in scraped.text
    finally:
        await server.stop()


async def test_metrics_still_answer_without_the_sdk_endpoint() -> None:
    port = free_port()
    server = OpsServer(
        Health("t"), [port], sdk_metrics_url=f"http://127.0.0.1:{free_port()}/metrics"
    )
    await server.start()
    try:
        async with httpx.AsyncClient() as http:
            scraped = await http.get(f"http://127.0.0.1:{port}/metrics")
        assert scraped.status_code == 200
        assert "walletflow_" in scraped.text
        assert "# Temporal SDK metrics unavailable" in scraped.text
    finally:
        await server.stop()
