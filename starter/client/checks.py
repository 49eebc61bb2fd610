"""Checks of user input that several commands share: one clear line, nothing started."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from core.errors import UserError
from core.exits import ExitRules


def positive(text: str | None, what: str, most: Decimal | None = None) -> None:
    """A number > 0 (and <= `most`), or a UserError naming the option."""
    if text is None:
        return
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise UserError(f"{what} must be a number, not {text!r}") from None
    if not value.is_finite() or value <= 0 or (most is not None and value > most):
        bound = f" and at most {most}" if most is not None else ""
        raise UserError(f"{what} must be greater than 0{bound}, not {text}")


def check_exits(rules: ExitRules) -> None:
    """Exit percentages as the CLI names them: a take-profit > 0, the share it sells within
    0..100, a stop-loss and a trailing stop within 0..100 (exclusive)."""
    positive(rules.take_profit_pct, "--take-profit")
    positive(rules.take_profit_sell_pct, "--take-profit-sell", Decimal(100))
    for value, flag in ((rules.stop_loss_pct, "--stop-loss"),
                        (rules.trailing_stop_pct, "--trailing-stop")):  # fmt: skip
        positive(value, flag)
        if value is not None and Decimal(value) >= 100:
            raise UserError(f"{flag} must be under 100 (%), not {value}")
    if rules.take_profit_sell_pct is not None and rules.take_profit_pct is None:
        raise UserError("--take-profit-sell needs --take-profit")
