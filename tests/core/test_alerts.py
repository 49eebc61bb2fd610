"""Price alerts fire exactly once per crossing (core/alerts.py): hysteresis, cooldown, one-shot
and repeating, moves over a window; and random price paths against a reference model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.alerts import AlertRule, AlertState, ThresholdIndex, observe


def run(rule: AlertRule, prices: list[str], step: float = 10) -> list[int]:
    """The indexes of the prices that fired."""
    state, fired = AlertState(), []
    for i, price in enumerate(prices):
        state, fire = observe(rule, state, Decimal(price), i * step)
        if fire:
            fired.append(i)
    return fired


def test_a_price_hovering_at_the_threshold_fires_once() -> None:
    rule = AlertRule(
        kind="above", threshold="250", repeat=True, hysteresis_pct="2", cooldown_seconds=0
    )
    assert run(rule, ["249", "250", "249.9", "250.1", "246", "250"]) == [
        1
    ]  # 246 > 245: not re-armed
    assert run(rule, ["249", "250", "244", "251"]) == [1, 3]  # back below 245: re-armed


def test_below_mirrors_above() -> None:
    rule = AlertRule(
        kind="below", threshold="100", repeat=True, hysteresis_pct="5", cooldown_seconds=0
    )
    assert run(rule, ["101", "99", "104", "99", "106", "100"]) == [1, 5]


def test_a_one_shot_alert_fires_once_ever() -> None:
    rule = AlertRule(kind="above", threshold="10", hysteresis_pct="0", cooldown_seconds=0)
    assert run(rule, ["11", "9", "12", "8", "13"]) == [0]


def test_the_cooldown_holds_a_second_fire_back() -> None:
    rule = AlertRule(
        kind="above", threshold="10", repeat=True, hysteresis_pct="0", cooldown_seconds=35
    )
    # Re-armed at 1 and crossing again at 2 (20 s after the fire): held back until 40 s.
    assert run(rule, ["11", "9", "11", "11", "11"]) == [0, 4]


def test_a_move_within_the_window() -> None:
    rule = AlertRule(kind="move", threshold="-10", window_seconds=30, repeat=True,
                     hysteresis_pct="2", cooldown_seconds=0)  # fmt: skip
    # 100 -> 89: -11% within 30 s fires; the window slides, the change falls back, re-arms.
    assert run(rule, ["100", "95", "89", "89", "89", "89", "80"]) == [2, 6]


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"kind": "above", "threshold": "-1"}, "greater than 0"),
        ({"kind": "move", "threshold": "0"}, "0% move"),
        ({"kind": "above", "threshold": "1", "hysteresis_pct": "100"}, "within 0..100%"),
    ],
)
def test_bad_rules_say_why(rule: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertRule.model_validate(rule).checked()
    with pytest.raises(ValueError, match="not a number"):
        AlertRule(kind="above", threshold="abc")


def reference(threshold: Decimal, h: Decimal, cooldown: float, prices: list[Decimal]) -> list[int]:
    """An `above` alert by zones: a fire is the first sample at or above the threshold after
    the price was last seen in the re-arm zone (or ever), and not within the cooldown."""
    fired: list[int] = []
    rearmed_since_fire = True
    last: float | None = None
    for i, price in enumerate(prices):
        t = i * 10.0
        if fired and price < threshold * (1 - h / 100):
            rearmed_since_fire = True
        if price >= threshold and rearmed_since_fire and (last is None or t - last >= cooldown):
            fired.append(i)
            rearmed_since_fire, last = False, t
    return fired


@settings(max_examples=300, deadline=None)
@given(
    prices=st.lists(st.integers(min_value=80, max_value=120), min_size=1, max_size=60),
    h=st.integers(min_value=0, max_value=10),
    cooldown=st.sampled_from([0, 10, 25, 60]),
)
def test_random_paths_match_the_reference_model(prices: list[int], h: int, cooldown: int) -> None:
    rule = AlertRule(kind="above", threshold="100", repeat=True, hysteresis_pct=str(h),
                     cooldown_seconds=cooldown)  # fmt: skip
    path = [Decimal(p) for p in prices]
    assert run(rule, [str(p) for p in path]) == reference(Decimal(100), Decimal(h), cooldown, path)


def test_the_index_finds_only_the_crossed_alerts() -> None:
    index = ThresholdIndex()
    index.arm("a1", "SOL", "above", Decimal(200))
    index.arm("a2", "SOL", "above", Decimal(250))
    index.arm("b1", "SOL", "below", Decimal(100))
    index.arm("x1", "BONK", "above", Decimal("0.00002"))
    assert index.crossed("SOL", Decimal(150)) == []
    assert index.crossed("SOL", Decimal(200)) == ["a1"]  # at the threshold counts
    assert index.crossed("SOL", Decimal(300)) == ["a2"]  # a1 left the index when it fired
    assert index.crossed("SOL", Decimal(90)) == ["b1"]
    assert len(index) == 1 and index.crossed("BONK", Decimal(1)) == ["x1"]
    index.arm("a1", "SOL", "above", Decimal(200))  # re-armed by its workflow
    index.arm("a1", "SOL", "above", Decimal(220))  # an edit moves it
    assert index.crossed("SOL", Decimal(210)) == [] and index.crossed("SOL", Decimal(220)) == ["a1"]
    with pytest.raises(ValueError, match="move"):
        index.arm("m", "SOL", "move", Decimal(10))


def test_ten_thousand_idle_alerts_cost_nothing_per_poll() -> None:
    """10,000 alerts on 500 tokens; a poll where prices barely move crosses none, and one
    where a token jumps crosses exactly the alerts on it that the jump passes."""
    index = ThresholdIndex()
    for i in range(10_000):
        token, level = f"T{i % 500}", Decimal(100 + i // 500)  # 20 levels, 100..119
        index.arm(f"a{i}", token, "above", level)
    assert sum(len(index.crossed(f"T{t}", Decimal("99.9"))) for t in range(500)) == 0
    assert len(index) == 10_000
    fired = index.crossed("T7", Decimal("104.5"))
    assert sorted(fired) == sorted(f"a{i}" for i in range(7, 10_000, 500) if 100 + i // 500 <= 104)
    assert len(fired) == 5 and len(index) == 9_995
