"""Amounts: display units (Decimal strings) <-> integer base units, exact, never floats."""

from __future__ import annotations

import re
from decimal import Context, Decimal

from core.errors import InvalidInput

# Wide enough for any uint256 amount: the default 28 digits would round large token amounts.
WIDE = Context(prec=100)
# The largest amount any chain can carry (a uint256 token balance). Anything above is a typo or
# an attack, and would only fail later, somewhere less clear, or retried forever.
MAX_BASE_UNITS = 2**256 - 1
# Longer text is no amount anyone means (uint256 has 78 digits): refused before it is parsed.
MAX_TEXT = 100
# ASCII digits, an optional fraction and exponent: no '_', no other scripts' digits, no 'NaN'.
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", re.ASCII)


def to_base_units(amount: str | Decimal, decimals: int) -> int:
    """'1.5' with 6 decimals -> 1_500_000. Refuses <= 0, too many decimals, more than a uint256
    and non-numbers, always with `InvalidInput`: exact integer arithmetic, no rounding, and no
    work that grows with an exponent ('1e-999999999', '1e5000')."""
    text = str(amount).strip()
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"amount {text[:20]!r}… is too long ({len(text)} characters)")
    if not _NUMBER.fullmatch(text):
        raise InvalidInput(f"amount {text!r} is not a number")
    sign, digits, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)  # finite: the pattern admits no NaN or Infinity
    coefficient = int("".join(map(str, digits)))
    if sign or coefficient == 0:
        raise InvalidInput(f"amount must be greater than 0, got {text}")
    shift = exponent + decimals  # base units = coefficient * 10**shift
    if shift < 0:
        # A fraction of a base unit unless the coefficient ends in -shift zeros, which needs
        # -shift <= its length (bounded by MAX_TEXT): a larger shift is never a whole number.
        if -shift > len(digits) or coefficient % 10**-shift:
            raise InvalidInput(f"amount {text} has more than {decimals} decimal places")
        units = coefficient // 10**-shift
    else:
        # coefficient >= 1, so 10**shift alone past the maximum means too large: checked
        # before the power is computed.
        if shift > len(str(MAX_BASE_UNITS)):
            raise InvalidInput(f"amount {text} is too large")
        units = coefficient * 10**shift
    if units > MAX_BASE_UNITS:
        raise InvalidInput(f"amount {text} is too large")
    return units


def from_base_units(amount: int, decimals: int) -> Decimal:
    """Exact: 1_500_000 with 6 decimals -> Decimal('1.500000')."""
    return Decimal(amount).scaleb(-decimals, context=WIDE)


def plain(value: Decimal) -> str:
    """'1.50' -> '1.5', '1E+2' -> '100': a decimal string without exponent or trailing zeros."""
    return format(value.normalize(context=WIDE), "f")
