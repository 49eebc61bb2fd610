"""`python -m starter.bot`: the bot, with long polling (or a webhook: TELEGRAM_WEBHOOK_URL).

SIGTERM or SIGINT stops it within seconds: the long poll is cancelled, then the pool and the
sessions are closed.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from starter.bot.app import run
from starter.errors import UserError
from starter.settings import load_settings
from starter.temporal_client import connect
from store.db import create_pool


async def amain() -> None:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    if not settings.database_url:
        raise UserError("DATABASE_URL is not set (the bot lists wallets from PostgreSQL)")
    client = await connect(settings)
    pool = await create_pool(settings.database_url, max_size=5)
    try:
        await run(settings, client, pool)
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
