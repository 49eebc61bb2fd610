"""What a copy decides from a leader's swap (core/copying.py), as pure rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.copying import (
    CopyRequest,
    CopyRules,
    CopyState,
    LeaderSwap,
    Position,
    buy_amount,
    decide,
    sell_amount,
)
from core.exits import exit_amount, exit_level, raised_peak

SOL = 10**9
NOW = 1_800_000_000.0
TOKEN = "Mint1111111111111111111111111111111111111111"


def state(**rules: object) -> CopyState:
    req = CopyRequest(
        follower="alice",
        leader="Leader",
        chain="solana",
        rules=CopyRules.model_validate(rules),
        notify_queue="notify",
        trade_queue="solana",
    )
    return CopyState(request=req)


def buy(amount: int = SOL, token: str = TOKEN, symbol: str = "BONK", age: float = 5) -> LeaderSwap:
    return LeaderSwap(
        leader="Leader", signature="sig", gave_asset="SOL", gave_symbol="SOL", gave_decimals=9,
        gave_amount=amount, got_asset=token, got_symbol=symbol, got_decimals=6, got_amount=10**6,
        block_time=int(NOW - age),
    )  # fmt: skip


def sell(amount: int = 500) -> LeaderSwap:
    return LeaderSwap(
        leader="Leader", signature="sig2", gave_asset=TOKEN, gave_symbol="BONK", gave_decimals=6,
        gave_amount=amount, got_asset="SOL", got_symbol="SOL", got_decimals=9, got_amount=SOL,
        block_time=int(NOW),
    )  # fmt: skip


def test_a_buy_is_a_fixed_amount_or_a_capped_share() -> None:
    assert decide(buy(), state(sol_per_buy="0.1"), "SOL", NOW) == ("buy", SOL // 10, None)
    pct = state(sol_per_buy=None, pct_of_leader="10", max_per_buy="0.05")
    assert decide(buy(SOL), pct, "SOL", NOW) == ("buy", SOL // 20, None)  # capped
    assert buy_amount(CopyRules(sol_per_buy=None, pct_of_leader="10"), SOL // 4) == SOL // 40


@pytest.mark.parametrize(
    ("rules", "swap", "reason"),
    [
        ({"allow": ["USDC"]}, buy(), "BONK is not on the allow list"),
        ({"deny": ["bonk"]}, buy(), "BONK is on the deny list"),
        ({"deny": [TOKEN]}, buy(), "BONK is on the deny list"),
        ({"max_age_seconds": 10}, buy(age=11), "older than 10s"),
        ({"daily_cap": "0.05"}, buy(), "over the daily cap of 0.05 SOL"),
        ({}, sell(), "no BONK position to sell"),
    ],
)
def test_what_the_rules_skip(rules: dict[str, object], swap: LeaderSwap, reason: str) -> None:
    side, amount, why = decide(swap, state(**rules), "SOL", NOW)
    assert (side, amount, why) == ("skip", 0, reason)


def test_open_positions_are_capped_but_adding_to_one_is_not() -> None:
    s = state(max_open_positions=1)
    s.positions["Other"] = Position(asset="Other", symbol="OTH", decimals=6, amount=5)
    assert decide(buy(), s, "SOL", NOW)[2] == "1 positions open, the most allowed"
    s.positions[TOKEN] = Position(asset=TOKEN, symbol="BONK", decimals=6, amount=1)
    del s.positions["Other"]
    assert decide(buy(), s, "SOL", NOW)[0] == "buy"


def test_a_sell_is_the_leaders_fraction_of_the_position() -> None:
    position = Position(asset=TOKEN, symbol="BONK", decimals=6, amount=1_000)
    assert sell_amount(position, leader_sold=500, leader_left=1_500) == 250  # a quarter
    assert sell_amount(position, leader_sold=500, leader_left=0) == 1_000  # sold out: all
    assert sell_amount(position, leader_sold=0, leader_left=0) == 0
    s = state()
    s.positions[TOKEN] = position
    assert decide(sell(), s, "SOL", NOW)[0] == "sell"


def test_a_rule_added_later_leaves_older_statements_valid() -> None:
    """Statements over rules signed before `min_liquidity` existed hash the same (the replay
    of a running copy depends on it); set, it is covered like every other rule."""
    assert "min_liquidity" not in CopyRules().params()["rules"]  # type: ignore[operator]
    assert CopyRules(min_liquidity="100").params()["rules"]["min_liquidity"] == "100"  # type: ignore[index]
    for later in ("take_profit_pct", "stop_loss_pct", "trailing_stop_pct"):
        assert later not in CopyRules().params()["rules"]  # type: ignore[operator]
    assert CopyRules(trailing_stop_pct="15").params()["rules"]["trailing_stop_pct"] == "15"  # type: ignore[index]


def test_exit_levels_against_the_entry_and_the_trailing_peak() -> None:
    rules = CopyRules(take_profit_pct="50", take_profit_sell_pct="25", stop_loss_pct="20",
                      trailing_stop_pct="10")  # fmt: skip
    assert rules.exit_rules == ["tp", "sl", "trail"]
    assert rules.watched == ["tp", "sl", "trail", "peak"]
    position = Position(asset=TOKEN, symbol="BONK", decimals=6, amount=1_000, entry_usd="2")
    assert exit_level(position, rules, "tp") == ("ge", Decimal(3))
    assert exit_level(position, rules, "sl") == ("le", Decimal("1.6"))
    # No high seen yet: the trail hangs under the entry, the next step (a quarter of the
    # trail's 10%, at most 1%) above it.
    assert exit_level(position, rules, "trail") == ("le", Decimal("1.8"))
    assert exit_level(position, rules, "peak") == ("ge", Decimal("2.02"))
    position.peak_usd = raised_peak(position, Decimal("4"))
    assert position.peak_usd == "4" and raised_peak(position, Decimal("3")) == "4"
    assert exit_level(position, rules, "trail") == ("le", Decimal("3.6"))
    # A narrow trail steps a quarter of its distance.
    narrow = rules.model_copy(update={"trailing_stop_pct": "2"})
    assert exit_level(position, narrow, "peak") == ("ge", Decimal("4.02"))
    assert exit_amount(position, rules, "tp") == 250
    assert exit_amount(position, rules, "trail") == exit_amount(position, rules, "sl") == 1_000
