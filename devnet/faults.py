"""Fault injection shared by every devnet.

Real providers fail in a handful of ways that matter to money-moving code: 5xx errors, added
latency, HTTP 429 rate limits, HTTP 403 refusals (a quota used up, a key blocked) and - the
dangerous one - a broadcast that was accepted while its
response never reached the client. Each devnet mounts `faults_middleware` and the admin routes
from `add_fault_routes`; broadcast handlers call `Faults.lose_response()` after accepting a
transaction and, when it says so, `drop_connection(request)` instead of answering.

Admin endpoint (on every devnet): `GET /_devnet/faults` shows the knobs, `POST /_devnet/faults`
with a JSON object changes any of them, e.g. `{"error_rate": 0.1, "rate_429": 0.05}`.

The `ws_*` knobs act on websocket subscriptions (the Solana devnet's PubSub, which reads them
on every notification and connection): connections dropped after a while, notifications delayed
or lost, a per-connection subscription cap. `only_methods` does not apply to them. The HTTP
knobs (latency, 5xx, 429, 403) also apply to the websocket upgrade request itself.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, PrivateAttr

ADMIN_PREFIX = "/_devnet/"


class Faults(BaseModel):
    """The knobs. Rates are probabilities per request (0..1), not amounts."""

    error_rate: float = Field(0.0, ge=0, le=1, description="answer 503 to this share of calls")
    rate_429: float = Field(0.0, ge=0, le=1, description="answer 429 to this share of calls")
    retry_after: int = Field(1, ge=0, description="seconds advertised with an injected 429")
    rate_403: float = Field(0.0, ge=0, le=1, description="answer 403 to this share of calls")
    latency_ms: int = Field(0, ge=0, description="added before every answer")
    lost_response_rate: float = Field(
        0.0, ge=0, le=1, description="broadcasts accepted, then the connection is dropped"
    )
    refuse_rate: float = Field(
        0.0,
        ge=0,
        le=1,
        description="broadcasts of the `refuse_kinds` refused as the chain refuses an invalid "
        "one (TRON: CONTRACT_VALIDATE_ERROR), nothing executed: a resource delegation that "
        "fails midway, say",
    )
    refuse_kinds: list[str] | None = Field(
        None,
        description="transaction kinds `refuse_rate` applies to (TRON contract types, e.g. "
        "'DelegateResourceContract'); None: every broadcast",
    )
    seed: int | None = Field(None, description="seed for reproducible fault sequences")
    only_methods: list[str] | None = Field(
        None,
        description="limit faults to these methods: JSON-RPC method names (Solana) or the last "
        "path segment (TRON 'broadcasttransaction', Telegram 'sendMessage'); None: every call. "
        "The ws_* knobs ignore it: they apply to every websocket connection",
    )
    # Websocket (Solana PubSub) faults: what providers do to long-lived subscriptions.
    ws_drop_every_s: float = Field(
        0.0,
        ge=0,
        description="abort every websocket connection (no close frame) once it has been open "
        "this many seconds, as providers recycle connections; 0 = never",
    )
    ws_delay_ms: int = Field(
        0,
        ge=0,
        description="delay each websocket notification (a connection is one ordered stream: "
        "a reply queued behind a delayed notification waits for it)",
    )
    ws_lose_rate: float = Field(
        0.0, ge=0, le=1, description="drop this share of websocket notifications silently"
    )
    ws_max_subscriptions: int = Field(
        0,
        ge=0,
        description="subscriptions allowed per websocket connection; a subscribe above it "
        "answers a JSON-RPC error; 0 = unlimited",
    )

    model_config = {"validate_assignment": True}
    _rng: random.Random = PrivateAttr(default_factory=random.Random)

    def model_post_init(self, _context: Any) -> None:
        self._rng = random.Random(self.seed)

    def roll(self, rate: float) -> bool:
        return rate > 0 and self._rng.random() < rate

    def lose_response(self, method: str | None = None) -> bool:
        """Called by broadcast handlers after the transaction was accepted."""
        return self.applies(method) and self.roll(self.lost_response_rate)

    def refuse(self, kind: str) -> bool:
        """Called by broadcast handlers before the chain sees a transaction of `kind`."""
        wanted = self.refuse_kinds is None or kind in self.refuse_kinds
        return wanted and self.roll(self.refuse_rate)

    def applies(self, method: str | None) -> bool:
        return self.only_methods is None or method in self.only_methods

    def update(self, changes: dict[str, Any]) -> None:
        merged = self.model_dump() | changes
        fresh = Faults.model_validate(merged)  # validates every field, raises on bad input
        for name in Faults.model_fields:
            setattr(self, name, getattr(fresh, name))
        if "seed" in changes:
            self._rng = random.Random(self.seed)


Rejection = Callable[[web.Request, Faults], web.StreamResponse]


def default_429(request: web.Request, faults: Faults) -> web.StreamResponse:
    return web.json_response(
        {"error": "Too Many Requests", "retry_after": faults.retry_after},
        status=429,
        headers={"Retry-After": str(faults.retry_after)},
    )


def default_403(request: web.Request, faults: Faults) -> web.StreamResponse:
    return web.json_response({"error": "Forbidden (injected)"}, status=403)


def default_5xx(request: web.Request, faults: Faults) -> web.StreamResponse:
    return web.json_response({"error": "Service Unavailable (injected)"}, status=503)


def faults_middleware(
    faults: Faults,
    on_429: Rejection = default_429,
    on_error: Rejection = default_5xx,
    on_403: Rejection = default_403,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Injects latency, 5xx, 429 and 403 into every request except the admin routes."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path.startswith(ADMIN_PREFIX):
            return await handler(request)
        if faults.only_methods is not None and not faults.applies(await method_of(request)):
            return await handler(request)
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.roll(faults.error_rate):
            return on_error(request, faults)
        if faults.roll(faults.rate_429):
            return on_429(request, faults)
        if faults.roll(faults.rate_403):
            return on_403(request, faults)
        return await handler(request)

    return middleware


async def method_of(request: web.Request) -> str | None:
    """The call's method: a JSON-RPC body's `method` (the first of a batch), else the last path
    segment. The body stays readable for the handler (aiohttp caches it)."""
    if request.method == "POST" and request.path.rstrip("/") in ("", "/"):
        try:
            body = await request.json()
        except ValueError:
            return None
        first = body[0] if isinstance(body, list) and body else body
        return first.get("method") if isinstance(first, dict) else None
    return request.path.rstrip("/").rsplit("/", 1)[-1] or None


def add_fault_routes(app: web.Application, faults: Faults) -> None:
    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(faults.model_dump())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            faults.update(body)
        except ValueError as exc:  # includes pydantic.ValidationError and JSON errors
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(faults.model_dump())

    app.router.add_get(ADMIN_PREFIX + "faults", get_faults)
    app.router.add_post(ADMIN_PREFIX + "faults", set_faults)


def drop_connection(request: web.Request) -> web.Response:
    """Close the socket without answering: the client sees a disconnect, not a reply.

    The caller has already committed the transaction, so this is "accepted but the response
    was lost", the case that makes naive withdrawal code send twice.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp needs a return value; it is never written because the transport is gone.
    return web.Response(status=500)
