"""The price providers the settings name, built once per process (workers, CLI, bot)."""

from __future__ import annotations

from activities.prices import CoinGeckoPrices, JupiterPrices, PriceProvider
from core.errors import UserError
from starter.runtime.settings import Settings

JUPITER_URL = "https://api.jup.ag"
COINGECKO_URL = "https://api.coingecko.com"
COINGECKO_PRO_URL = "https://pro-api.coingecko.com"


def _secret(value: object) -> str | None:
    reveal = getattr(value, "get_secret_value", None)
    return reveal() if reveal else None


def providers(settings: Settings) -> dict[str, PriceProvider]:
    """name -> provider, in the order PRICE_PROVIDERS lists them."""
    built: dict[str, PriceProvider] = {}
    for name in [n.strip() for n in settings.price_providers.split(",") if n.strip()]:
        if name == JupiterPrices.name:
            built[name] = JupiterPrices(
                settings.jupiter_price_url or JUPITER_URL,
                api_key=_secret(settings.jupiter_api_key),
                per_second=settings.jupiter_per_second,
                stale_slots=settings.jupiter_stale_slots,
            )
        elif name == CoinGeckoPrices.name:
            default = COINGECKO_PRO_URL if settings.coingecko_pro else COINGECKO_URL
            built[name] = CoinGeckoPrices(
                settings.coingecko_url or default,
                api_key=_secret(settings.coingecko_api_key),
                pro=settings.coingecko_pro,
                per_second=settings.coingecko_per_second,
                stale_seconds=settings.coingecko_stale_seconds,
            )
        else:
            raise UserError(
                f"unknown price provider {name!r} in PRICE_PROVIDERS: expected jupiter, coingecko"
            )
    return built
