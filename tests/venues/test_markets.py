"""A market's order grid (``MarketRules``): amounts truncated to the lot size on their decimal text,
prices rounded to the tick, a contract's quote value for linear and inverse contracts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.venues.markets import MarketRules

BTC = MarketRules("BTC/USDT:USDT", amount_step=0.001, min_amount=0.001, price_tick=0.1, min_notional=100)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(0.12345, 0.123), (0.3, 0.3), (0.0009, 0.0), (1.9999999, 1.999), (7.0, 7.0)],
)
def test_amounts_are_truncated_to_the_lot_size(amount: float, expected: float) -> None:
    assert BTC.floor_amount(amount) == expected


def test_a_market_without_a_grid_keeps_the_amount_and_the_price() -> None:
    free = MarketRules("X/USDT:USDT")
    assert free.floor_amount(0.123456789) == 0.123456789
    assert free.round_price(61_234.567) == 61_234.567


@given(st.integers(min_value=0, max_value=10**9), st.integers(min_value=0, max_value=999))
def test_truncation_never_rounds_up_and_lands_on_the_grid(units: int, extra: int) -> None:
    amount = float(f"{units}.{extra:03d}") / 1000  # up to six decimals
    floored = BTC.floor_amount(amount)
    assert floored <= amount
    assert amount - floored < 0.001
    assert floored == float(f"{round(floored * 1000)}e-3")


def test_prices_are_rounded_to_the_tick() -> None:
    assert BTC.round_price(61_234.56) == 61_234.6
    assert BTC.round_price(61_234.54) == 61_234.5


def test_a_contract_is_worth_its_size_at_the_mark_or_its_face_value_when_inverse() -> None:
    assert BTC.contract_value(60_000.0) == 60_000.0
    assert MarketRules("ETH/USD:ETH", contract_size=10.0, inverse=True).contract_value(3_000.0) == 10.0
    assert MarketRules("1000PEPE", contract_size=1000.0).contract_value(0.01) == 10.0
