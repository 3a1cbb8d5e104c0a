"""BloFin margin rules against BloFin's own figures.

BloFin publishes no margin formula: the rules are identities derived from its examples (venues note
2.4). The references are the exchange's printed figures, from the fixtures copied from the shared set
(tests/venues/fixtures/blofin/SOURCES.md):

- ``rest.positions.documented.json``, row 0: BloFin's docs example, an isolated ETH-USDT long of one
  contract (0.1 ETH). Its ``liquidationPrice`` and ``marginRatio`` are the exchange's.
- ``rest.positions.cross-long.observed.json`` with ``rest.account-balance.observed.json``: a live cross
  LTC-USDT long (one contract of 1 LTC) and the account's USDT balance, captured 420 s before the
  position was opened: the balance after the open is that balance less the open fee, 0.06 % of the
  67.85 notional (0.04071; ours, from the fee rate and the row's entry).
- ``rest.positions.cross-empty-liquidation-price.observed.json``: a live cross BTC-USDT long whose
  ``liquidationPrice`` is "" (none exists).

What is ours: the MMR of each row (its ``maintenanceMargin`` / notional, BloFin prints no rate on a
position), the fee rate 0.0006, the contract values (0.1 ETH, 1 LTC, 0.001 BTC: the instruments'
``contractValue``). BloFin's ``marginRatio`` is equity / requirement (larger is safer); ours is its
inverse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, solve_cross, solve_isolated
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "blofin"
TAKER = 0.0006
REL = 1e-12
RULE = RULES[Venue.BLOFIN]
CONTRACT_VALUE = {"ETH-USDT": 0.1, "LTC-USDT": 1.0, "BTC-USDT": 0.001}


def rows(name: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / name).read_text())["data"]
    assert isinstance(data, list)
    return [dict(r) for r in data]


def position(r: dict[str, Any]) -> Position:
    """A BloFin position row as the maths sees it, with the MMR its own ``maintenanceMargin`` implies."""
    cv = CONTRACT_VALUE[r["instId"]]
    contracts = float(r["positions"])
    mark = float(r["markPrice"])
    mmr = float(r["maintenanceMargin"]) / (abs(contracts) * cv * mark)
    isolated = r["marginMode"] == "isolated"
    return Position(
        r["instId"],
        Side.LONG if contracts > 0 else Side.SHORT,
        MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        abs(contracts),
        float(r["averagePrice"]),
        mark,
        (Tier(0.0, 1e12, mmr),),
        contract_size=cv,
        position_side=PositionSide.BOTH,
        isolated_wallet=float(r["margin"]) if isolated else None,
        leverage=float(r["leverage"]),
        exchange_liquidation_price=float(r["liquidationPrice"]) if r["liquidationPrice"] else None,
    )


def docs_isolated() -> tuple[dict[str, Any], Position]:
    r = rows("rest.positions.documented.json")[0]
    assert r["marginMode"] == "isolated"
    return r, position(r)


def test_isolated_liquidation_price_reproduces_the_docs_example() -> None:
    r, p = docs_isolated()
    assert RULE.isolated_liquidation_price(p, TAKER) == pytest.approx(float(r["liquidationPrice"]), rel=REL)


def test_isolated_margin_ratio_is_the_inverse_of_the_docs_example() -> None:
    r, p = docs_isolated()
    risk = evaluate_account(Account(Venue.BLOFIN, 0.0, (p,), name="a", taker_fee=TAKER)).positions[0]
    assert 1.0 / risk.margin_ratio == pytest.approx(float(r["marginRatio"]), rel=REL)
    assert risk.unrealized_pnl == pytest.approx(float(r["unrealizedPnl"]), rel=1e-9)
    # the requirement is BloFin's maintenance margin plus the fee to close, not the margin alone
    assert risk.maint_margin == pytest.approx(float(r["maintenanceMargin"]) + TAKER * 0.1 * 1591.69, rel=REL)
    assert risk.deviation_pct == pytest.approx(0.0, abs=1e-9)


def live_cross() -> tuple[dict[str, Any], Account]:
    r = rows("rest.positions.cross-long.observed.json")[0]
    balance = json.loads((FIXTURES / "rest.account-balance.observed.json").read_text())["data"]
    usdt = balance["details"][0]
    open_fee = TAKER * float(r["averagePrice"]) * CONTRACT_VALUE[r["instId"]] * float(r["positions"])
    wallet = float(usdt["balance"]) - open_fee
    return r, Account(Venue.BLOFIN, wallet, (position(r),), name="a", taker_fee=TAKER)


def test_cross_margin_ratio_reproduces_the_live_capture() -> None:
    r, account = live_cross()
    risk = evaluate_account(account)
    assert risk.cross is not None
    assert 1.0 / risk.cross.margin_ratio == pytest.approx(float(r["marginRatio"]), rel=REL)


def test_cross_liquidation_price_reproduces_the_live_capture() -> None:
    r, account = live_cross()
    row = evaluate_account(account).positions[0]
    assert row.liquidation_price == pytest.approx(float(r["liquidationPrice"]), rel=REL)
    assert row.exchange_liquidation_price == float(r["liquidationPrice"])
    assert row.deviation_pct == pytest.approx(0.0, abs=1e-9)


def test_no_liquidation_price_where_blofin_prints_none() -> None:
    """The BTC row's equity is far above anything the position could lose: BloFin prints "" and no
    positive price satisfies the identity either. The wallet is not in the capture: any wallet that
    reproduces BloFin's printed ratio is the equity it used."""
    r = rows("rest.positions.cross-empty-liquidation-price.observed.json")[0]
    assert r["liquidationPrice"] == ""
    p = position(r)
    requirement = float(r["maintenanceMargin"]) + TAKER * p.contracts * p.contract_size * p.mark_price
    equity = float(r["marginRatio"]) * requirement
    wallet = equity - float(r["unrealizedPnl"])
    risk = evaluate_account(Account(Venue.BLOFIN, wallet, (p,), name="a", taker_fee=TAKER))
    assert risk.positions[0].liquidation_price is None
    assert risk.cross is not None and 1.0 / risk.cross.margin_ratio == pytest.approx(float(r["marginRatio"]))


