"""Amounts: display units (Decimal strings) <-> integer base units, exact, never floats."""

from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

from core.errors import InvalidInput

# Wide enough for any uint256 amount: the default 28 digits would round large token amounts.
WIDE = Context(prec=100)


def to_base_units(amount: str | Decimal, decimals: int) -> int:
    """'1.5' with 6 decimals -> 1_500_000. Refuses <= 0, too many decimals and non-numbers."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise InvalidInput(f"amount {amount!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInput(f"amount {amount!r} is not a number")
    if value <= 0:
        raise InvalidInput(f"amount must be greater than 0, got {amount}")
    scaled = value.scaleb(decimals, context=WIDE)
    if scaled != scaled.to_integral_value(context=WIDE):
        raise InvalidInput(f"amount {amount} has more than {decimals} decimal places")
    return int(scaled)


def from_base_units(amount: int, decimals: int) -> Decimal:
    """Exact: 1_500_000 with 6 decimals -> Decimal('1.500000')."""
    return Decimal(amount).scaleb(-decimals, context=WIDE)


def plain(value: Decimal) -> str:
    """'1.50' -> '1.5', '1E+2' -> '100': a decimal string without exponent or trailing zeros."""
    return format(value.normalize(context=WIDE), "f")
