"""The production deployment files: docker-compose.yml, its config files under deploy/, the
Dockerfile, .dockerignore and .env.example.

Docker has no engine here, so this checks them statically: Debian's docker-compose 1.29
validates and resolves the compose file offline (`docker-compose config`; `.ci/run` installs
it; where it is missing those tests skip, see tools.py), and the tests read the result for
images, services, health checks, start order, replicas, each walletflow container's
environment, secrets, and the documentation of every variable.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from starter.devstack import DEVNET_BOT_TOKEN
from starter.runtime.settings import Settings
from tests.support.tools import system_tool, unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

WALLETFLOW_SERVICES = ("walletflow-setup", "worker-solana", "worker-tron", "worker-notify", "bot")
LONG_RUNNING_WALLETFLOW = ("worker-solana", "worker-tron", "worker-notify", "bot")
EXPECTED_SERVICES = {
    "postgresql",
    "temporal",
    "temporal-ui",
    *WALLETFLOW_SERVICES,
    "otel-collector",
    "jaeger",
    "prometheus",
}
EXPECTED_IMAGES = {
    "postgresql": "postgres",
    "temporal": "temporalio/auto-setup",
    "temporal-ui": "temporalio/ui",
    "jaeger": "jaegertracing/all-in-one",
    "prometheus": "prom/prometheus",
    "grafana": "grafana/grafana",
}
# Values only for `docker-compose config`: the resolved file is inspected, never run.
REQUIRED_FILL = {"WALLETFLOW_DB_PASSWORD": "testonly0123", "TELEGRAM_BOT_TOKEN": "testonly"}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|PWD|SECRET|PRIVATE|(^|_)(TOKEN|KEY)$")
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")


# ---- helpers ---------------------------------------------------------------------------------


def docker_compose() -> str:
    return system_tool(
        "docker-compose", "`apt-get install docker-compose` (Debian's 1.29; .ci/run installs it)"
    )


def documented(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """NAME -> value for every `NAME=value` line, commented out or not."""
    names: dict[str, str] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            names.setdefault(m.group(1), m.group(2))
    return names


def env_example_values() -> dict[str, str]:
    """Only the lines that are set (not commented out): what a copied .env gives containers."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if m:
            values[m.group(1)] = m.group(2)
    return values


def project_copy(tmp: Path, env_text: str) -> Path:
    """What `docker-compose config` needs of the checkout, with `env_text` as .env."""
    for name in ("docker-compose.yml", "Dockerfile", ".dockerignore"):
        shutil.copy2(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "deploy", tmp / "deploy", ignore=shutil.ignore_patterns("secrets"))
    (tmp / ".env").write_text(env_text)
    return tmp


