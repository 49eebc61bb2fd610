"""`walletflow codec-server`: the payload codec over HTTP, for the `temporal` CLI and the Web UI.

Temporal's remote codec protocol: `POST /encode` and `POST /decode` take and return
`{"payloads": [...]}` in protobuf JSON. Payloads it cannot decrypt (plaintext, or a key id it
lacks) pass through unchanged.

Who may call it:
- the CLI sends `Authorization: Bearer <WALLETFLOW_CODEC_SERVER_TOKEN>` (`--codec-auth`);
- the Web UI cannot send a fixed token (it forwards only its own OIDC token or cookies), so a
  person signs in once at `/login` with the token and gets a session cookie; the UI sends it
  with "include cross-origin credentials". The cookie is SameSite=Strict: the UI and the codec
  server must be on the same site (e.g. temporal.example.com and codec.example.com).
CORS allows exactly WALLETFLOW_CODEC_UI_ORIGIN, with credentials.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from starter.runtime.codec import EncryptionCodec, KeyRing

log = logging.getLogger("walletflow.codec_server")

COOKIE = "walletflow_codec_session"
SESSION_SECONDS = 12 * 3600
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Sessions:
    """Session cookies that need no store: `expiry.hmac(expiry)` keyed by the token's hash, so
    rotating the token ends every session."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._key = hashlib.sha256(b"walletflow-codec-session:" + self._token).digest()

    def token_ok(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode(), self._token)

    def issue(self, now: float | None = None) -> str:
        expiry = str(int((now or time.time()) + SESSION_SECONDS))
        return f"{expiry}.{self._mac(expiry)}"

    def valid(self, cookie: str, now: float | None = None) -> bool:
        expiry, _, mac = cookie.partition(".")
        if not expiry.isdigit() or not hmac.compare_digest(mac, self._mac(expiry)):
            return False
        return int(expiry) > (now or time.time())

    def _mac(self, expiry: str) -> str:
        return hmac.new(self._key, expiry.encode(), hashlib.sha256).hexdigest()


def make_app(ring: KeyRing, token: str, ui_origin: str) -> web.Application:
    codec = EncryptionCodec(ring, strict=False)
    sessions = Sessions(token)
    origin = ui_origin.rstrip("/")

    @web.middleware
    async def cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":  # preflight: no credentials are sent with it
            response: web.StreamResponse = web.Response(status=204)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # 404, 405: a response that gets CORS headers too
                response = web.Response(status=exc.status, text=exc.text, headers=exc.headers)
        if request.headers.get("Origin") == origin:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
        response.headers["Vary"] = "Origin"
        return response

    def authorized(request: web.Request) -> bool:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and sessions.token_ok(offered.strip()):
            return True
        return sessions.valid(request.cookies.get(COOKIE, ""))

    def transcode(apply: Callable[[Payload], Payload]) -> _Handler:
        async def handle(request: web.Request) -> web.Response:
            if not authorized(request):
                return web.json_response({"error": "unauthorized"}, status=401)
            try:
                payloads = json_format.Parse(await request.text(), Payloads())
            except json_format.ParseError:
                return web.json_response({"error": "body is not {payloads: [...]}"}, status=400)
            result = Payloads(payloads=[apply(p) for p in payloads.payloads])
            return web.json_response(json_format.MessageToDict(result))

        return handle

    async def login_form(request: web.Request) -> web.Response:
        signed_in = sessions.valid(request.cookies.get(COOKIE, ""))
        return web.Response(content_type="text/html", text=_page(origin, signed_in, failed=False))

    async def login(request: web.Request) -> web.Response:
        form = await request.post()
        if not sessions.token_ok(str(form.get("token", ""))):
            log.warning("codec server: a sign-in with a wrong token")
            return web.Response(
                status=401, content_type="text/html", text=_page(origin, False, failed=True)
            )
        response = web.Response(content_type="text/html", text=_page(origin, True, failed=False))
        secure = request.secure or request.headers.get("X-Forwarded-Proto") == "https"
        response.set_cookie(
            COOKIE,
            sessions.issue(),
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="Strict",
            secure=secure,
            path="/",
        )
        return response

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[cors], client_max_size=8 * 1024 * 1024)
    app.router.add_post("/encode", transcode(codec.encrypt))
    app.router.add_post("/decode", transcode(codec.decrypt))
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_get("/healthz", health)
    return app


def _page(ui_origin: str, signed_in: bool, *, failed: bool) -> str:
    state = (
        f'Signed in for 12 hours. Back to <a href="{html.escape(ui_origin)}">the Web UI</a>.'
        if signed_in
        else "Wrong token."
        * failed
        + '<form method="post"><input type="password" name="token" placeholder="codec token" '
        'autofocus> <button type="submit">Sign in</button></form>'
    )
    return f"<!doctype html><title>walletflow codec server</title><p>{state}</p>"


async def serve(ring: KeyRing, token: str, ui_origin: str, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(make_app(ring, token, ui_origin), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("codec server on http://%s:%d for the Web UI at %s", host, port, ui_origin)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
