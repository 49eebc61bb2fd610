"""System tools that the deploy tests run and `make install` does not provide (docker-compose,
git, sh). Where one is missing the test skips, and `make test` (pytest -rs) prints why, so that
`make test` passes on a machine with only python3 and make. With WALLETFLOW_REQUIRE_TOOLS=1
(CI: .ci/run, which installs them) a missing tool is a failure instead."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

REQUIRE_TOOLS = "WALLETFLOW_REQUIRE_TOOLS"


def tools_required() -> bool:
    return os.environ.get(REQUIRE_TOOLS, "") == "1"


def unavailable(reason: str) -> NoReturn:
    """Skip (or, with WALLETFLOW_REQUIRE_TOOLS=1, fail) the running test for `reason`."""
    if tools_required():
        pytest.fail(f"{reason} ({REQUIRE_TOOLS}=1)", pytrace=False)
    pytest.skip(f"{reason}; {REQUIRE_TOOLS}=1 makes this a failure")


def system_tool(name: str, install: str) -> str:
    """The path of `name` on PATH; else the test skips or fails, saying how to `install` it."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed: {install}")
    return path
