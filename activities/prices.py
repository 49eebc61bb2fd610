"""Price providers behind one interface: Jupiter Price API v3 and CoinGecko's simple price API.

Each fetches many assets per call (Jupiter: at most 50 mints a call; CoinGecko: every id in
one), keeps to its own rate limit, sends its API key header when one is configured, reads every
number as a `Decimal` (never a float), and says how old each price is, so that callers can
refuse a stale one:
- Jupiter's `blockId` is the slot of the price: a price whose slot is more than
  `stale_slots` behind the newest slot this provider has answered with, moved on by the time
  since at Solana's 400 ms a slot, is stale (so a frozen price asked for alone ages too).
- CoinGecko is asked with `include_last_updated_at`; its prices are cached for about 60 s, so
  its bound (`stale_seconds`) is at least that.
Ids a provider has no reliable price for are simply absent from its answer: unknown, never 0.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import httpx
from temporalio import activity

import chains
from core.assets import Asset
from core.models import UsdQuote, WalletEvent

JUPITER_BATCH = 50
# Jupiter is also asked for wrapped SOL, the most traded mint, when a batch has room (never an
# extra call): its blockId is the provider's clock, so a price asked for alone is still
# measured against a current slot.
JUPITER_CLOCK = "So11111111111111111111111111111111111111112"
SLOT_SECONDS = 0.4  # Solana's slot time: how a Jupiter price's blockId ages


@dataclass(frozen=True)
class Price:
    """One asset's USD price from one provider, and whether it is too old to trust."""

    asset: str  # the provider's id: a mint, a CoinGecko coin id, or `platform:contract`
    usd: Decimal
    provider: str
    age: float  # seconds (CoinGecko) or slots (Jupiter) behind the freshest
    stale: bool
    liquidity: Decimal | None = None
    age_s: float = 0  # the age in seconds, whatever the provider counts in


class PriceProvider(Protocol):
    name: str
    calls: int  # HTTP calls made so far (benches count them per poll)

    async def prices(self, ids: list[str]) -> dict[str, Price]:
        """The prices of those of `ids` the provider knows; batched, rate-limited."""
        ...

    async def close(self) -> None: ...


# The calls made by one caller's `prices()`, apart from other callers' calls to the same
# provider meanwhile (a loop's poll and alerts' own reads share one instance).
_COUNTER: ContextVar[list[int] | None] = ContextVar("price_calls", default=None)


@contextmanager
def counting() -> Iterator[list[int]]:
    """`with counting() as calls:` the HTTP calls made within, in calls[0]."""
    counter = [0]
    token = _COUNTER.set(counter)
    try:
        yield counter
    finally:
        _COUNTER.reset(token)


def _counted(provider: Any) -> None:
    provider.calls += 1
    counter = _COUNTER.get()
    if counter is not None:
        counter[0] += 1


