"""/healthz, /readyz and /metrics of a worker or bot process (aiohttp).

- `/healthz`: 200 while the process's event loop answers (liveness).
- `/readyz`: 200 when every readiness check passes (the workers poll, PostgreSQL and Temporal
  answer), else 503; 503 from the moment the process starts shutting down, so a load balancer
  or orchestrator stops counting on it before its workers stop. The body names each check.
- `/metrics`: prometheus_client's registry (walletflow's own metrics) followed by the Temporal
  SDK's runtime metrics, fetched from the SDK's loopback endpoint (see starter.runtime.telemetry).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import REGISTRY
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

log = logging.getLogger("walletflow.health")

CHECK_TIMEOUT = 3.0  # a check slower than this counts as failing (probes time out at 5s)

Check = Callable[[], Awaitable[object] | object]


class Health:
    """A process's readiness: named checks (sync or async; falsy or raising means failing)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.checks: dict[str, Check] = {}
        self.stopping = False

    def add_check(self, name: str, check: Check) -> None:
        self.checks[name] = check

    async def report(self) -> tuple[bool, dict[str, str]]:
        if self.stopping:
            return False, {"process": "shutting down"}
        if not self.checks:
            return False, {"process": "starting"}
        names = list(self.checks)
        results = await asyncio.gather(*(self._run(self.checks[n]) for n in names))
        detail = dict(zip(names, results, strict=True))
        return all(r == "ok" for r in results), detail

    @staticmethod
    async def _run(check: Check) -> str:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                result = check()
                if inspect.isawaitable(result):
                    result = await result
        except TimeoutError:
            return f"timed out after {CHECK_TIMEOUT:g}s"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:300]
        return "ok" if result or result is None else "failing"


def watch_workers(health: Health, workers: Sequence[Any], pool: Any, client: Any) -> None:
    """A worker process is ready when each of its workers polls, PostgreSQL answers a query and
    the Temporal frontend reports SERVING."""
    health.add_check("workers", lambda: all(w.is_running for w in workers))
    health.add_check("postgres", lambda: pool.fetchval("SELECT 1"))
    health.add_check("temporal", lambda: client.service_client.check_health())


class OpsServer:
    """Serves /healthz, /readyz and /metrics on each of `ports` (all interfaces: the probes
    and Prometheus come from outside the container)."""

    def __init__(
        self, health: Health, ports: Sequence[int], *, sdk_metrics_url: str | None = None
    ) -> None:
        self.health = health
        self.ports = list(ports)
        self.sdk_metrics_url = sdk_metrics_url
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        return app

    async def start(self) -> None:
        # No access log: probes and scrapes every few seconds would drown the real lines.
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        self._runner = runner
        for port in self.ports:
            await web.TCPSite(runner, "0.0.0.0", port).start()
        log.info("serving /healthz, /readyz, /metrics on port(s) %s", self.ports)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "process": self.health.name})

    async def readyz(self, request: web.Request) -> web.Response:
        ready, checks = await self.health.report()
        return web.json_response(
            {"ready": ready, "process": self.health.name, "checks": checks},
            status=200 if ready else 503,
        )

    async def metrics(self, request: web.Request) -> web.Response:
        text = generate_latest(REGISTRY).decode()
        if self.sdk_metrics_url:
            text += await self._sdk_metrics()
        return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    async def _sdk_metrics(self) -> str:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        try:
            async with self._http.get(self.sdk_metrics_url or "") as resp:
                resp.raise_for_status()
                return await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            # walletflow's metrics still go out; the gap shows as missing temporal_* series.
            log.warning("Temporal SDK metrics unavailable: %s", exc)
            return f"# Temporal SDK metrics unavailable: {type(exc).__name__}\n"