def run_config(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only PATH and HOME: a variable set in the caller's shell must not fill in for .env.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project)}
    return subprocess.run(
        [docker_compose(), "-f", "docker-compose.yml", "config", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def filled_env_text() -> str:
    lines = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^([A-Z][A-Z0-9_]*)=$", line.strip())
        if m and m.group(1) in REQUIRED_FILL:
            line = f"{m.group(1)}={REQUIRED_FILL[m.group(1)]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


@cache
def raw() -> dict[str, Any]:
    """docker-compose.yml as written (YAML anchors and merge keys resolved, ${...} not)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The file as docker-compose 1.29 resolves it, with .env copied from .env.example."""
    project = project_copy(tmp_path_factory.mktemp("compose"), filled_env_text())
    result = run_config(project)
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    data = yaml.safe_load(result.stdout)
    assert isinstance(data, dict)
    return data


def services(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svc = data["services"]
    assert isinstance(svc, dict)
    return svc


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending = f"{pending} {stripped}" if pending else stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        word, _, rest = pending.partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


# ---- docker-compose config -------------------------------------------------------------------


def test_docker_compose_config_validates(resolved: dict[str, Any]) -> None:
    missing = EXPECTED_SERVICES - set(services(resolved))
    assert not missing, f"missing services: {sorted(missing)}"


def test_config_refuses_to_run_without_a_database_password(tmp_path: Path) -> None:
    # .env.example as shipped leaves the password empty: compose must say what is missing.
    project = project_copy(tmp_path, ENV_EXAMPLE.read_text())
    result = run_config(project, "--quiet")
    assert result.returncode != 0
    assert "WALLETFLOW_DB_PASSWORD" in result.stderr


def test_images_are_the_official_ones_and_pinned(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name, repository in EXPECTED_IMAGES.items():
        image = svc[name]["image"]
        repo, _, tag = image.rpartition(":")
        assert repo == repository, f"{name}: {image}"
        assert tag and tag != "latest", f"{name} must pin a version: {image}"
    # The collector is the official contrib image plus a static busybox for its health check.
    otel = svc["otel-collector"]
    context = Path(otel["build"]["context"]).name
    dockerfile = ROOT / "deploy" / context / "Dockerfile"
    steps = dockerfile_instructions(dockerfile)
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    final_from = [a for w, a in steps if w == "FROM"][-1]
    final_image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], final_from)
    assert re.fullmatch(r"otel/opentelemetry-collector-contrib:\d+\.\d+\.\d+", final_image)
    assert otel["image"].endswith(":" + final_image.rsplit(":", 1)[1]), "tag the build alike"
    for name in WALLETFLOW_SERVICES:
        assert svc[name]["build"]["dockerfile"] == "Dockerfile"
        assert svc[name]["image"] == svc["worker-solana"]["image"]


def test_temporal_uses_postgresql_persistence(resolved: dict[str, Any]) -> None:
    temporal = services(resolved)["temporal"]
    env = environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_USER"]
    # The password comes from a docker secret, read at start, never from the compose file.
    assert "POSTGRES_PWD" not in env
    assert "/run/secrets/temporal_db_password" in " ".join(temporal["entrypoint"])
    assert "autosetup" in " ".join(temporal["entrypoint"])
    assert "temporal_db_password" in [
        s if isinstance(s, str) else s["source"] for s in temporal["secrets"]
    ]
    assert env["DEFAULT_NAMESPACE"] == "default"
    ui = services(resolved)["temporal-ui"]
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert "8080" in str(ui["ports"])


def test_every_long_running_service_has_a_health_check(resolved: dict[str, Any]) -> None:
    for name, svc in services(resolved).items():
        if svc.get("restart") == "no":
            continue  # one-shot
        check = svc.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), name
        test = check["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def test_walletflow_health_checks_probe_readyz(resolved: dict[str, Any]) -> None:
    for name in LONG_RUNNING_WALLETFLOW:
        test = " ".join(services(resolved)[name]["healthcheck"]["test"])
        assert "127.0.0.1:8000/readyz" in test, name


def condition(svc: dict[str, Any], dependency: str) -> str | None:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return "service_started" if dependency in deps else None
    entry = deps.get(dependency)
    return None if entry is None else str(entry.get("condition", "service_started"))


def test_start_order_follows_health(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    assert condition(svc["temporal"], "postgresql") == "service_healthy"
    assert condition(svc["temporal-ui"], "temporal") == "service_healthy"
    setup = svc["walletflow-setup"]
    assert condition(setup, "temporal") == "service_healthy"
    assert condition(setup, "postgresql") == "service_healthy"
    assert setup.get("restart") == "no"
    for name in LONG_RUNNING_WALLETFLOW:
        assert condition(svc[name], "temporal") == "service_healthy", name
        assert condition(svc[name], "postgresql") == "service_healthy", name
        assert condition(svc[name], "walletflow-setup") == "service_completed_successfully", name
        # Telemetry never holds back monitoring or withdrawals.
        for telemetry in ("otel-collector", "jaeger", "prometheus", "grafana"):
            assert condition(svc[name], telemetry) in (None, "service_started"), (name, telemetry)


def test_chain_workers_are_replicated_and_the_bot_is_not(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name in ("worker-solana", "worker-tron"):
        assert int(svc[name]["deploy"]["replicas"]) > 1, name
        assert "container_name" not in svc[name], "a fixed container name prevents replicas"
        assert not svc[name].get("ports"), "published ports collide between replicas"
    # One getUpdates poller per bot token.
    assert int(svc["bot"].get("deploy", {}).get("replicas", 1)) == 1


def test_each_worker_serves_its_own_queue(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name, queue in (
        ("worker-solana", "solana"),
        ("worker-tron", "tron"),
        ("worker-notify", "notify"),
    ):
        argv = [*svc[name]["entrypoint"], *svc[name].get("command", [])]
        assert argv[:3] == ["python", "-m", "worker_main"], name
        assert argv[argv.index("--queues") + 1] == queue, name
    assert svc["bot"]["entrypoint"] == ["python", "-m", "starter.bot"]
    assert svc["walletflow-setup"]["entrypoint"] == ["walletflow", "setup"]


def test_walletflow_environment(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for name in WALLETFLOW_SERVICES:
        assert raw()["services"][name]["env_file"] in (".env", [".env"]), name
        env = environment(svc[name])
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233", name
        assert re.fullmatch(
            r"postgresql://walletflow:[^@]+@postgresql:5432/walletflow", env["DATABASE_URL"]
        ), name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317", name
        assert env["OTEL_SERVICE_NAME"].startswith("walletflow"), name
        assert "TELEGRAM_BOT_TOKEN" in env, name
    for name in LONG_RUNNING_WALLETFLOW:
        env = environment(svc[name])
        assert env["WALLETFLOW_HEALTH_PORT"] == "8000" and env["WALLETFLOW_METRICS_PORT"] == "9464"
    assert environment(svc["worker-solana"])["SOLANA_RPC_URL"].startswith("http")
    assert environment(svc["worker-tron"])["TRON_API_URL"].startswith("http")
    for name in ("worker-notify", "bot"):
        assert environment(svc[name])["TELEGRAM_BOT_TOKEN"], name
    # Every Settings field parses from what a container gets (catches e.g. an empty number).
    for name in WALLETFLOW_SERVICES:
        Settings.model_validate(environment(svc[name]))


def secret_targets(svc: dict[str, Any]) -> dict[str, str]:
    out = {}
    for entry in svc.get("secrets") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = entry if isinstance(entry, str) else entry.get("target", source)
        out[str(target)] = str(source)
    return out


def test_hot_wallet_keys_are_secrets_mounted_only_where_they_sign(resolved: dict[str, Any]) -> None:
    svc = services(resolved)
    for chain in ("solana", "tron"):
        worker = svc[f"worker-{chain}"]
        assert secret_targets(worker) == {"walletflow_keystore": f"keystore_{chain}"}
        assert environment(worker)["WALLETFLOW_KEYSTORE"] == "file:/run/secrets/walletflow_keystore"
    for name in ("worker-notify", "bot", "walletflow-setup"):
        assert not any("keystore" in s for s in secret_targets(svc[name]).values()), name
        assert "WALLETFLOW_KEYSTORE" not in environment(svc[name]), name
    # Every secret is a file under deploy/secrets/ (which git ignores: the next test).
    for name, spec in raw()["secrets"].items():
        assert str(spec["file"]).startswith("./deploy/secrets/"), name


def test_secret_files_are_git_ignored() -> None:
    git = system_tool("git", "`apt-get install git`")
    if not (ROOT / ".git").exists():
        unavailable(f"{ROOT} is not a git checkout")
    for spec in raw()["secrets"].values():
        path = str(spec["file"])
        ignored = subprocess.run(
            [git, "check-ignore", "-q", path], cwd=ROOT, capture_output=True, check=False
        )
        assert ignored.returncode == 0, f"{path} is not git-ignored"


def walk_environments(data: dict[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for name, svc in data["services"].items():
        for key, value in environment(svc).items():
            out.append((name, key, value))
    return out


def test_no_secret_value_in_the_compose_file() -> None:
    for service, key, value in walk_environments(raw()):
        if key.endswith("_FILE") or key == "WALLETFLOW_KEYSTORE":
            assert not value or value.startswith(("/run/secrets/", "file:/run/secrets/")), key
        elif SECRET_NAME.search(key):
            assert re.fullmatch(r"\$\{[A-Z0-9_]+(:[?-][^}]*)?\}", value), (
                f"{service}.{key} must come from .env (${{{key}}}), not be written in the file"
            )
        if "://" in value and "@" in value:  # a DSN: its password must be interpolated
            creds = value.split("://", 1)[1].rsplit("@", 1)[0]
            password = creds.split(":", 1)[1] if ":" in creds else ""
            assert not password or password.startswith("${"), f"{service}.{key}"
    text = COMPOSE_FILE.read_text()
    assert DEVNET_BOT_TOKEN not in text
    assert not re.search(r"\b\d{8,10}:[A-Za-z0-9_-]{30,}\b", text), "a Telegram bot token"
    assert not re.search(r"\b[0-9a-fA-F]{48,}\b", text), "a hex key"
    assert not re.search(r"\b[1-9A-HJ-NP-Za-km-z]{80,90}\b", text), "a base58 keypair"
    assert "PRIVATE KEY" not in text


def test_env_example_holds_no_secret() -> None:
    for key, value in documented().items():
        if SECRET_NAME.search(key) and not key.endswith("_FILE"):
            assert value == "", f".env.example must leave {key} empty"


# ---- documentation of every variable ---------------------------------------------------------


def test_every_variable_compose_uses_is_documented_in_env_example() -> None:
    names = documented()
    text = COMPOSE_FILE.read_text()
    used = set(INTERPOLATION.findall(text))
    for name in WALLETFLOW_SERVICES:
        used |= set(environment(raw()["services"][name]))
    missing = sorted(used - set(names))
    assert not missing, f"add to .env.example: {missing}"


def test_every_setting_is_documented_in_env_example() -> None:
    names = documented()
    aliases = {field.alias or name.upper() for name, field in Settings.model_fields.items()}
    missing = sorted(aliases - set(names))
    assert not missing, f"add to .env.example (starter/runtime/settings.py has them): {missing}"


def test_key_store_variables_are_documented() -> None:
    import chains

    keys = {spec.ENV.key for spec in chains.REGISTRY.values()}
    missing = sorted(keys - set(documented()))
    assert not missing, f"add to .env.example: {missing}"
    assert "WALLETFLOW_KEYSTORE" in documented()


def test_env_example_values_parse_as_settings() -> None:
    values = env_example_values()
    values.update(REQUIRED_FILL)
    settings = Settings.model_validate(values)
    settings.tokens("solana")  # listed tokens are well-formed (checksummed addresses)
    settings.tokens("tron")
    assert settings.rpc_urls("solana") and settings.rpc_urls("tron")


# ---- telemetry config files ------------------------------------------------------------------


def load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict)
    return data


def test_otel_collector_pipelines(resolved: dict[str, Any]) -> None:
    cfg = load("deploy/otel-collector.yaml")
    assert cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert cfg["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    prom_port = cfg["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    pipelines = cfg["service"]["pipelines"]
    assert pipelines["traces"]["receivers"] == ["otlp"]
    assert "otlp/jaeger" in pipelines["traces"]["exporters"]
    assert "prometheus" in pipelines["metrics"]["exporters"]
    for pipeline in pipelines.values():
        for processor in pipeline.get("processors", []):
            assert processor in cfg["processors"]
    health_port = cfg["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]
    assert "health_check" in cfg["service"]["extensions"]
    otel = services(resolved)["otel-collector"]
    assert f":{health_port}/" in " ".join(otel["healthcheck"]["test"])
    assert any(
        v.endswith(":/etc/otelcol-contrib/config.yaml:ro") and "otel-collector.yaml" in v
        for v in map(str, otel["volumes"])
    )
    jaeger = environment(services(resolved)["jaeger"])
    assert jaeger["COLLECTOR_OTLP_ENABLED"] == "true"
    prometheus = load("deploy/prometheus.yml")
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for c in job.get("static_configs", [])
        for t in c["targets"]
    }
    assert f"otel-collector:{prom_port}" in targets


def test_prometheus_scrapes_every_walletflow_process(resolved: dict[str, Any]) -> None:
    cfg = load("deploy/prometheus.yml")
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    dns = jobs["walletflow"]["dns_sd_configs"]
    scraped = {(name, sd["port"]) for sd in dns for name in sd["names"]}
    for name in LONG_RUNNING_WALLETFLOW:
        assert (name, 9464) in scraped, name
    temporal_env = environment(services(resolved)["temporal"])
    port = temporal_env["PROMETHEUS_ENDPOINT"].rsplit(":", 1)[1]
    assert jobs["temporal-server"]["static_configs"][0]["targets"] == [f"temporal:{port}"]
    mounted = " ".join(map(str, services(resolved)["prometheus"]["volumes"]))
    assert "deploy/prometheus.yml:/etc/prometheus/prometheus.yml" in mounted


def test_grafana_data_sources_point_at_the_services() -> None:
    cfg = load("deploy/grafana/provisioning/datasources/datasources.yaml")
    urls = {ds["type"]: ds["url"] for ds in cfg["datasources"]}
    assert urls == {"prometheus": "http://prometheus:9090", "jaeger": "http://jaeger:16686"}


# ---- Dockerfile and .dockerignore ------------------------------------------------------------


def test_dockerfile_runs_as_non_root_and_installs_the_package() -> None:
    steps = dockerfile_instructions(ROOT / "Dockerfile")
    froms = [args for word, args in steps if word == "FROM"]
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for w, a in steps if w == "ARG" and "=" in a}
    base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), froms[0])
    assert base.split()[0].startswith("python:3.11-slim"), base
    final = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [a for w, a in final if w == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    runs = " ".join(a for w, a in steps if w == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "pip install . (the package)"
    entrypoint = next(a for w, a in final if w == "ENTRYPOINT")
    assert entrypoint == '["walletflow"]'


def test_dockerfile_copies_no_secret() -> None:
    steps = dockerfile_instructions(ROOT / "Dockerfile")
    for word, arg in steps:
        if word in ("COPY", "ADD"):
            sources = [s for s in shlex.split(arg)[:-1] if not s.startswith("--")]
            for src in sources:
                assert src not in (".", "./", "*"), "COPY the listed paths, not the whole context"
                assert not re.search(r"(^|/)\.env|secrets|keystore|\.pem$|\.key$|id_rsa", src), src
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", arg):
                assert not SECRET_NAME.search(name.upper()), f"{word} {name} would bake a secret in"
        # docker-compose 1.29 builds with the classic builder: no BuildKit-only syntax.
        assert "--mount=" not in arg and "--chmod=" not in arg and "<<" not in arg


def test_dockerignore_lets_in_exactly_what_the_build_needs() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore must be an allowlist"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    tool = project["tool"]["setuptools"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    needed |= {f"{m}.py" for m in tool.get("py-modules", [])}
    needed |= {p.rstrip("*") for p in tool["packages"]["find"]["include"] if p.endswith("*")}
    assert needed <= allowed, f"add to .dockerignore: {sorted(needed - allowed)}"
    # Each COPY from the context is let in (else the build fails on a missing file).
    for word, arg in dockerfile_instructions(ROOT / "Dockerfile"):
        if word == "COPY" and "--from=" not in arg:
            for src in shlex.split(arg)[:-1]:
                assert src.rstrip("/") in allowed, f"{src} is excluded by .dockerignore"
    for secret in (".env", "deploy/secrets", "deploy"):
        assert secret not in allowed


def test_shell_scripts_parse() -> None:
    sh = system_tool("sh", "a POSIX shell (package dash)")
    for script in sorted((ROOT / "deploy").rglob("*.sh")):
        result = subprocess.run([sh, "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, f"{script}: {result.stderr}"
        assert os.access(script, os.X_OK), f"{script} must be executable"
