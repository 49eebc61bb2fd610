"""A small base for the devnet HTTP servers: start on a port (0 = any free one), stop cleanly."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from devnet.faults import Faults, add_fault_routes, faults_middleware
from devnet.stats import RequestStats, add_stats_routes, stats_middleware


class DevnetServer:
    """Base class: subclasses build `self.app` routes in `setup_routes` and describe themselves
    in `info()` (what `devnet.json` records about them)."""

    name = "devnet"

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.stats = RequestStats()  # outermost: injected faults are counted too
        self.app = web.Application(
            middlewares=[stats_middleware(self.stats), *self.middlewares()],
            client_max_size=8 * 1024**2,
        )
        add_fault_routes(self.app, self.faults)
        add_stats_routes(self.app, self.stats)
        self.setup_routes(self.app)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def middlewares(self) -> list[Any]:
        """Telegram overrides this to answer injected 429s the way the Bot API does."""
        return [faults_middleware(self.faults)]

    def setup_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def on_start(self) -> None:
        """Background tasks (block production, ...) start here."""

    async def on_stop(self) -> None:
        """Background tasks stop and state is saved here."""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        bound_port = self._runner.addresses[0][1]  # the real port when 0 was asked for
        self.url = f"http://{host}:{bound_port}"
        await self.on_start()
        return self.url

    async def stop(self) -> None:
        await self.on_stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def info(self) -> dict[str, Any]:
        return {"url": self.url}
