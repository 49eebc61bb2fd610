"""`python -m starter.bot`: the bot, with long polling (or a webhook: TELEGRAM_WEBHOOK_URL).

SIGTERM or SIGINT stops it within seconds: the long poll is cancelled, then the pool and the
sessions are closed.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from core.errors import UserError
from starter.bot.app import bot_signer, run
from starter.client import connect
from starter.runtime import telemetry
from starter.runtime.settings import load_settings
from store.db import create_pool


async def amain() -> None:
    settings = load_settings()
    # Logging, SDK metrics, tracing and /healthz, /readyz, /metrics first (runtime.telemetry).
    async with telemetry.process(settings, name="bot") as health:
        dsn = settings.require_dsn("the bot lists wallets from PostgreSQL")
        signer = bot_signer(settings)  # the service key it signs for Telegram users with
        stop = asyncio.Event()

        def shutdown() -> None:
            health.stopping = True  # /readyz says so before the poll stops
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, shutdown)
        client = await connect(settings)
        pool = await create_pool(dsn, max_size=5)
        health.add_check("postgres", lambda: pool.fetchval("SELECT 1"))
        health.add_check("temporal", lambda: client.service_client.check_health())
        try:
            await run(settings, client, pool, stop=stop, signer=signer)
        finally:
            await pool.close()


def main() -> None:
    try:
        asyncio.run(amain())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
