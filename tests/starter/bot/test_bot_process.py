"""The bot process as docker-compose runs it (`python -m starter.bot`): /healthz, /readyz
(503 from SIGTERM on), /metrics with the Temporal SDK's client metrics, JSON log lines."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

from starter.runtime.settings import Settings
from tests.support.processes import metric_value, running


async def test_bot_health_metrics_and_logs(settings: Settings, tmp_path: Any) -> None:
    async with running(["-m", "starter.bot"], settings, tmp_path / "bot.log") as bot:
        await bot.wait_ready()
        assert (await bot.get("/healthz")).status_code == 200
        ready = await bot.get("/readyz")
        assert ready.json()["checks"] == {"postgres": "ok", "temporal": "ok"}

        text = await bot.scrape()
        assert metric_value(text, "temporal_request", operation="GetSystemInfo") is not None
        assert "python_info" in text  # prometheus_client's registry, served beside

        started = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        seen: list[int] = []
        while bot.proc.returncode is None and time.monotonic() - started < 20:
            try:
                seen.append((await bot.get("/readyz")).status_code)
            except Exception:
                seen.append(0)
            await asyncio.sleep(0.02)
        code = await asyncio.wait_for(bot.proc.wait(), 20)
        assert code == 0, bot.log.read_text()[-3000:]
        assert 200 not in seen, seen
        docs = [json.loads(line) for line in bot.lines()]
        assert any("polling" in str(d["message"]) for d in docs), docs
        assert all({"time", "level", "logger", "message"} <= d.keys() for d in docs)
