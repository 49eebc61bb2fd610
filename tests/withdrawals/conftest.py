from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from tests.e2e import Stack, stack_settings


@pytest_asyncio.fixture(scope="module")
async def stack(
    temporal_env: WorkflowEnvironment,
    pg_dsn: str,
    solana_devnet: Any,
    tron_devnet: Any,
    telegram_devnet: Any,
) -> AsyncIterator[Stack]:
    s = Stack(
        client=temporal_env.client,
        settings=stack_settings(pg_dsn, solana_devnet, tron_devnet, telegram_devnet),
        solana=solana_devnet,
        tron=tron_devnet,
        telegram=telegram_devnet,
    )
    await s.start_workers()
    try:
        yield s
    finally:
        await s.close()
