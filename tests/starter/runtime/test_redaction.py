"""Log lines mask every configured secret, and only secrets: a DSN's user name or a URL's
`commitment=finalized` would otherwise turn common words in every line into `***`."""

from __future__ import annotations

import logging

from starter.runtime import telemetry
from starter.runtime.settings import Settings


def line(settings: Settings, text: str) -> str:
    formatter = telemetry.log_formatter(settings)
    record = logging.LogRecord("walletflow.worker", logging.INFO, __file__, 1, text, None, None)
    return formatter.format(record)


def test_secrets_are_masked_and_nothing_else() -> None:
    settings = Settings(
        _env_file=None,
        DATABASE_URL="postgresql://walletflow:dbpw-s3cret@db:5432/walletflow",
        SOLANA_RPC_URL="https://rpc.example/?api-key=rpc-s3cret&commitment=finalized,"
        "https://x.quiknode.pro/qn0s3cret0token0042/",
        TELEGRAM_BOT_TOKEN="123456:bot-s3cret",
        WALLETFLOW_CODEC_KEYS="k1:" + "B" * 43 + "=",
    )
    text = line(
        settings,
        "connect postgresql://walletflow:dbpw-s3cret@db:5432/walletflow failed; password "
        "dbpw-s3cret; POST https://rpc.example/?api-key=rpc-s3cret&commitment=finalized; "
        "key rpc-s3cret; GET https://x.quiknode.pro/qn0s3cret0token0042/ "
        "bot bot-s3cret; ring " + "B" * 43 + "=; walletflow slot finalized",
    )
    assert "s3cret" not in text and "B" * 20 not in text, text
    assert "walletflow.worker" in text and "walletflow slot finalized" in text, text
    assert "https://x.quiknode.pro/***" in text  # which provider, not its key
