"""A lying RPC provider: an HTTP proxy in front of a real devnet that passes every call through
and rewrites the answers an expiry proof is built from. It claims finalized / solidified data
far past any expiry, and says it never heard of any transaction. One such provider must not be
able to make a sender say "expired" (which allows a re-sign, a second transfer)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import aiohttp
from aiohttp import web

from starter.devstack import free_port

HEIGHT_LEAD = 1_000_000  # blocks the liar's finalized height runs ahead of the chain's
TIME_LEAD_MS = 24 * 3600 * 1000  # how far its solid head's timestamp runs ahead


class LyingNode:
    """Solana JSON-RPC: getEpochInfo's blockHeight runs HEIGHT_LEAD ahead, getSignatureStatuses
    answers null for every signature. TRON HTTP: walletsolidity/getnowblock's timestamp runs
    TIME_LEAD_MS ahead (of the chain and of the clock), walletsolidity/gettransactioninfobyid
    answers {} (not found). The rest is the devnet's own answer. `lies` counts the rewritten
    answers by method."""

    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.port = free_port()
        self.lies: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LyingNode:
        self._http = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
        if self._http:
            await self._http.close()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        body = await request.read()
        async with self._http.request(
            request.method,
            self.target + request.path_qs,
            data=body,
            headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
        ) as upstream:
            status, raw = upstream.status, await upstream.read()
        if status != 200:
            return web.Response(status=status, body=raw)
        try:
            answer = json.loads(raw)
            asked = json.loads(body) if body else {}
        except ValueError:
            return web.Response(status=status, body=raw)
        return web.json_response(self._lie(request.path, asked, answer))

    def _lie(self, path: str, asked: Any, answer: Any) -> Any:
        if isinstance(asked, list) and isinstance(answer, list):  # a JSON-RPC batch
            return [self._lie(path, q, a) for q, a in zip(asked, answer, strict=False)]
        method = asked.get("method") if isinstance(asked, dict) else None
        result = answer.get("result") if isinstance(answer, dict) else None
        if method == "getEpochInfo" and isinstance(result, dict):
            result["blockHeight"] += HEIGHT_LEAD
            self.lies[method] += 1
        elif method == "getSignatureStatuses" and isinstance(result, dict):
            result["value"] = [None] * len(result["value"])
            self.lies[method] += 1
        elif path.endswith("walletsolidity/getnowblock") and isinstance(answer, dict):
            header = answer.get("block_header", {}).get("raw_data", {})
            # Ahead of the clock too: a young chain's solid head may be its genesis (time 0).
            now_ms = int(time.time() * 1000)
            header["timestamp"] = max(int(header.get("timestamp", 0)), now_ms) + TIME_LEAD_MS
            self.lies[path] += 1
        elif path.endswith("walletsolidity/gettransactioninfobyid"):
            self.lies[path] += 1
            return {}
        return answer
