"""Architecture rules that the import graph alone does not show.

1. Chain names stay inside `chains/`: no code outside it (and outside devnet/, bench/, tests/)
   holds a string constant equal to a chain's name, so nothing compares a chain's name, matches
   on it or dispatches on it through a dict; it asks the registry (`chains.get(name)`) instead,
   and a new chain is one new package. Docstrings are skipped; the ALLOWED entries say why
   each remaining literal must stay.
2. The import-linter contracts of `.importlinter` (the layers of DESIGN.md) are kept.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import unavailable

ROOT = Path(__file__).resolve().parent.parent
CHAIN_NAMES = {"solana", "tron"}
# Top-level folders whose code may name chains: the chain packages themselves, the devnets
# (stand-ins for one chain each), benches and tests (they pick chains to exercise).
EXEMPT = {"chains", "devnet", "bench", "tests"}
# Not project code: virtualenvs, build output, caches, the dev stack's home.
NOT_CODE = {".venv", "venv", "build", "dist", ".walletflow", "__pycache__", "node_modules"}
# (path relative to the repo root, the literal as written) -> why it must stay.
ALLOWED: dict[tuple[str, str], str] = {}


def python_files() -> Iterator[Path]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in EXEMPT or any(
            part in NOT_CODE or part.startswith(".") or part.endswith(".egg-info")
            for part in parts[:-1]
        ):
            continue
        yield path


def docstrings(tree: ast.AST) -> set[int]:
    """The ids of the docstring nodes: a module's, class's or function's first statement."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def chain_literals(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    skip = docstrings(tree)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and node.value.lower() in CHAIN_NAMES
            and id(node) not in skip
        ):
            yield node.lineno, node.value


def test_the_scan_sees_the_code() -> None:
    scanned = {p.relative_to(ROOT).as_posix() for p in python_files()}
    assert {"worker_main.py", "workflows/withdrawal.py", "activities/withdraw.py"} <= scanned
    assert "core/models.py" in scanned and "starter/cli/__init__.py" in scanned
    assert not any(p.split("/")[0] in EXEMPT for p in scanned)


def test_the_scan_skips_docstrings_only() -> None:
    tree = ast.parse('"""Solana."""\ndef f():\n    "TRON"\n    return x == "tron"\n')
    skip = docstrings(tree)
    found = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip
    ]
    assert found == ["tron"]


def test_no_chain_names_outside_chains() -> None:
    found: dict[tuple[str, str], list[int]] = {}
    for path in python_files():
        for line, value in chain_literals(path):
            found.setdefault((path.relative_to(ROOT).as_posix(), value), []).append(line)
    unexpected = [
        f"{file}:{line}: {value!r}"
        for (file, value), lines in sorted(found.items())
        if (file, value) not in ALLOWED
        for line in lines
    ]
    assert not unexpected, (
        "chain names outside chains/ (ask the registry, chains.get(name), instead):\n"
        + "\n".join(unexpected)
    )
    stale = sorted(set(ALLOWED) - set(found))
    assert not stale, f"ALLOWED entries no longer needed: {stale}"


def test_import_contracts_are_kept() -> None:
    beside = Path(sys.executable).parent / "lint-imports"  # the venv's, even when not on PATH
    binary = str(beside) if beside.exists() else shutil.which("lint-imports")
    if binary is None:
        unavailable("lint-imports is not installed: `make install` (import-linter, dev extra)")
    result = subprocess.run(
        [binary, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout
