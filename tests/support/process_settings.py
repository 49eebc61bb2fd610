"""The `settings` fixture of the tests that run walletflow processes (worker, bot, CLI) against
the session's servers; a pytest plugin that tests/conftest.py lists."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from starter.runtime.settings import Settings
from tests.support.stack import Devnets, ensure_roster, stack_settings


@pytest_asyncio.fixture(scope="module")
async def settings(
    request: pytest.FixtureRequest,
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    devnets: Devnets,
) -> Settings:
    """Settings for processes of this module (worker, bot, CLI) against the test servers; a
    module adds its own with a `SETTINGS` dict of environment names."""
    extra: dict[str, Any] = getattr(request.module, "SETTINGS", {})
    settings = stack_settings(
        pg_dsn,
        devnets.solana,
        devnets.tron,
        devnets.telegram,
        TEMPORAL_ADDRESS=temporal_env.client.service_client.config.target_host,
        TEMPORAL_NAMESPACE=temporal_env.client.namespace,
        **extra,
    )
    await ensure_roster(settings)  # its signing keys, in the roster of its database
    return settings
