"""Subscription filters (core.models) and the message texts people see (core.texts)."""

from __future__ import annotations

from decimal import Decimal

from solders.keypair import Keypair

from chains import solana as sol
from core.models import PreparedWithdrawal, Subscription, UsdQuote, WalletEvent
from core.texts import DIGEST_AFTER, approval_request, messages_for, withdrawal_outcome

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


def test_a_usd_value_shows_with_its_price_and_age_and_filters_min_usd() -> None:
    valued = _event(amount=5_000_000).model_copy(
        update={"usd": UsdQuote(value="5.01", price="1.002", provider="jupiter", age_s=8)}
    )
    [(_, text)] = messages_for(Subscription(chat_id=1), [valued], sol.tx_url)
    assert "Received 5 USDC ≈ $5.01 (USDC $1.00, 8 s old)" in text
    assert Subscription(chat_id=1, min_usd=Decimal("5")).wants(valued)
    assert not Subscription(chat_id=1, min_usd=Decimal("5.02")).wants(valued)
    # Without a price, --min-usd does not hide a listed token's transfer.
    assert Subscription(chat_id=1, min_usd=Decimal("1000")).wants(_event())


def test_withdrawal_texts_show_the_usd_value_when_priced() -> None:
    prepared = PreparedWithdrawal(
        asset_id="SOL", symbol="SOL", decimals=9, to="To1", amount=12_500_000_000,
        hot_wallet="Hot1", approval_required=True,
        usd=UsdQuote(value="1875.00", price="150", provider="coingecko", age_s=42),
    )  # fmt: skip
    text, _ = approval_request("r1", "solana", "tg:1", prepared)
    assert "r1: 12.5 SOL ≈ $1,875.00 (SOL $150.00, 42 s old) on solana" in text
    done = withdrawal_outcome("r1", "confirmed", None, "tx1", prepared)
    assert "12.5 SOL ≈ $1,875.00" in done
    unpriced = prepared.model_copy(update={"usd": None})
    assert "≈" not in withdrawal_outcome("r1", "confirmed", None, "tx1", unpriced)
