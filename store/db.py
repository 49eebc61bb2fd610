"""The asyncpg pool every repository and activity shares."""

from __future__ import annotations

import asyncpg

from starter.errors import UserError
from store.migrate import apply_migrations


def redact(dsn: str) -> str:
    """The DSN without its password, for error messages and logs."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool, or one clear `UserError` naming DATABASE_URL when the server can't be reached."""
    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=10)
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to DATABASE_URL {redact(dsn)}: {reason}") from None
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool) -> list[str]:
    async with pool.acquire() as conn:
        return [f"{m.version:03d}_{m.name}" for m in await apply_migrations(conn)]
