"""Absurd amounts are InvalidInput, never another exception, a huge number or a rounded one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.amounts import MAX_BASE_UNITS, from_base_units, to_base_units
from core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("1e5000", "too large"),  # was a 5007-digit int that no JSON encoder would take
        ("1e999999999", "too large"),  # was decimal.Overflow: retried forever
        ("1e-5000", "more than 6 decimal places"),
        ("1e-999999999", "more than 6 decimal places"),  # was 0 base units, accepted
        ("1" * 200, "too long"),  # was silently rounded to 100 significant digits
        ("9" * 5000, "too long"),
        ("NaN", "not a number"),
        ("sNaN", "not a number"),
        ("-Infinity", "not a number"),
        ("1_000", "not a number"),  # Decimal reads it as 1000: a typo, not an amount
        ("١٢", "not a number"),  # Arabic-Indic digits: Decimal reads 12
        ("0x10", "not a number"),
        ("", "not a number"),
        ("-0", "greater than 0"),
        ("0e-5000", "greater than 0"),
        (str(MAX_BASE_UNITS + 1), "too large"),
        ("1.2e77", "too large"),
    ],
)
def test_absurd_amounts_are_invalid_input(text: str, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        to_base_units(text, 6)


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [
        ("1e3", 6, 1_000_000_000),
        ("1.5E-3", 6, 1_500),
        ("100e-8", 6, 1),  # trailing zeros are not decimals
        ("1.000000000", 6, 1_000_000),
        (".5", 1, 5),
        ("+2", 0, 2),
        (" 7 ", 0, 7),
        (str(MAX_BASE_UNITS), 0, MAX_BASE_UNITS),
        (Decimal("1E-18"), 18, 1),
    ],
)
def test_accepted_notations(text: str | Decimal, decimals: int, units: int) -> None:
    assert to_base_units(text, decimals) == units


@given(st.text(max_size=120), st.integers(min_value=0, max_value=30))
def test_any_text_is_an_amount_or_invalid_input(text: str, decimals: int) -> None:
    try:
        units = to_base_units(text, decimals)
    except InvalidInput:
        return
    assert 0 < units <= MAX_BASE_UNITS


@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=Decimal("1e-40")),
    st.integers(min_value=0, max_value=30),
)
def test_a_decimal_is_exact_or_refused(value: Decimal, decimals: int) -> None:
    try:
        units = to_base_units(value, decimals)
    except InvalidInput:
        return
    assert from_base_units(units, decimals) == value
