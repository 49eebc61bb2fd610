"""Request counters on every devnet: what clients really asked for, per method.

`GET /_devnet/stats` answers `{"since", "seconds", "requests", "methods": {method: n},
"statuses": {"200": n, "429": n, ...}, "refused": {method: n}}` (refused: answered with an
HTTP status >= 400); `POST /_devnet/stats/reset` zeroes them. A JSON-RPC
batch counts each call in it. Methods are JSON-RPC method names (Solana), the Bot API method
(Telegram), or the route (TRON: `walletsolidity/getblockbynum`,
`v1/accounts/{address}/transactions`). Injected faults are counted too: they are requests.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devnet.faults import ADMIN_PREFIX


class RequestStats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.since = time.time()
        self.requests = 0
        self.methods: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def snapshot(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "seconds": round(time.time() - self.since, 3),
            "requests": self.requests,
            "methods": dict(self.methods),
            "statuses": dict(self.statuses),
            "refused": dict(self.refused),
        }


async def _methods(request: web.Request) -> list[str]:
    if request.method == "POST" and request.path.rstrip("/") == "":
        try:
            body = await request.json()  # aiohttp caches the body: the handler reads it again
        except ValueError:
            return ["(not json)"]
        calls = body if isinstance(body, list) else [body]
        return [str(c.get("method")) if isinstance(c, dict) else "?" for c in calls]
    info = request.match_info
    if "method" in info:
        return [info["method"]]
    resource = info.route.resource
    return [(resource.canonical if resource is not None else request.path).lstrip("/")]


def stats_middleware(stats: RequestStats) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        methods = await _methods(request)
        stats.requests += 1
        stats.methods.update(methods)
        status = 500  # what aiohttp answers for an unhandled error
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            stats.statuses[str(status)] += 1
            if status >= 400:
                stats.refused.update(methods)

    return middleware


def add_stats_routes(app: web.Application, stats: RequestStats) -> None:
    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(stats.snapshot())

    async def reset_stats(request: web.Request) -> web.Response:
        stats.reset()
        return web.json_response(stats.snapshot())

    app.router.add_get(ADMIN_PREFIX + "stats", get_stats)
    app.router.add_post(ADMIN_PREFIX + "stats/reset", reset_stats)
