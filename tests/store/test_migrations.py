"""Migrations: idempotent, and safe when two runners start at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from starter.devstack.postgres import EmbeddedPostgres
from store.migrate import apply_migrations, discover


async def test_applying_twice_changes_nothing(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        # pg_dsn is already migrated: a second run must apply nothing and alter no table.
        before = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        )
        assert await apply_migrations(conn) == []
        after = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        )
        assert before == after
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [m.version for m in discover()]
    finally:
        await conn.close()


async def test_two_runners_at_once_apply_each_file_once(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database("concurrent_migrations")
    # A migration that fails if it runs twice (plain CREATE TABLE) and one that counts its runs.
    (tmp_path / "001_first.sql").write_text(
        "CREATE TABLE runs (n integer); INSERT INTO runs VALUES (1); SELECT pg_sleep(0.3);"
    )
    (tmp_path / "002_second.sql").write_text("INSERT INTO runs VALUES (2);")
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    try:
        results = await asyncio.gather(*(apply_migrations(c, tmp_path) for c in conns))
        applied = sorted(m.version for r in results for m in r)
        assert applied == [1, 2]  # each file applied by exactly one of the runners
        runs = await conns[0].fetch("SELECT n FROM runs ORDER BY n")
        assert [r["n"] for r in runs] == [1, 2]
    finally:
        for c in conns:
            await c.close()


async def test_a_failing_file_leaves_no_trace(pg_server: EmbeddedPostgres, tmp_path: Path) -> None:
    dsn = await pg_server.create_database("failing_migration")
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE a (x int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE b (x int); SELECT no_such_function();")
    conn = await asyncpg.connect(dsn)
    try:
        with pytest.raises(asyncpg.UndefinedFunctionError):
            await apply_migrations(conn, tmp_path)
        versions = [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert versions == [1]
        assert await conn.fetchval("SELECT to_regclass('b')") is None  # rolled back whole
    finally:
        await conn.close()


def test_misnamed_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1-init.sql").write_text("SELECT 1")
    with pytest.raises(ValueError, match=r"001_name\.sql"):
        discover(tmp_path)


async def test_wallet_event_key_is_unique(pool: asyncpg.Pool) -> None:
    insert = """INSERT INTO wallet_events
        (chain, tx_id, idx, wallet, direction, asset, symbol, decimals, amount, block)
        VALUES ('solana', 'sig1', 0, 'W', 'in', 'SOL', 'SOL', 9, 5, 1)"""
    await pool.execute(insert)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(insert)
