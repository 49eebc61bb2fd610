"""Price alerts fire exactly once per crossing (core/alerts.py): hysteresis, cooldown, one-shot
and repeating, moves over a window; and random price paths against a reference model."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.alerts import (
    AlertAsset,
    AlertRule,
    AlertState,
    AlertWatch,
    WatchIndex,
    observe,
    parse_condition,
    watch_of,
)


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


@pytest.mark.parametrize(
    ("words", "kind", "threshold", "window"),
    [
        ("> 250", "above", "250", 3600),
        ("above $1,000", "above", "1000", 3600),
        ("<90", "below", "90", 3600),
        ("-10% 1h", "move", "-10", 3600),
        ("down 10% 1d", "move", "-10", 86400),
        ("up 5% 30m", "move", "5", 1800),
    ],
)
def test_conditions_as_people_write_them(
    words: str, kind: str, threshold: str, window: int
) -> None:
    rule = parse_condition(words.split())
    assert (rule.kind, rule.threshold, rule.window_seconds) == (kind, threshold, window)


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ("> -1", "greater than 0"),
        ("0% 1h", "0% move"),
        ("5% 2x", "not a window"),
        ("5% 2d", "at most 1d"),
        ("above abc", "not a number"),
        ("sideways", "not a condition"),
    ],
)
def test_bad_conditions_say_why_in_one_line(words: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_condition(words.split())
    assert "\n" not in str(raised.value)


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


def watch(key: str, price_id: str, op: str, level: str, **more: object) -> AlertWatch:
    return AlertWatch.model_validate(
        {"workflow_id": key, "provider": "p", "price_id": price_id, "op": op, "level": level} | more
    )


def test_the_index_finds_only_the_met_watches() -> None:
    index = WatchIndex()
    index.arm(watch("a1", "SOL", "ge", "200"), now=0)
    index.arm(watch("a2", "SOL", "ge", "250"), now=0)
    index.arm(watch("b1", "SOL", "le", "100"), now=0)
    index.arm(watch("x1", "BONK", "ge", "0.00002"), now=0)
    keys = lambda found: [w.workflow_id for w in found]  # noqa: E731
    assert index.met("SOL", Decimal(150)) == []
    assert keys(index.met("SOL", Decimal(200))) == ["a1"]  # at the threshold counts
    assert keys(index.met("SOL", Decimal(300))) == ["a2"]  # a1 left the index when reported
    assert keys(index.met("SOL", Decimal(90))) == ["b1"]
    assert len(index) == 1 and keys(index.met("BONK", Decimal(1))) == ["x1"]
    index.arm(watch("a1", "SOL", "ge", "200"), now=0)  # the version it was reported at: ignored
    assert len(index) == 0
    index.arm(watch("a1", "SOL", "ge", "220", version=1), now=0)  # its workflow's next watch
    assert index.met("SOL", Decimal(210)) == [] and keys(index.met("SOL", Decimal(220))) == ["a1"]


def test_strict_levels_and_re_arm_watches() -> None:
    """`lt`/`gt` (re-arming after a fire) are not met at the level itself."""
    index = WatchIndex()
    index.arm(watch("up", "SOL", "lt", "245"), now=0)
    index.arm(watch("dn", "TRX", "gt", "105"), now=0)
    assert index.met("SOL", Decimal(245)) == [] and index.met("TRX", Decimal(105)) == []
    assert [w.workflow_id for w in index.met("SOL", Decimal("244.99"))] == ["up"]
    assert [w.workflow_id for w in index.met("TRX", Decimal("105.01"))] == ["dn"]


def test_a_cooling_watch_waits_for_its_time() -> None:
    index = WatchIndex()
    index.arm(watch("c", "SOL", "ge", "10", not_before=100), now=50)
    index.unpark(99)
    assert index.met("SOL", Decimal(11)) == []
    index.unpark(100)
    assert [w.workflow_id for w in index.met("SOL", Decimal(11))] == ["c"]


def test_moves_are_measured_against_their_windows_reference() -> None:
    index = WatchIndex()
    index.arm(watch("m1", "SOL", "move_le", "-10", window_seconds=3600), now=0)
    index.arm(watch("m2", "SOL", "move_ge", "5", window_seconds=600), now=0)
    assert index.windows("SOL") == {3600, 600}
    refs = {3600: Decimal(100), 600: Decimal(95)}
    assert index.met("SOL", Decimal(91), refs) == []  # -9% in the hour, -4.2% in 10 min
    assert [w.workflow_id for w in index.met("SOL", Decimal(90), refs)] == ["m1"]
    assert [w.workflow_id for w in index.met("SOL", Decimal(100), refs)] == ["m2"]  # +5.3%


SOL_ASSET = AlertAsset(
    chain="solana", symbol="SOL", asset_id="SOL", provider="p", price_id="SOL", chart_url="",
    fallback={"q": "solana"},
)  # fmt: skip


def test_watch_of_follows_the_alerts_state() -> None:
    rule = AlertRule(kind="above", threshold="250", repeat=True, hysteresis_pct="2",
                     cooldown_seconds=60)  # fmt: skip
    state = AlertState()
    armed = watch_of("w", SOL_ASSET, rule, state)
    assert armed is not None and (armed.op, Decimal(armed.level)) == ("ge", 250)
    assert (armed.provider, armed.price_id, armed.fallback) == ("p", "SOL", {"q": "solana"})
    state, fired = observe(rule, state, Decimal(251), 1000)
    assert fired
    rearm = watch_of("w", SOL_ASSET, rule, state)
    assert rearm is not None and (rearm.op, Decimal(rearm.level)) == ("lt", 245)
    state, _ = observe(rule, state, Decimal(240), 1010)
    cooling = watch_of("w", SOL_ASSET, rule, state)
    assert cooling is not None and cooling.op == "ge" and cooling.not_before == 1060
    once = AlertRule(kind="below", threshold="90")
    state, fired = observe(once, AlertState(), Decimal(80), 0)
    assert fired and watch_of("w", SOL_ASSET, once, state) is None  # one-shot: done


def test_ten_thousand_idle_alerts_cost_nothing_per_poll() -> None:
    """10,000 alerts on 500 tokens; a poll where prices barely move meets none, and one
    where a token jumps meets exactly the alerts on it that the jump passes."""
    index = WatchIndex()
    for i in range(10_000):
        token, level = f"T{i % 500}", 100 + i // 500  # 20 levels, 100..119
        index.arm(watch(f"a{i}", token, "ge", str(level)), now=0)
    assert sum(len(index.met(f"T{t}", Decimal("99.9"))) for t in range(500)) == 0
    assert len(index) == 10_000
    fired = [w.workflow_id for w in index.met("T7", Decimal("104.5"))]
    assert sorted(fired) == sorted(f"a{i}" for i in range(7, 10_000, 500) if 100 + i // 500 <= 104)
    assert len(fired) == 5 and len(index) == 9_995