class RateLimit:
    """At most `per_second` calls a second, spaced evenly, across every caller."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            delay = self._next - now
            self._next = max(now, self._next) + self.interval
        if delay > 0:
            await asyncio.sleep(delay)


def _decimal_json(resp: httpx.Response) -> Any:
    return json.loads(resp.text, parse_float=Decimal, parse_int=Decimal)


class JupiterPrices:
    """`GET {base}/price/v3?ids=…`, 50 mints a call, with `x-api-key` when configured."""

    name = "jupiter"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        per_second: float = 1.0,
        stale_slots: int = 150,  # about a minute of 400 ms slots
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"x-api-key": api_key} if api_key else {}
        self.limit = RateLimit(per_second)
        self.stale_slots = stale_slots
        self.http = http or httpx.AsyncClient(timeout=10)
        self.newest_slot = 0
        self.newest_at = 0.0  # when newest_slot was first answered (monotonic)
        self.calls = 0

    async def close(self) -> None:
        await self.http.aclose()

    async def prices(self, ids: list[str]) -> dict[str, Price]:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        raw: dict[str, Any] = {}
        batches = [unique[i : i + JUPITER_BATCH] for i in range(0, len(unique), JUPITER_BATCH)]
        if JUPITER_CLOCK not in unique and len(batches[-1]) < JUPITER_BATCH:
            batches[-1] = [*batches[-1], JUPITER_CLOCK]  # room for the clock: no extra call
        for batch in batches:
            await self.limit.wait()
            _counted(self)
            resp = await self.http.get(
                f"{self.base_url}/price/v3", params={"ids": ",".join(batch)}, headers=self.headers
            )
            resp.raise_for_status()  # 429 and 5xx: the caller retries (an activity's policy)
            raw.update(_decimal_json(resp))
        slots = [int(entry["blockId"]) for entry in raw.values() if entry.get("blockId")]
        if slots and max(slots) > self.newest_slot:
            self.newest_slot, self.newest_at = max(slots), time.monotonic()
        now_slot = self.newest_slot + int((time.monotonic() - self.newest_at) / SLOT_SECONDS)
        found = {}
        for mint, entry in raw.items():
            if mint not in unique:
                continue  # the clock, not asked for
            behind = now_slot - int(entry.get("blockId") or 0)
            liquidity = entry.get("liquidity")
            found[mint] = Price(
                asset=mint,
                usd=Decimal(entry["usdPrice"]),
                provider=self.name,
                age=behind,
                age_s=behind * SLOT_SECONDS,
                stale=behind > self.stale_slots,
                liquidity=Decimal(liquidity) if liquidity is not None else None,
            )
        return found


class CoinGeckoPrices:
    """`GET {base}/api/v3/simple/price` for coins (`solana`, `tron`) and
    `/simple/token_price/{platform}` for tokens (ids `platform:contract`), with
    `x-cg-demo-api-key` (or `x-cg-pro-api-key` with `pro`) when configured."""

    name = "coingecko"

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        pro: bool = False,
        per_second: float = 0.5,
        stale_seconds: float = 120,  # CoinGecko caches for about 60 s
        http: httpx.AsyncClient | None = None,
        clock: Any = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        header = "x-cg-pro-api-key" if pro else "x-cg-demo-api-key"
        self.headers = {header: api_key} if api_key else {}
        self.limit = RateLimit(per_second)
        self.stale_seconds = max(stale_seconds, 60)
        self.http = http or httpx.AsyncClient(timeout=10)
        self.clock = clock
        self.calls = 0

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        await self.limit.wait()
        _counted(self)
        params = params | {"vs_currencies": "usd", "include_last_updated_at": "true"}
        resp = await self.http.get(f"{self.base_url}{path}", params=params, headers=self.headers)
        resp.raise_for_status()
        answer: dict[str, Any] = _decimal_json(resp)
        return answer

    async def close(self) -> None:
        await self.http.aclose()

    async def prices(self, ids: list[str]) -> dict[str, Price]:
        coins = sorted({i for i in ids if ":" not in i})
        tokens: dict[str, list[str]] = {}
        for i in ids:
            if ":" in i:
                platform, contract = i.split(":", 1)
                tokens.setdefault(platform, []).append(contract)
        raw: dict[str, Any] = {}
        if coins:
            raw.update(await self._get("/api/v3/simple/price", {"ids": ",".join(coins)}))
        for platform, contracts in sorted(tokens.items()):
            answer = await self._get(
                f"/api/v3/simple/token_price/{platform}",
                {"contract_addresses": ",".join(sorted(set(contracts)))},
            )
            raw.update({f"{platform}:{k}": v for k, v in answer.items()})
        now = self.clock()
        found = {}
        for key, entry in raw.items():
            if "usd" not in entry:
                continue
            age = max(now - float(entry.get("last_updated_at") or 0), 0.0)
            found[key] = Price(
                asset=key,
                usd=Decimal(entry["usd"]),
                provider=self.name,
                age=age,
                age_s=age,
                stale=age > self.stale_seconds,
            )
        return found


@dataclass(frozen=True)
class UsdValue:
    """What an amount is worth for the money policy: `usd` only when the price is confirmed
    (every configured provider that prices the asset answered fresh, at least two of them, and
    they agree within the bound); otherwise None and `why` says what is missing."""

    usd: Decimal | None
    price: Decimal | None = None
    why: str | None = None


class UsdPricer:
    """Values money moves in USD for the policy, failing closed: a stale price, a provider
    disagreeing or missing, or a single provider's price (most SPL tokens) is unconfirmed."""

    def __init__(
        self, providers: dict[str, PriceProvider], max_disagreement: Decimal = Decimal("0.02")
    ) -> None:
        self.providers = providers
        self.max_disagreement = max_disagreement

    async def value(self, chain: str, asset: Asset, amount: Decimal) -> UsdValue:
        found: list[Price] = []
        for provider, price_id in chains.get(chain).price_ids(asset).items():
            if provider not in self.providers:
                continue
            try:
                price = (await self.providers[provider].prices([price_id])).get(price_id)
            except Exception as exc:  # named by provider, never by URL (it may hold a key)
                return UsdValue(None, why=f"{provider} did not answer ({type(exc).__name__})")
            if price is None:
                continue
            if price.stale:
                return UsdValue(None, price.usd, f"the {provider} price of {asset.symbol} is stale")
            found.append(price)
        if len(found) < 2:
            names = ", ".join(p.provider for p in found) or "no provider"
            return UsdValue(None, found[0].usd if found else None,
                            f"only {names} prices {asset.symbol}: unconfirmed")  # fmt: skip
        low, high = min(p.usd for p in found), max(p.usd for p in found)
        if low <= 0 or (high - low) / low > self.max_disagreement:
            spread = (high - low) / low * 100 if low > 0 else Decimal(100)
            return UsdValue(None, high, f"the providers disagree on {asset.symbol} by "
                            f"{spread.quantize(Decimal('0.1'))}%")  # fmt: skip
        # The higher price: a value for limits and tiers must not be underestimated.
        return UsdValue(amount * high, high)


