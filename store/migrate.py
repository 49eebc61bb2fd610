"""Numbered SQL migrations (`store/migrations/NNN_name.sql`), each applied once, in order.

Several workers may start at the same moment, so the runner takes a session advisory lock:
the second runner waits, then finds every file already recorded in `schema_migrations`.
Each file runs in its own transaction together with its bookkeeping row, so a failure leaves
no half-applied file behind.

Each row records the sha256 of the file it applied. A file changed after it was applied is
refused (`ChangedMigration`) before anything runs: change the schema with a new numbered file.
Rows written before checksums existed (a NULL checksum) adopt the file's checksum once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import asyncpg

from core.errors import UserError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_LOCK_KEY = 0x77616C6C  # "wall": one advisory lock id for every walletflow migration runner
_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum text)"""
# Databases migrated before checksums were recorded lack the column.
_CHECKSUM_COLUMN = "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"


class ChangedMigration(UserError):
    """An applied migration file no longer matches the checksum recorded when it ran."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def file(self) -> str:
        return self.path.name

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    """One migration as `walletflow setup --status` shows it."""

    version: int
    name: str
    state: Literal["applied", "pending", "file missing"]
    checksum: Literal["ok", "mismatch", "unrecorded"] | None
    applied_at: datetime | None


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two migration files share a number in {directory}")
    return found


def _refuse_changed(migrations: list[Migration], recorded: dict[int, str | None]) -> None:
    for m in migrations:
        was = recorded.get(m.version)
        if was is not None and was != m.checksum:
            raise ChangedMigration(
                f"migration {m.file} was changed after it was applied (sha256 {was[:12]} "
                f"recorded, {m.checksum[:12]} now); restore it and add a new numbered migration"
            )


async def apply_migrations(
    conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR
) -> list[Migration]:
    """Apply what is missing; returns the migrations this call applied. Raises
    `ChangedMigration`, applying nothing, when an applied file was changed since."""
    migrations = discover(directory)
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_TABLE)
        await conn.execute(_CHECKSUM_COLUMN)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        recorded: dict[int, str | None] = {r["version"]: r["checksum"] for r in rows}
        _refuse_changed(migrations, recorded)
        for migration in migrations:
            if migration.version in recorded:
                if recorded[migration.version] is None:
                    await conn.execute(
                        "UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                        migration.version,
                        migration.checksum,
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_now.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def migration_status(
    conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR
) -> list[MigrationState]:
    """Every migration file and every recorded one, applied or pending, checksum checked.
    Reads only: nothing is created or recorded."""
    migrations = discover(directory)
    rows: list[asyncpg.Record] = []
    if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
        has_checksum = await conn.fetchval(
            "SELECT count(*) > 0 FROM information_schema.columns "
            "WHERE table_name = 'schema_migrations' AND column_name = 'checksum' "
            "AND table_schema = current_schema()"
        )
        checksum = "checksum" if has_checksum else "NULL::text AS checksum"
        rows = await conn.fetch(
            f"SELECT version, name, applied_at, {checksum} FROM schema_migrations"
        )
    recorded = {r["version"]: r for r in rows}
    states = []
    for m in migrations:
        row = recorded.pop(m.version, None)
        if row is None:
            states.append(MigrationState(m.version, m.name, "pending", None, None))
            continue
        verdict: Literal["ok", "mismatch", "unrecorded"] = (
            "unrecorded"
            if row["checksum"] is None
            else "ok"
            if row["checksum"] == m.checksum
            else "mismatch"
        )
        states.append(MigrationState(m.version, m.name, "applied", verdict, row["applied_at"]))
    for version, row in recorded.items():
        states.append(MigrationState(version, row["name"], "file missing", None, row["applied_at"]))
    return sorted(states, key=lambda s: s.version)
