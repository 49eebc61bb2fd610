"""Webhook rules (core/webhooks.py): patterns, URLs, stable ids, and signatures that the
independent `standardwebhooks` package verifies."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core import webhooks as rules
from core.models import SwapSide, WalletEvent


def test_patterns_match_known_types_and_refuse_unknown_ones() -> None:
    assert rules.check_patterns(["wallet.transfer", " withdrawal.* ", "*"]) == [
        "wallet.transfer", "withdrawal.*", "*",
    ]  # fmt: skip
    assert rules.matches("withdrawal.*", "withdrawal.confirmed")
    assert not rules.matches("withdrawal.*", "trade.confirmed")
    assert rules.matches("*.confirmed", "trade.confirmed")
    assert not rules.matches("wallet.transfer", "wallet.swap")
    for bad in ("wallet.transfers", "withdrawals.*", "nope"):
        with pytest.raises(ValueError, match=f"unknown event type '{bad}'"):
            rules.check_patterns([bad])
    with pytest.raises(ValueError, match="give the events"):
        rules.check_patterns([" "])


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/x", "must be https"),
        ("https://10.0.0.5/x", "10.0.0.5 is a private address"),
        ("https://127.0.0.1:8443/x", "127.0.0.1 is a private address"),
        ("https://[::1]/x", "is a private address"),
        ("https://169.254.169.254/latest", "169.254.169.254 is a private address"),
        ("https://localhost/x", "localhost is a private address"),
        ("https://user:pw@hooks.example.com/", "must not carry credentials"),
        ("ftp://hooks.example.com/", "is not an http(s) URL"),
    ],
)
def test_urls_must_be_https_to_public_hosts(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        rules.check_url(url, allow_insecure=False)


def test_the_dev_flag_allows_a_local_receiver() -> None:
    assert rules.check_url("https://hooks.example.com/in", allow_insecure=False)
    assert rules.check_url("http://127.0.0.1:9000/hook", allow_insecure=True)


def test_signatures_verify_with_standardwebhooks_and_both_sign_during_rotation() -> None:
    old, new = rules.new_secret(), rules.new_secret()
    body = rules.envelope("evt_1", "wallet.transfer", datetime.now(UTC), {"amount": "1"})
    now = int(time.time())
    one = rules.headers([new], "evt_1", now, body)
    Webhook(new).verify(body, one)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(body, one)
    both = rules.headers([new, old], "evt_1", now, body)
    assert len(both["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(body, both)
    Webhook(new).verify(body, both)
    tampered = body.replace(b'"1"', b'"2"')
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(tampered, both)
    stale = rules.headers([new], "evt_1", now - 600, body)  # receivers allow 5 minutes
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body, stale)
    assert json.loads(body)["event_id"] == "evt_1"


def test_event_ids_are_stable_per_event_and_state() -> None:
    event = WalletEvent(
        chain="solana", wallet="W", tx_id="T", index=0, direction="in", asset="SOL",
        symbol="SOL", decimals=9, amount=5, block=1,
    )  # fmt: skip
    pending = rules.wallet_events([event], "pending")
    final = rules.wallet_events([event], "final")
    assert pending[0].event_id == rules.wallet_events([event], "pending")[0].event_id
    assert pending[0].event_id != final[0].event_id
    assert (final[0].type, final[0].ordering, final[0].wallet) == (
        "wallet.transfer", "solana:W", "W",
    )  # fmt: skip
    swap = event.model_copy(update={"gave": SwapSide(asset="X", symbol="X", decimals=6,
                                                      amount=1)})  # fmt: skip
    given = event.model_copy(update={"index": 1, "in_swap": True})
    emitted = rules.wallet_events([swap, given], "final")
    assert [e.type for e in emitted] == ["wallet.swap"]  # the given side is part of the swap


def test_the_retry_schedule_and_what_is_permanent() -> None:
    assert [rules.backoff(n).total_seconds() for n in (1, 2, 3, 10, 20)] == [
        10, 20, 40, 3600, 3600,
    ]  # fmt: skip
    assert [s for s in (200, 301, 400, 401, 404, 408, 410, 429, 500, 503)
            if rules.permanent(s)] == [301, 400, 401, 404, 410]  # fmt: skip