VALUER_WAIT_SECONDS = 3.0  # a message never waits longer than this for its USD value


class Valuer:
    """USD values for people (messages, `watch --min-usd`), best effort: each asset is priced
    by the first configured provider that knows it, prices are kept `ttl` seconds so that a
    burst of events costs one batched call per provider, and an error or an unknown price
    just leaves the value out. Never used for policy: that is UsdPricer's, which fails
    closed."""

    def __init__(self, providers: dict[str, PriceProvider], ttl: float = 30) -> None:
        self.providers = providers
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[float, Price | None]] = {}

    def _expired(self, provider: str, price_id: str, now: float) -> bool:
        cached = self._cache.get((provider, price_id))
        return cached is None or now - cached[0] > self.ttl

    async def quotes(self, chain: str, assets: list[Asset]) -> dict[str, UsdQuote]:
        """asset id -> its price as a quote of one whole unit (value = price)."""
        now = time.monotonic()
        wanted: dict[str, dict[str, str]] = {}  # provider -> price id -> asset id
        for asset in assets:
            for provider, price_id in chains.get(chain).price_ids(asset).items():
                if provider in self.providers:
                    wanted.setdefault(provider, {})[price_id] = asset.id
                    break
        for provider, ids in wanted.items():
            stale = [
                i for i in ids if now - self._cache.get((provider, i), (-1e9, None))[0] > self.ttl
            ]
            if not stale:
                continue
            try:
                call = self.providers[provider].prices(stale)
                found = await asyncio.wait_for(call, VALUER_WAIT_SECONDS)
            except Exception as exc:  # best effort: the message goes out without a value
                activity.logger.info("%s prices unavailable: %s", provider, type(exc).__name__)
                found = {}  # remembered as unknown for `ttl`: no wait on every event
            for i in stale:
                self._cache[(provider, i)] = (now, found.get(i))
        quotes: dict[str, UsdQuote] = {}
        for provider, ids in wanted.items():
            for price_id, asset_id in ids.items():
                price = self._cache.get((provider, price_id), (0.0, None))[1]
                if price is not None and not price.stale:
                    quotes[asset_id] = UsdQuote(
                        value=str(price.usd),
                        price=str(price.usd),
                        provider=provider,
                        age_s=int(price.age_s),
                    )
        return quotes

    async def value(self, chain: str, asset: Asset, amount: Decimal) -> UsdQuote | None:
        """What `amount` of `asset` is worth, or None without a price."""
        unit = (await self.quotes(chain, [asset])).get(asset.id)
        return None if unit is None else _times(unit, amount)

    async def annotate(self, events: list[WalletEvent]) -> list[WalletEvent]:
        """The events with their USD value where a price is known."""
        by_chain: dict[str, dict[str, Asset]] = {}
        for e in events:
            by_chain.setdefault(e.chain, {})[e.asset] = Asset(
                symbol=e.symbol, decimals=e.decimals, id=e.asset
            )
        priced: dict[tuple[str, str], UsdQuote] = {}
        for chain, assets in by_chain.items():
            for asset_id, quote in (await self.quotes(chain, list(assets.values()))).items():
                priced[(chain, asset_id)] = quote
        out = []
        for e in events:
            unit = priced.get((e.chain, e.asset))
            if unit is not None:
                e = e.model_copy(update={"usd": _times(unit, e.display_amount)})
            out.append(e)
        return out


def _times(unit: UsdQuote, amount: Decimal) -> UsdQuote:
    """A unit price's quote for `amount` of the asset (cents)."""
    value = (amount * Decimal(unit.price)).quantize(Decimal("0.01"))
    return unit.model_copy(update={"value": str(value)})
