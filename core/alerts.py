"""Price alerts as pure rules: when an observed price fires an alert, exactly once per crossing.

An alert is *armed* until its condition holds, then fires once and is disarmed; it is armed
again only after the price has come back past the threshold by the hysteresis (so a price
hovering at the threshold fires once, not at every poll), and it never fires twice within its
cooldown. A one-shot alert is done after it fired; a repeating one waits to be re-armed.

- `above` / `below`: the price is at or above (below) the threshold. Re-armed once it is below
  threshold * (1 - hysteresis) (above threshold * (1 + hysteresis)).
- `move`: the change from the oldest price within the window is at least the threshold
  percentage (a negative threshold: a fall of at least that much). Re-armed once the change is
  back under |threshold| - hysteresis percentage points.

The PriceAlertWorkflow keeps `AlertState` and feeds it prices with `observe`; being pure, the
same code answers a replay, and a test checks it against a reference model on random paths.
"""

from __future__ import annotations

import bisect
from decimal import Decimal, InvalidOperation
from typing import Literal

from pydantic import BaseModel, Field, field_validator

Kind = Literal["above", "below", "move"]


class AlertRule(BaseModel):
    kind: Kind
    threshold: str  # a USD price (above, below) or a percentage (move: "10", "-10")
    window_seconds: int = Field(3600, ge=1)  # move: the change is measured over this window
    repeat: bool = False
    hysteresis_pct: str = "1"  # re-arm only after coming back this far past the threshold
    cooldown_seconds: int = Field(300, ge=0)

    @field_validator("threshold", "hysteresis_pct")
    @classmethod
    def _decimal(cls, value: str) -> str:
        try:
            Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        return value

    def checked(self) -> AlertRule:
        """Itself, or ValueError saying what is wrong (one line)."""
        threshold, hysteresis = Decimal(self.threshold), Decimal(self.hysteresis_pct)
        if not threshold.is_finite() or not hysteresis.is_finite():
            raise ValueError("the threshold and the hysteresis must be numbers")
        if self.kind in ("above", "below") and threshold <= 0:
            raise ValueError("a price threshold must be greater than 0")
        if self.kind == "move" and threshold == 0:
            raise ValueError("a 0% move is not a move")
        if hysteresis < 0 or hysteresis >= 100:
            raise ValueError("the hysteresis must be within 0..100%")
        return self


class AlertState(BaseModel):
    armed: bool = True
    done: bool = False
    fired: int = 0
    last_fired_at: float | None = None
    window: list[tuple[float, str]] = []  # move: (time, price) within the window, oldest first


def condition(rule: AlertRule, state: AlertState, price: Decimal) -> tuple[bool, bool]:
    """(the condition holds, the price is back far enough to re-arm) for this price, after
    `state.window` has taken it in."""
    threshold, h = Decimal(rule.threshold), Decimal(rule.hysteresis_pct) / 100
    if rule.kind == "above":
        return price >= threshold, price < threshold * (1 - h)
    if rule.kind == "below":
        return price <= threshold, price > threshold * (1 + h)
    oldest = Decimal(state.window[0][1])
    change = (price - oldest) / oldest * 100
    held = change >= threshold if threshold > 0 else change <= threshold
    return held, abs(change) < abs(threshold) - Decimal(rule.hysteresis_pct)


def observe(
    rule: AlertRule, state: AlertState, price: Decimal, now: float
) -> tuple[AlertState, bool]:
    """Feed one observed price at `now`: the new state, and whether the alert fires."""
    state = state.model_copy(deep=True)
    if rule.kind == "move":
        state.window = [(t, p) for t, p in state.window if now - t <= rule.window_seconds]
        state.window.append((now, str(price)))
    if state.done:
        return state, False
    held, back = condition(rule, state, price)
    if not state.armed:
        if back:
            state.armed = True
        return state, False
    cooling = state.last_fired_at is not None and now - state.last_fired_at < rule.cooldown_seconds
    if not held or cooling:
        return state, False
    state.armed = False
    state.fired += 1
    state.last_fired_at = now
    state.done = not rule.repeat
    return state, True


class ThresholdIndex:
    """The armed `above`/`below` thresholds of many alerts, per asset and sorted, so that a
    price-watch loop finds the alerts a new price fires in O(log n + crossed): an idle alert
    costs nothing per poll. An alert leaves the index when it is reported (it fired, or its
    workflow decides) and comes back when its workflow arms it again."""

    def __init__(self) -> None:
        self._above: dict[str, list[tuple[Decimal, str]]] = {}
        self._below: dict[str, list[tuple[Decimal, str]]] = {}
        self._where: dict[str, tuple[str, Kind, Decimal]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def arm(self, alert_id: str, asset: str, kind: Kind, threshold: Decimal) -> None:
        if kind == "move":
            raise ValueError("a move alert has no fixed threshold to index")
        self.disarm(alert_id)
        side = self._above if kind == "above" else self._below
        bisect.insort(side.setdefault(asset, []), (threshold, alert_id))
        self._where[alert_id] = (asset, kind, threshold)

    def disarm(self, alert_id: str) -> None:
        found = self._where.pop(alert_id, None)
        if found is None:
            return
        asset, kind, threshold = found
        side = (self._above if kind == "above" else self._below)[asset]
        side.remove((threshold, alert_id))

    def crossed(self, asset: str, price: Decimal) -> list[str]:
        """The armed alerts whose condition this price meets; they leave the index."""
        above = self._above.get(asset, [])
        below = self._below.get(asset, [])
        # above: every threshold <= price; below: every threshold >= price.
        hit = [a for _, a in above[: bisect.bisect_right(above, (price, "\uffff"))]]
        hit += [a for _, a in below[bisect.bisect_left(below, (price, "")) :]]
        for alert_id in hit:
            self.disarm(alert_id)
        return hit
