"""OKX's own figures reproduced from a real capture (``tests/venues/fixtures/okx``, see its README).

Vector O-R2 (formulas 3.4): a ``positions`` push quoted in ccxt's ``pro/okx.ts`` (2023-08-27),
XRP-USDT-SWAP, ``ctVal`` 100 XRP, cross, net, long 1 contract at 0.52668, mark 0.52692, lever 3,
tier 1 MMR 0.5 %, taker 0.05 %. OKX's ``mgnRatio`` is equity / (``mmr`` + fee to close), so the cross
equity the position sees is ``mgnRatio x (mmr + notional x taker)``; with it OKX's ``liqPx`` is the root
of the same balance equation as an isolated position's, to 1e-16.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, ratio_from_okx, ratio_to_okx, solve_cross, solve_isolated
from monitor.model import Account, MarginMode, Position, Side, Tier, Venue

FIXTURES = Path(__file__).parent.parent / "venues" / "fixtures" / "okx"
TAKER = 0.0005  # OKX's base taker rate for swaps, the fee term of the capture's ratio
XRP_CT_VAL = 100.0  # XRP-USDT-SWAP's contract value (instruments), 100 XRP
XRP_TIERS = (Tier(0, 1e9, 0.005, 0.0),)  # tier 1, MMR 0.5 % (the capture's mmr / notional)


def captured_row() -> dict[str, Any]:
    body = json.loads((FIXTURES / "ws.positions.swap.cross.net.observed.json").read_text())
    row: dict[str, Any] = body["data"][0]
    return row


def position_from(row: dict[str, Any]) -> Position:
    contracts = float(row["pos"])
    return Position(
        row["instId"],
        Side.LONG if contracts > 0 else Side.SHORT,
        MarginMode(row["mgnMode"]),
        abs(contracts),
        float(row["avgPx"]),
        float(row["markPx"]),
        XRP_TIERS,
        contract_size=XRP_CT_VAL,
        leverage=float(row["lever"]),
        exchange_liquidation_price=float(row["liqPx"]),
    )


def captured_equity(row: dict[str, Any]) -> float:
    notional = float(row["pos"]) * XRP_CT_VAL * float(row["markPx"])
    return float(row["mgnRatio"]) * (float(row["mmr"]) + notional * TAKER)


def test_maintenance_amount_is_the_tier_rate_of_the_notional_at_the_mark() -> None:
    row = captured_row()
    p = position_from(row)
    without_fee = RULES[Venue.OKX].requirement(p, p.mark_price, 0.0)
    assert without_fee == pytest.approx(float(row["mmr"]), rel=1e-12)


def test_cross_account_reproduces_okx_liquidation_price_and_ratio() -> None:
    row = captured_row()
    p = position_from(row)
    equity = captured_equity(row)
    assert equity == pytest.approx(19.997666, abs=1e-9)
    wallet = equity - float(row["upl"])
    risk = evaluate_account(Account(Venue.OKX, wallet, (p,), "okx", taker_fee=TAKER))
    ours = risk.positions[0]
    assert ours.liquidation_price == pytest.approx(float(row["liqPx"]), rel=1e-15)
    assert ours.deviation_pct == pytest.approx(0.0, abs=1e-12)
    assert risk.cross is not None
    assert risk.cross.margin_ratio == pytest.approx(ratio_from_okx(float(row["mgnRatio"])), rel=1e-12)
    assert ratio_to_okx(risk.cross.margin_ratio) == pytest.approx(float(row["mgnRatio"]), rel=1e-12)


def test_cross_closed_form_is_the_solvers_root() -> None:
    row = captured_row()
    p = position_from(row)
    base = captured_equity(row) - float(row["upl"])
    rules = RULES[Venue.OKX]
    closed = rules.cross_liquidation_price((p,), base, TAKER)
    assert closed == pytest.approx(solve_cross(rules, [p], base, TAKER), rel=1e-10)


@pytest.mark.parametrize("inverse", [False, True])
def test_hedged_legs_share_one_root(inverse: bool) -> None:
    """Long/short mode: both legs of a symbol move with its mark; the closed form over both legs is the
    root of the pool's balance, as the solver finds it."""
    tiers = (Tier(0, 500, 0.004, 0.0), Tier(500, 1e9, 0.006, 0.0))
    ct_val, ep, mark = (100.0, 50_000.0, 48_000.0) if inverse else (0.01, 60_000.0, 61_000.0)
    long = Position("BTC", Side.LONG, MarginMode.CROSS, 700, ep, mark, tiers, ct_val, inverse)
    short = Position("BTC", Side.SHORT, MarginMode.CROSS, 200, ep * 1.01, mark, tiers, ct_val, inverse)
    base = 0.3 if inverse else 900.0
    rules = RULES[Venue.OKX]
    closed = rules.cross_liquidation_price((long, short), base, TAKER)
    assert closed is not None
    assert closed == pytest.approx(solve_cross(rules, [long, short], base, TAKER), rel=1e-10)


def test_tier_follows_contracts_not_price() -> None:
    """OKX tiers count contracts: the same position takes the same rate at any price."""
    tiers = (Tier(0, 500, 0.004, 0.0), Tier(500, 1e9, 0.006, 0.0))
    mode = MarginMode.ISOLATED
    p = Position("BTC", Side.LONG, mode, 600, 60_000, 60_000, tiers, 0.01, isolated_wallet=9_000)
    rules = RULES[Venue.OKX]
    for price in (1_000.0, 60_000.0, 1e6):
        assert rules.requirement(p, price, 0.0) == pytest.approx(600 * 0.01 * price * 0.006)
    assert rules.isolated_liquidation_price(p, TAKER) == pytest.approx(solve_isolated(rules, p, TAKER))


def test_ratio_conversion_edges() -> None:
    """No equity reads as past liquidation in both conventions; no requirement as safe."""
    assert ratio_from_okx(0.0) == float("inf")
    assert ratio_to_okx(float("inf")) == 0.0
    assert ratio_to_okx(0.0) == float("inf")
    assert ratio_from_okx(2.0) == 0.5
