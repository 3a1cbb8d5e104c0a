"""Bybit's own figures reproduced from real captures (``tests/venues/fixtures/bybit``, see its README).

Vector Y-R2 (formulas 2.5): ccxt's recorded ``fetchPositions`` of 2023-11-14, LTCUSDT long 1.2 @
64.59947917, leverage 6, MMR 1 % (risk id 71, first tier), taker 0.055 %. Bybit's ``positionMM`` and
``positionIM`` both hold the fee to close at the bankruptcy price; the capture predates the 2025 switch
to mark-price MM, so its figures are those at entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.rules import RULES, solve_cross
from monitor.model import MarginMode, Position, Side, Tier, Venue

FIXTURES = Path(__file__).parent.parent / "venues" / "fixtures" / "bybit"
TAKER = 0.00055  # Bybit's base taker rate for perpetuals
LTC_TIERS = (Tier(0, 200_000, 0.01, 0.0),)  # riskLimitValue 200000 of the capture, MMR 1 %


def captured_row() -> dict[str, Any]:
    body = json.loads((FIXTURES / "rest.position.list.linear.observed.json").read_text())
    row: dict[str, Any] = body["result"]["list"][0]
    return row


def position_from(row: dict[str, Any], mode: MarginMode) -> Position:
    return Position(
        row["symbol"],
        Side.LONG if row["side"] == "Buy" else Side.SHORT,
        mode,
        float(row["size"]),
        float(row["avgPrice"]),
        float(row["markPrice"]),
        LTC_TIERS,
        isolated_wallet=float(row["positionIM"]) if mode is MarginMode.ISOLATED else None,
        leverage=float(row["leverage"]),
    )


@pytest.mark.parametrize("mode", [MarginMode.CROSS, MarginMode.ISOLATED])
def test_maintenance_includes_the_fee_to_close(mode: MarginMode) -> None:
    row = captured_row()
    p = position_from(row, mode)
    mm = RULES[Venue.BYBIT].requirement(p, p.entry_price, TAKER)
    assert mm == pytest.approx(float(row["positionMM"]), abs=1e-6)


def test_fee_to_close_is_a_close_at_the_bankruptcy_price() -> None:
    row = captured_row()
    p = position_from(row, MarginMode.CROSS)
    im = float(row["positionValue"]) / float(row["leverage"])
    fee = RULES[Venue.BYBIT].fee_to_close(p, TAKER)  # type: ignore[attr-defined]
    assert im + fee == pytest.approx(float(row["positionIM"]), abs=1e-6)
    short = Position("X", Side.SHORT, MarginMode.CROSS, 2, 100, 100, LTC_TIERS, leverage=4)
    assert RULES[Venue.BYBIT].fee_to_close(short, TAKER) == pytest.approx(2 * 100 * 1.25 * TAKER)  # type: ignore[attr-defined]


def test_isolated_liquidation_with_the_fee_in_wallet_and_requirement() -> None:
    """The wallet Bybit reports (positionIM) holds the fee too, and so does MM: the fee cancels, and
    with MM from the mark LP_long = EP (1 - 1/lev) / (1 - MMR)."""
    row = captured_row()
    p = position_from(row, MarginMode.ISOLATED)
    lp = RULES[Venue.BYBIT].isolated_liquidation_price(p, TAKER)
    ep, lev = p.entry_price, p.leverage or 0.0
    assert lp == pytest.approx(ep * (1 - 1 / lev) / (1 - 0.01), abs=1e-5)


def test_cross_liquidation_counts_the_fee() -> None:
    """A cross pool holding exactly the requirement with the fee is at its liquidation price."""
    row = captured_row()
    p = position_from(row, MarginMode.CROSS)
    lp = 60.0
    fee = p.contracts * p.entry_price * (1 - 1 / 6) * TAKER
    requirement_at_lp = p.contracts * lp * 0.01 + fee  # MM from the mark since 2025-09-02
    base = requirement_at_lp - (lp - p.entry_price) * p.contracts
    assert solve_cross(RULES[Venue.BYBIT], [p], base, TAKER) == pytest.approx(lp, rel=1e-9)


BTC_TIERS = (
    Tier(0, 2_000_000, 0.005, 0.0),
    Tier(2_000_000, 4_000_000, 0.01, 10_000.0),
    Tier(4_000_000, 6_000_000, 0.015, 30_000.0),
)


@pytest.mark.parametrize(
    ("legs", "base"),
    [
        ([("long", 40.0, 60_000.0, 10.0)], 100_000.0),  # crosses a tier on its way down
        ([("short", 30.0, 60_000.0, 20.0)], 50_000.0),
        ([("long", 20.0, 60_000.0, 10.0), ("short", 5.0, 61_000.0, 25.0)], 30_000.0),  # hedge legs
    ],
)
def test_cross_closed_form_is_the_solvers_root(
    legs: list[tuple[str, float, float, float]], base: float
) -> None:
    """The closed form over the base net of the fees finds the solver's root, tier changes included."""
    rules = RULES[Venue.BYBIT]
    positions = [
        Position("BTC/USDT:USDT", Side(side), MarginMode.CROSS, q, ep, 60_000.0, BTC_TIERS, leverage=lev)
        for side, q, ep, lev in legs
    ]
    closed = rules.cross_liquidation_price(positions, base, TAKER)
    oracle = solve_cross(rules, positions, base, TAKER)
    assert closed is not None and oracle is not None
    assert closed == pytest.approx(oracle, rel=1e-9)
