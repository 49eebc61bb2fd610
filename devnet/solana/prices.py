"""Price APIs on the Solana devnet's port, in the shapes of the real ones.

    GET  /price/v3?ids=MINT1,MINT2                 Jupiter Price API v3 (at most 50 ids)
    GET  /api/v3/simple/price?ids=solana,tron&vs_currencies=usd[&include_last_updated_at=true]
    GET  /api/v3/simple/token_price/{platform}?contract_addresses=A,B&vs_currencies=usd
    POST /_devnet/prices   {"prices": {ID: "123.45" or null},
                            "walk": {"every_s": 10, "step": "0.01"},
                            "stale": ID or null, "stale_age_s": 300, "api_key": ...}
    GET  /_devnet/prices   what is set

Jupiter answers `{mint: {usdPrice, blockId, decimals, priceChange24h, liquidity}}` and omits the
ids it has no reliable price for; CoinGecko answers `{id: {usd, last_updated_at}}`. Prices are
JSON numbers, written from exact decimals (never through a float).

Where the swap venue has a pool of a token against SOL, the token's Jupiter price is derived
from it: SOL's USD price times the pool's SOL per token (so a swap moves it), with the pool's
SOL side valued in USD as `liquidity`. Everything else is set by `POST /_devnet/prices` (ids are
mints for Jupiter; CoinGecko coin ids such as `solana`, `tron`, or `platform:contract` for
`token_price`); setting the wrapped-SOL mint gives Jupiter a SOL price of its own, apart from
CoinGecko's `solana` (the providers- disagree fault). `walk` moves every set price by a seeded
random step of up to `step` (a fraction) every `every_s` seconds, for benches. `stale` freezes
one id's `blockId`/`last_updated_at` (the stale-price fault); the other faults (errors, 429,
latency) are the devnet's usual ones, applied by the last path segment (`v3`, `price`, or the
platform). With `api_key` set, both APIs answer 401 without the key (`x-api-key`; CoinGecko
`x-cg-demo-api-key` or `x-cg-pro-api-key`).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from devnet.faults import ADMIN_PREFIX
from devnet.solana.venue import SOL_MINT, SwapVenue

JUPITER_MAX_IDS = 50
SOL_COIN = "solana"  # CoinGecko's id of SOL: the USD price pools are valued with


def _number(value: Decimal) -> str:
    """A decimal as a JSON number's text: exact, never through a float."""
    return f"@@{format(value.normalize(), 'f')}@@"


_NUMBER = re.compile(r'"@@(-?[0-9]+(?:\.[0-9]+)?)@@"')


def _json(body: Any, status: int = 200) -> web.Response:
    text = _NUMBER.sub(r"\1", json.dumps(body, separators=(",", ":"), default=_number))
    return web.Response(text=text, status=status, content_type="application/json")


