"""Subscription filters (core.models) and the message texts people see (core.texts)."""

from __future__ import annotations

from decimal import Decimal

from solders.keypair import Keypair

from chains import solana as sol
from core.models import Subscription, WalletEvent
from core.texts import DIGEST_AFTER, messages_for

SOL_ADDR = str(Keypair.from_seed(bytes(32)).pubkey())


def _event(
    direction: str = "in", amount: int = 5_000_000, symbol: str = "USDC", n: int = 0
) -> WalletEvent:
    return WalletEvent(
        chain="solana",
        wallet=SOL_ADDR,
        tx_id=f"sig{n}",
        index=0,
        direction=direction,
        asset="mint",
        symbol=symbol,
        decimals=6,
        amount=amount,
        counterparty="X<b>",
        block=1,
    )


def test_subscription_filters() -> None:
    assert Subscription(chat_id=1).wants(_event())
    assert not Subscription(chat_id=1, direction="out").wants(_event("in"))
    assert not Subscription(chat_id=1, min_amount=Decimal("5.01")).wants(_event())
    assert Subscription(chat_id=1, min_amount=Decimal("5")).wants(_event())
    assert not Subscription(chat_id=1, assets=["SOL"]).wants(_event())
    assert Subscription(chat_id=1, assets=["usdc"]).wants(_event())


def test_messages_escape_user_text_and_digest_bursts() -> None:
    sub = Subscription(chat_id=7, label="<script>&")
    [(key, text)] = messages_for(sub, [_event()], sol.tx_url)
    assert key == f"7:solana:sig0:0:{SOL_ADDR}"
    assert "&lt;script&gt;&amp;" in text and "<script>" not in text
    assert "X&lt;b&gt;" in text and "+5 USDC" not in text and "Received 5 USDC" in text
    burst = [_event(n=i) for i in range(DIGEST_AFTER + 2)]
    [(digest_key, digest)] = messages_for(sub, burst, sol.tx_url)
    assert digest_key.startswith("7:digest:") and f"{len(burst)} transfers" in digest
    assert messages_for(Subscription(chat_id=7, direction="out"), burst, sol.tx_url) == []