def test_tiers_are_by_contracts_and_carry_no_deduction() -> None:
    """position-tiers bounds are sizes in contracts: 150 contracts at 0.004, more at 0.006."""
    tiers = (Tier(0.0, 150.0, 0.004), Tier(150.0, 1e12, 0.006))
    small = Position("BTC-USDT", Side.LONG, MarginMode.ISOLATED, 140.0, 60_000.0, 60_000.0, tiers, 0.001)
    big = Position("BTC-USDT", Side.LONG, MarginMode.ISOLATED, 160.0, 60_000.0, 60_000.0, tiers, 0.001)
    # 140 contracts are 8,400 USDT of value: tier 1 by size, whatever the value
    assert RULE.requirement(small, 60_000.0, TAKER) == pytest.approx(140 * 0.001 * 60_000 * (0.004 + TAKER))
    assert RULE.requirement(big, 60_000.0, TAKER) == pytest.approx(160 * 0.001 * 60_000 * (0.006 + TAKER))


@pytest.mark.parametrize("side", [Side.LONG, Side.SHORT])
def test_closed_forms_are_the_solvers_roots(side: Side) -> None:
    """The short forms were not checked on an example: the solver, which knows only equity and
    requirement, is their oracle (and the long forms')."""
    tiers = (Tier(0.0, 100.0, 0.004), Tier(100.0, 1e12, 0.01))
    p = Position(
        "ETH-USDT", side, MarginMode.ISOLATED, 120.0, 2_000.0, 2_010.0, tiers, 0.1, isolated_wallet=2_500.0
    )
    ours = RULE.isolated_liquidation_price(p, TAKER)
    assert ours == pytest.approx(solve_isolated(RULE, p, TAKER), rel=1e-9)
    cross = Position("ETH-USDT", side, MarginMode.CROSS, 120.0, 2_000.0, 2_010.0, tiers, 0.1)
    other = Position("LTC-USDT", Side.LONG, MarginMode.CROSS, 10.0, 70.0, 68.0, tiers, 1.0)
    base = 4_000.0 + (68.0 - 70.0) * 10 - RULE.requirement(other, 68.0, TAKER)
    theirs = solve_cross(RULE, [cross], base, TAKER)
    assert theirs is not None
    assert RULE.cross_liquidation_price([cross], base, TAKER) == pytest.approx(theirs, rel=1e-9)
