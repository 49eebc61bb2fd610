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
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

Kind = Literal["above", "below", "move"]
MAX_WINDOW_SECONDS = 86400  # the price-watch loop keeps at most a day of history


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
        if self.kind == "move" and hysteresis >= abs(threshold):
            raise ValueError("the hysteresis must be smaller than the move, or it never re-arms")
        if self.window_seconds > MAX_WINDOW_SECONDS:
            raise ValueError("a move's window is at most 1d")
        return self


class AlertState(BaseModel):
    armed: bool = True
    done: bool = False
    fired: int = 0
    last_fired_at: float | None = None
    window: list[tuple[float, str]] = []  # move: (time, price) within the window, oldest first


def condition(
    rule: AlertRule, state: AlertState, price: Decimal, reference: Decimal | None = None
) -> tuple[bool, bool]:
    """(the condition holds, the price is back far enough to re-arm) for this price, after
    `state.window` has taken it in; a move is measured from `reference` when one is given."""
    threshold, h = Decimal(rule.threshold), Decimal(rule.hysteresis_pct) / 100
    if rule.kind == "above":
        return price >= threshold, price < threshold * (1 - h)
    if rule.kind == "below":
        return price <= threshold, price > threshold * (1 + h)
    oldest = reference if reference is not None else Decimal(state.window[0][1])
    change = (price - oldest) / oldest * 100
    held = change >= threshold if threshold > 0 else change <= threshold
    return held, abs(change) < abs(threshold) - Decimal(rule.hysteresis_pct)


def observe(
    rule: AlertRule,
    state: AlertState,
    price: Decimal,
    now: float,
    reference: Decimal | None = None,
) -> tuple[AlertState, bool]:
    """Feed one observed price at `now`: the new state, and whether the alert fires. A move
    alert fed by the price-watch loop gets the window's oldest price as `reference` (the loop
    keeps the history; an idle alert's workflow has none)."""
    state = state.model_copy(deep=True)
    if rule.kind == "move" and reference is None:
        state.window = [(t, p) for t, p in state.window if now - t <= rule.window_seconds]
        state.window.append((now, str(price)))
    if state.done:
        return state, False
    held, back = condition(rule, state, price, reference)
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


# ---- what the price-watch loop watches ----------------------------------------------------------

# How a watch is met: the price at or above / above / at or below / below `level`, or the move
# over the window at least `level` percent (up, or down for a negative level), or back within
# `level` percent either way (a move alert re-arming).
Op = Literal["ge", "gt", "le", "lt", "move_ge", "move_le", "move_within"]


class AlertWatch(BaseModel):
    """What the price-watch loop looks for on behalf of one alert: the one condition whose
    change of truth its workflow must hear about next (fire, or re-arm). `version` grows with
    every registration, so the loop knows a fresh one from the watch it has just reported."""

    workflow_id: str  # who is signalled `price` when the watch is met
    provider: str
    price_id: str
    op: Op
    level: str
    window_seconds: int = 0
    not_before: float = 0  # a cooldown: not met before this time
    version: int = 0
    watch_id: str = ""  # a workflow with several watches names each; "" for an alert's one
    # The asset's ids at the other providers, in order ({provider: price id}): asked when
    # `provider` fails or has no fresh price (failover).
    fallback: dict[str, str] = {}

    @property
    def key(self) -> str:
        return self.watch_id or self.workflow_id


class PriceTick(BaseModel):
    """One price, as a signal to an alert (or as the answer of its slow reconcile)."""

    price: str
    at: float  # when the provider answered (unix seconds)
    reference: str | None = None  # a move: the oldest price within the window
    watch_id: str = ""  # the watch that was met (AlertWatch.watch_id)


def watch_of(
    workflow_id: str, asset: AlertAsset, rule: AlertRule, state: AlertState
) -> AlertWatch | None:
    """The condition that would change this alert's state next, or None when it is done."""
    if state.done:
        return None
    threshold, h = Decimal(rule.threshold), Decimal(rule.hysteresis_pct)
    op: Op
    if rule.kind == "above":
        op, level = ("ge", threshold) if state.armed else ("lt", threshold * (1 - h / 100))
    elif rule.kind == "below":
        op, level = ("le", threshold) if state.armed else ("gt", threshold * (1 + h / 100))
    elif state.armed:
        op, level = ("move_ge" if threshold > 0 else "move_le"), threshold
    else:
        op, level = "move_within", abs(threshold) - h
    cooling = state.armed and state.last_fired_at is not None
    return AlertWatch(
        workflow_id=workflow_id,
        provider=asset.provider,
        price_id=asset.price_id,
        op=op,
        level=str(level),
        window_seconds=rule.window_seconds if rule.kind == "move" else 0,
        not_before=(state.last_fired_at or 0) + rule.cooldown_seconds if cooling else 0,
        fallback=asset.fallback,
    )


