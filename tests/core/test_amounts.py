"""Amounts: display units to base units and back, refusals, formatting (core.amounts,
core.assets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chains import solana as sol
from core.amounts import from_base_units, to_base_units
from core.assets import format_amount
from core.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "decimals", "units"),
    [("1", 9, 10**9), ("0.000001", 6, 1), ("1.5", 6, 1_500_000), ("100", 0, 100)],
)
def test_to_base_units(text: str, decimals: int, units: int) -> None:
    assert to_base_units(text, decimals) == units


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("0.0000001", "more than 6"),
        ("abc", "not a number"),
        ("nan", "not a number"),
        ("inf", "not a number"),
    ],
)
def test_to_base_units_refuses(text: str, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        to_base_units(text, 6)


@given(st.integers(min_value=1, max_value=10**30), st.integers(min_value=0, max_value=18))
def test_base_units_roundtrip(units: int, decimals: int) -> None:
    assert to_base_units(from_base_units(units, decimals), decimals) == units


def test_format_amount_trims_zeros() -> None:
    assert format_amount(1_500_000, sol.NATIVE) == "0.0015 SOL"
    assert format_amount(10**9, sol.NATIVE) == "1 SOL"
