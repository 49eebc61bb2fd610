"""`walletflow setup` on the dev server with a namespace it has never seen and an empty
database: creates the namespace, registers the search attributes, migrates, and a second run
changes nothing. Migration checksums: a changed applied file is refused, an old database
(no checksum column) upgrades."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from core import search_attributes
from starter.cli import exits
from starter.devstack.postgres import EmbeddedPostgres
from store.migrate import ChangedMigration, apply_migrations, discover, migration_status
from tests.support.cli import cli_env, walletflow


async def test_setup_is_idempotent_and_reports_its_status(
    client: Client, pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database(f"setup_{uuid.uuid4().hex[:8]}")
    namespace = f"setup-{uuid.uuid4().hex[:8]}"
    env = cli_env(
        tmp_path,
        TEMPORAL_ADDRESS=client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=namespace,
        DATABASE_URL=dsn,
    )

    before = await walletflow(env, "setup", "--status", "--json")
    assert before.code == 0, before.err
    doc = json.loads(before.out)
    assert doc["namespace"] == {"name": namespace, "exists": False, "retention_days": None}
    assert {a["state"] for a in doc["search_attributes"]} == {"missing"}
    assert {m["state"] for m in doc["migrations"]} == {"pending"}
    assert doc["ready"] is False

    first = await walletflow(env, "setup", timeout=240)
    assert first.code == 0, first.err
    assert first.out == ""  # progress is on stderr
    assert f"namespace {namespace} created" in first.err
    for key in search_attributes.ALL:
        assert f"creating search attribute {key.name} (Keyword)" in first.err
    assert "migrations applied: 001_initial" in first.err

    second = await walletflow(env, "setup", "--json", timeout=240)
    assert second.code == 0, second.err
    assert json.loads(second.out) == {
        "namespace": {"name": namespace, "created": False},
        "search_attributes": {"created": []},
        "migrations": {"applied": []},
    }
    assert "creating search attribute" not in second.err
    assert "schema is up to date" in second.err

    after = await walletflow(env, "setup", "--status", "--json")
    assert after.code == 0, after.err
    doc = json.loads(after.out)
    assert doc["ready"] is True
    assert doc["namespace"]["exists"] is True and doc["namespace"]["retention_days"] == 30
    assert [a["name"] for a in doc["search_attributes"]] == [k.name for k in search_attributes.ALL]
    assert {a["state"] for a in doc["search_attributes"]} == {"registered"}
    assert [(m["version"], m["state"], m["checksum"]) for m in doc["migrations"]] == [
        (m.version, "applied", "ok") for m in discover()
    ]

    # A changed applied migration: setup refuses with one line and applies nothing.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 1", "0" * 64)
    finally:
        await conn.close()
    refused = await walletflow(env, "setup")
    assert refused.code == exits.ERROR, refused
    assert refused.err.splitlines()[-1].startswith(
        "error: migration 001_initial.sql was changed after it was applied"
    ), refused.err
    shown = await walletflow(env, "setup", "--status")
    assert shown.code == 0, shown.err
    assert "checksum mismatch" in shown.out and "not ready" in shown.out


async def test_setup_gives_up_clearly_when_temporal_is_unreachable(tmp_path: Path) -> None:
    from starter.devstack import free_port

    port = free_port()
    env = cli_env(
        tmp_path,
        TEMPORAL_ADDRESS=f"127.0.0.1:{port}",
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
    )
    r = await walletflow(env, "setup", "--timeout", "1")
    assert r.code == exits.TIMED_OUT, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Temporal"), r.err
    assert "gave up after 1s" in lines[0]


async def test_changed_file_is_refused_before_anything_runs(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database(f"changed_{uuid.uuid4().hex[:8]}")
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (x int);")
    conn = await asyncpg.connect(dsn)
    try:
        assert [m.version for m in await apply_migrations(conn, tmp_path)] == [1]
        (tmp_path / "001_a.sql").write_text("CREATE TABLE a (x bigint);")
        (tmp_path / "002_b.sql").write_text("CREATE TABLE b (x int);")
        with pytest.raises(ChangedMigration, match=r"001_a\.sql was changed after it was applied"):
            await apply_migrations(conn, tmp_path)
        assert await conn.fetchval("SELECT to_regclass('b')") is None  # 002 did not run
        states = {s.version: (s.state, s.checksum) for s in await migration_status(conn, tmp_path)}
        assert states == {1: ("applied", "mismatch"), 2: ("pending", None)}
    finally:
        await conn.close()


async def test_a_database_from_before_checksums_upgrades(
    pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    dsn = await pg_server.create_database(f"old_{uuid.uuid4().hex[:8]}")
    (tmp_path / "001_a.sql").write_text("CREATE TABLE a (x int);")
    conn = await asyncpg.connect(dsn)
    try:
        # schema_migrations as the runner created it before checksums.
        await conn.execute(
            """CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now());
               CREATE TABLE a (x int);
               INSERT INTO schema_migrations (version, name) VALUES (1, 'a');"""
        )
        states = await migration_status(conn, tmp_path)
        assert [(s.state, s.checksum) for s in states] == [("applied", "unrecorded")]
        assert await apply_migrations(conn, tmp_path) == []
        states = await migration_status(conn, tmp_path)
        assert [(s.state, s.checksum) for s in states] == [("applied", "ok")]
    finally:
        await conn.close()