def met(watch: AlertWatch, price: Decimal, reference: Decimal | None) -> bool:
    """Whether `price` (and a move's window `reference`) meets the watch."""
    level = Decimal(watch.level)
    if watch.op == "ge":
        return price >= level
    if watch.op == "gt":
        return price > level
    if watch.op == "le":
        return price <= level
    if watch.op == "lt":
        return price < level
    if reference is None or reference <= 0:
        return False
    change = (price - reference) / reference * 100
    if watch.op == "move_ge":
        return change >= level
    if watch.op == "move_le":
        return change <= level
    return abs(change) < level


class WatchIndex:
    """Every registered watch of one provider, so that a poll finds the met ones cheaply:
    price levels sorted per asset (O(log n + met) per asset), moves scanned per asset, and
    cooling watches parked until their time. A met watch leaves the index when it is
    reported; its workflow registers the next one (a new version). An idle alert costs
    nothing per poll."""

    def __init__(self) -> None:
        # Rising side (ge, gt): sorted by (level, strict); falling side (le, lt): by
        # (level, not strict). Then one bisect splits met from unmet, strictness included.
        self._up: dict[str, list[tuple[Decimal, int, str]]] = {}
        self._down: dict[str, list[tuple[Decimal, int, str]]] = {}
        self._moves: dict[str, dict[str, AlertWatch]] = {}
        self._parked: list[tuple[float, str]] = []
        self.watches: dict[str, AlertWatch] = {}
        self._reported: dict[str, int] = {}  # watch key -> the version last reported
        self._fallback: dict[str, dict[str, str]] = {}  # price id -> the other providers' ids

    def __len__(self) -> int:
        return len(self.watches)

    def price_ids(self) -> list[str]:
        return sorted({w.price_id for w in self.watches.values()})

    def fallback(self, price_id: str) -> dict[str, str]:
        """The asset's ids at the other providers, as its watches registered them."""
        return self._fallback.get(price_id, {})

    def windows(self, price_id: str) -> set[int]:
        return {w.window_seconds for w in self._moves.get(price_id, {}).values()}

    def arm(self, watch: AlertWatch, now: float) -> None:
        """Add or replace a watch; a version already reported is not armed again."""
        if watch.version <= self._reported.get(watch.key, -1):
            return
        self.disarm(watch.key)
        self.watches[watch.key] = watch
        if watch.fallback:
            self._fallback[watch.price_id] = watch.fallback
        if watch.not_before > now:
            bisect.insort(self._parked, (watch.not_before, watch.key))
        else:
            self._place(watch)

    def _place(self, watch: AlertWatch) -> None:
        key, level = watch.key, Decimal(watch.level)
        if watch.op in ("ge", "gt"):
            bisect.insort(self._up.setdefault(watch.price_id, []), (level, watch.op == "gt", key))
        elif watch.op in ("le", "lt"):
            entry = (level, watch.op == "le", key)
            bisect.insort(self._down.setdefault(watch.price_id, []), entry)
        else:
            self._moves.setdefault(watch.price_id, {})[key] = watch

    def disarm(self, key: str) -> None:
        watch = self.watches.pop(key, None)
        if watch is None:
            return
        level = Decimal(watch.level)
        if (watch.not_before, key) in self._parked:
            self._parked.remove((watch.not_before, key))
        elif watch.op in ("ge", "gt"):
            self._up[watch.price_id].remove((level, watch.op == "gt", key))
        elif watch.op in ("le", "lt"):
            self._down[watch.price_id].remove((level, watch.op == "le", key))
        else:
            del self._moves[watch.price_id][key]

    def unpark(self, now: float) -> None:
        """Cooling watches whose time has come join the index."""
        while self._parked and self._parked[0][0] <= now:
            _, key = self._parked.pop(0)
            self._place(self.watches[key])

    def met(
        self, price_id: str, price: Decimal, reference: Mapping[int, Decimal | None] | None = None
    ) -> list[AlertWatch]:
        """The watches this price meets (moves: against `reference[window]`); they leave the
        index, reported at their version."""
        up = self._up.get(price_id, [])
        down = self._down.get(price_id, [])
        keys = [k for _, _, k in up[: bisect.bisect_right(up, (price, False, "\uffff"))]]
        keys += [k for _, _, k in down[bisect.bisect_left(down, (price, True, "")) :]]
        for key, watch in self._moves.get(price_id, {}).items():
            if met(watch, price, (reference or {}).get(watch.window_seconds)):
                keys.append(key)
        found = []
        for key in keys:
            watch = self.watches[key]
            self.disarm(key)
            self._reported[key] = watch.version
            found.append(watch)
        return found

    def forget(self, key: str) -> None:
        """The watch is gone (its alert stopped or done, its position closed)."""
        self.disarm(key)
        self._reported.pop(key, None)


# ---- one alert's workflow ------------------------------------------------------------------------


