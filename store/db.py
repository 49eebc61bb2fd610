"""The asyncpg pool every repository and activity shares."""

from __future__ import annotations

import asyncpg

from core.errors import UserError
from store.migrate import apply_migrations


def redact(dsn: str) -> str:
    """The DSN without its password, for error messages and logs."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}@{host}"


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A released connection goes back to the pool as it is (asyncpg still rolls back a
    transaction left open). walletflow sets no session state on pooled connections: no SET,
    LISTEN, cursors, or session advisory locks except the migration runner's, which unlocks
    its own. asyncpg's default reset query (`SELECT pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`) would be one more round trip after every pooled query, for
    nothing: as many round trips as the queries themselves."""


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool, or one clear `UserError` naming DATABASE_URL when the server can't be reached."""
    try:
        pool = await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, timeout=10, reset=_keep_session
        )
    except (OSError, TimeoutError, asyncpg.PostgresError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot connect to DATABASE_URL {redact(dsn)}: {reason}") from None
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool) -> list[str]:
    """Apply the pending migrations; their names (`001_initial`), or `ChangedMigration` (a
    `UserError`) when an applied file was edited since, with nothing applied."""
    async with pool.acquire() as conn:
        return [f"{m.version:03d}_{m.name}" for m in await apply_migrations(conn)]