class PriceApis:
    def __init__(self, venue: SwapVenue, seed: int = 1) -> None:
        self.venue = venue
        self.prices: dict[str, Decimal] = {SOL_COIN: Decimal("150")}
        self.changed: dict[str, int] = {SOL_COIN: int(time.time())}
        self.stale: str | None = None
        self.stale_slot = 0
        self.api_key: str | None = None
        self.block = 0
        self._rng = random.Random(seed)
        self._walk: asyncio.Task[None] | None = None

    # ---- what a price is ------------------------------------------------------------------

    def set(self, key: str, price: Decimal) -> None:
        self.prices[key] = price
        if key != self.stale:
            self.changed[key] = int(time.time())
        self.block += 1

    def jupiter(self, mint: str) -> dict[str, Any] | None:
        """Jupiter's entry for `mint`, or None when it has no reliable price."""
        sol = self.prices[SOL_COIN]
        liquidity: Decimal | None = None
        pool = self.venue.find(mint, SOL_MINT) if mint != SOL_MINT else None
        decimals = self.venue.chain.decimals(mint) if mint != SOL_MINT else 9
        if mint == SOL_MINT:
            price = self.prices.get(SOL_MINT, sol)  # set apart: providers disagree on SOL
        elif pool is not None and decimals is not None:
            sol_side, token_side = (
                self.venue.reserve(pool, SOL_MINT),
                self.venue.reserve(pool, mint),
            )
            if not token_side:
                return None
            price = sol * Decimal(sol_side) / token_side * Decimal(10) ** (decimals - 9)
            liquidity = sol * 2 * Decimal(sol_side) / 10**9
        elif mint in self.prices:
            price = self.prices[mint]
        else:
            return None
        answer: dict[str, Any] = {
            "usdPrice": (price.quantize(Decimal("1e-12"))),
            # The slot of the price: now, unless this id is made stale (frozen where it was).
            "blockId": self.stale_slot if self.stale == mint else self.venue.chain.slot,
            "decimals": decimals if decimals is not None else 0,
            "priceChange24h": (Decimal(0)),
        }
        if liquidity is not None:
            answer["liquidity"] = liquidity.quantize(Decimal("1e-6"))
        return answer

    # ---- HTTP -----------------------------------------------------------------------------

    def _refuse_without_key(self, request: web.Request, *headers: str) -> web.Response | None:
        if self.api_key is None:
            return None
        if any(request.headers.get(h) == self.api_key for h in headers):
            return None
        return _json({"error": "Unauthorized: a valid API key is required"}, status=401)

    async def _price_v3(self, request: web.Request) -> web.Response:
        refused = self._refuse_without_key(request, "x-api-key")
        if refused is not None:
            return refused
        ids = [i for i in request.query.get("ids", "").split(",") if i]
        if not ids:
            return _json({"error": "ids is required"}, status=400)
        if len(ids) > JUPITER_MAX_IDS:
            return _json({"error": f"at most {JUPITER_MAX_IDS} ids per call"}, status=400)
        answer = {i: p for i in dict.fromkeys(ids) if (p := self.jupiter(i)) is not None}
        return _json(answer)

    def _coingecko(self, request: web.Request, keys: list[tuple[str, str]]) -> web.Response:
        refused = self._refuse_without_key(request, "x-cg-demo-api-key", "x-cg-pro-api-key")
        if refused is not None:
            return refused
        if request.query.get("vs_currencies", "").lower() != "usd":
            return _json({"error": "vs_currencies must be usd on the devnet"}, status=400)
        with_time = request.query.get("include_last_updated_at", "").lower() == "true"
        answer: dict[str, Any] = {}
        for shown, key in keys:
            if key not in self.prices:
                continue  # unknown ids are left out, as CoinGecko does
            entry: dict[str, Any] = {"usd": (self.prices[key])}
            if with_time:
                entry["last_updated_at"] = self.changed.get(key, 0)
            answer[shown] = entry
        return _json(answer)

    async def _simple_price(self, request: web.Request) -> web.Response:
        ids = [i.strip().lower() for i in request.query.get("ids", "").split(",") if i.strip()]
        return self._coingecko(request, [(i, i) for i in ids])

    async def _token_price(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        found = request.query.get("contract_addresses", "").split(",")
        keys = [(a.strip(), f"{platform}:{a.strip()}") for a in found if a.strip()]
        return self._coingecko(request, keys)

    async def _admin(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            shown = {k: format(v, "f") for k, v in self.prices.items()}
            return _json({"prices": shown, "stale": self.stale, "block": self.block})
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            for key, text in dict(body.get("prices") or {}).items():
                if text is None:  # unset: back to derived (or unknown)
                    self.prices.pop(str(key), None)
                    continue
                price = Decimal(str(text))
                if not price.is_finite() or price <= 0:
                    raise ValueError(f"price of {key} must be > 0")
                self.set(str(key), price)
            if "stale" in body:
                self.stale, self.stale_slot = body["stale"], self.venue.chain.slot
                if self.stale is not None and body.get("stale_age_s"):  # backdated
                    self.changed[self.stale] = int(time.time() - float(body["stale_age_s"]))
            if "api_key" in body:
                self.api_key = body["api_key"]
            walk = body.get("walk")
            if walk is not None:
                self._start_walk(float(walk.get("every_s", 10)), Decimal(str(walk["step"])))
        except (ValueError, InvalidOperation, KeyError, TypeError) as exc:
            return _json({"error": str(exc)}, status=400)
        return _json({"ok": True, "block": self.block})

    def _start_walk(self, every_s: float, step: Decimal) -> None:
        if self._walk is not None:
            self._walk.cancel()
        if every_s <= 0 or step <= 0:
            self._walk = None
            return

        async def walk() -> None:
            while True:
                await asyncio.sleep(every_s)
                for key, price in list(self.prices.items()):
                    move = Decimal(self._rng.randint(-1000, 1000)) / 1000 * step
                    self.set(key, (price * (1 + move)).quantize(Decimal("1e-9")))

        self._walk = asyncio.get_running_loop().create_task(walk(), name="devnet-price-walk")

    async def stop(self) -> None:
        if self._walk is not None:
            self._walk.cancel()

    def add_routes(self, app: web.Application, load: Any) -> None:
        def loaded(handler: Any) -> Any:
            async def run(request: web.Request) -> web.Response:
                load()
                response: web.Response = await handler(request)
                return response

            return run

        app.router.add_get("/price/v3", loaded(self._price_v3))
        app.router.add_get("/api/v3/simple/price", loaded(self._simple_price))
        app.router.add_get("/api/v3/simple/token_price/{platform}", loaded(self._token_price))
        app.router.add_get(ADMIN_PREFIX + "prices", loaded(self._admin))
        app.router.add_post(ADMIN_PREFIX + "prices", loaded(self._admin))