class AlertAsset(BaseModel):
    """What an alert watches: an asset of a chain, priced by one provider under its id."""

    chain: str
    symbol: str
    asset_id: str  # the chain's id of it ("SOL", a mint, a contract)
    provider: str  # the provider whose price fires the alert
    price_id: str  # the provider's id of the asset
    chart_url: str
    fallback: dict[str, str] = {}  # the other providers' ids of it, asked when `provider` fails


class AlertRequest(BaseModel):
    chat: int
    alert_id: str
    asset: AlertAsset
    rule: AlertRule
    set_price: str  # the price when the alert was set: messages show the change since
    notify_queue: str
    reconcile_seconds: int = Field(4 * 3600, ge=1)


class AlertRun(BaseModel):
    """A PriceAlertWorkflow's whole state, carried across continue-as-new."""

    request: AlertRequest
    state: AlertState = AlertState()
    paused: bool = False
    last: PriceTick | None = None
    version: int = 0


class AlertStatus(BaseModel):
    """What `status` answers, `walletflow alert list` and `/alerts` show."""

    workflow_id: str
    chat: int
    alert_id: str
    symbol: str
    rule: AlertRule
    armed: bool
    done: bool
    paused: bool
    fired: int
    last_price: str | None = None
    last_at: float | None = None


def describe(rule: AlertRule, symbol: str) -> str:
    """`SOL > 250`, `SOL < 90`, `BONK -10% in 1h`, with ` (repeating)` when it repeats."""
    if rule.kind == "move":
        sign = "+" if Decimal(rule.threshold) > 0 else ""
        text = f"{symbol} {sign}{rule.threshold}% in {duration(rule.window_seconds)}"
    else:
        text = f"{symbol} {'>' if rule.kind == 'above' else '<'} {rule.threshold}"
    return text + (" (repeating)" if rule.repeat else "")


def duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_condition(words: list[str]) -> AlertRule:
    """`> 250`, `>250`, `above 250`, `< 90`, `below 90`, `-10% 1h`, `+5% 30m`, `move -10% 1h`,
    `down 10% 1h`, `up 5% 30m` (a window defaults to 1h):
    the rule, or ValueError saying what is wrong (one line)."""
    text = " ".join(words).strip().lower()
    for word, symbol in (("above", ">"), ("below", "<"), ("move", ""), ("up", "+"), ("down", "-")):
        if text.startswith(word):
            text = symbol + text[len(word) :].strip()
    text = text.strip()
    if text[:1] in (">", "<"):
        kind: Kind = "above" if text[0] == ">" else "below"
        number = text[1:].strip().lstrip("$").replace(",", "")
        if not number:
            raise ValueError("give a price after > or <, e.g. > 250")
        return _rule(kind=kind, threshold=number)
    parts = text.split()
    if len(parts) in (1, 2) and parts[0].endswith("%"):
        pct = parts[0][:-1].lstrip("+")
        window = parts[1] if len(parts) == 2 else "1h"
        unit = _UNITS.get(window[-1:])
        if unit is None or not window[:-1].isdigit() or int(window[:-1]) <= 0:
            raise ValueError(f"{window!r} is not a window: use e.g. 30m, 1h, 1d")
        seconds = int(window[:-1]) * unit
        if seconds > MAX_WINDOW_SECONDS:
            raise ValueError("a move's window is at most 1d")
        return _rule(kind="move", threshold=pct, window_seconds=seconds)
    raise ValueError(f"{' '.join(words)!r} is not a condition: use > PRICE, < PRICE or ±X% WINDOW")


def _rule(**fields: Any) -> AlertRule:
    try:
        rule = AlertRule(**fields)
    except ValidationError:
        raise ValueError(f"{fields['threshold']!r} is not a number") from None
    return rule.checked()


class RegisterAlert(BaseModel):
    """An alert workflow's row: its status and the watch the loop should keep for it."""

    status: AlertStatus
    asset: AlertAsset
    description: str
    watch: AlertWatch | None
    version: int


class PriceWatchState(BaseModel):
    """A provider's price-watch loop (`prices-{queue}-{provider}`)."""

    provider: str
    poll_seconds: float = 10
    rounds: int = 0
    round_seconds: int = 600


class PriceWatchResult(BaseModel):
    polls: int = 0
    calls: int = 0
    calls_per_poll_max: int = 0  # provider calls of the costliest poll (batches of 50)
    failover_calls: int = 0  # calls to other providers while this one failed
    failover_prices: int = 0  # prices they gave in its place
    watched: int = 0
    signals: int = 0
    errors: int = 0


class WatchChange(BaseModel):
    """A workflow's own watches set (upserted by key) and dropped (by watch id)."""

    watches: list[AlertWatch] = []
    dropped: list[str] = []


class PriceQuery(BaseModel):
    provider: str
    price_id: str
    fallback: dict[str, str] = {}
