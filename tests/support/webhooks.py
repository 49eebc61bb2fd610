"""A real webhook receiver for tests: an aiohttp server that verifies each delivery with the
independent `standardwebhooks` package (as a customer's receiver would) and keeps what it got.

`answer` sets what it replies (200 by default; 503 while "down", 400 to refuse). Every
request is kept in `requests`, and the verified ones in `events` (by arrival)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    event_id: str
    type: str
    body: dict[str, Any]
    headers: dict[str, str]
    verified_with: list[int]  # indexes into Receiver.secrets that verify it


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)  # what the receiver trusts
    answer: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    events: list[Received] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append({"headers": headers, "body": body, "answer": self.answer})
        if self.answer != 200:
            return web.Response(status=self.answer)
        verified = []
        for n, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(body, headers)
                verified.append(n)
            except WebhookVerificationError:
                continue
        if not verified:
            return web.Response(status=401, text="bad signature")
        doc = json.loads(body)
        self.events.append(Received(doc["event_id"], doc["type"], doc, headers, verified))
        return web.Response(status=204)

    def ids(self, prefix: str = "") -> list[str]:
        return [e.event_id for e in self.events if e.type.startswith(prefix)]
