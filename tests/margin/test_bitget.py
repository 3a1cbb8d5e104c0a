"""Bitget classic USDT-FUTURES margin rules against Bitget's own figures.

Sources (venues note 1.4; fixtures copied from the shared set, see tests/venues/fixtures/SOURCES.md):
- ``rest.all-position.documented.json``: Bitget's docs example, an isolated long whose printed
  ``liquidationPrice`` and ``marginRatio`` both follow from the published liquidation formula and the
  margin-ratio identity to every printed digit. The liquidation formula is published; the margin-ratio
  identity (MM incl. fee / (margin + uPnL)) is derived, the exchange's figure is the reference.
- Bitget support article 12560603841952: the tiered maintenance example (mark 110,000, 3 BTC, tiers at
  0.40 % to 200,000 and 0.50 % above, fee 0.06 %): old rule 1848 USDT, new rule 1648 USDT.
- ``rest.all-position.observed.json``: a cross position, whose liquidation price is the exchange's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import BITGET_TIERED_FROM, RULES, solve_isolated
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "bitget"
TAKER = 0.0006
REL = 1e-12
RULE = RULES[Venue.BITGET]
BEFORE = BITGET_TIERED_FROM - 1.0
AFTER = BITGET_TIERED_FROM


def row(name: str) -> dict[str, Any]:
    rows = json.loads((FIXTURES / name).read_text())["data"]
    assert isinstance(rows, list)
    return dict(rows[0])


def docs_position(tiers: tuple[Tier, ...], opened_at: float | None) -> Position:
    r = row("rest.all-position.documented.json")
    return Position(
        r["symbol"],
        Side(r["holdSide"]),
        MarginMode.ISOLATED,
        float(r["total"]),
        float(r["openPriceAvg"]),
        float(r["markPrice"]),
        tiers,
        position_side=PositionSide.LONG,
        isolated_wallet=float(r["marginSize"]),
        leverage=float(r["leverage"]),
        opened_at=opened_at,
    )


def one_tier() -> tuple[Tier, ...]:
    """The example's position (251 USDT) sits in tier 1 of the documented table, ``keepMarginRate`` 0.004."""
    r = row("rest.all-position.documented.json")
    return (Tier(0, 50_000, float(r["keepMarginRate"])), Tier(50_000, 1e12, 0.005))


@pytest.mark.parametrize("opened_at", [BEFORE, AFTER, None])
def test_isolated_liquidation_price_reproduces_the_docs_example(opened_at: float | None) -> None:
    expected = float(row("rest.all-position.documented.json")["liquidationPrice"])
    p = docs_position(one_tier(), opened_at)
    assert RULE.isolated_liquidation_price(p, TAKER) == pytest.approx(expected, rel=REL)


def test_isolated_margin_ratio_reproduces_the_docs_example() -> None:
    r = row("rest.all-position.documented.json")
    p = docs_position(one_tier(), AFTER)
    account = Account(Venue.BITGET, 0.0, (p,), name="a", taker_fee=TAKER)
    risk = evaluate_account(account).positions[0]
    assert risk.margin_ratio == pytest.approx(float(r["marginRatio"]), rel=REL)
    assert risk.unrealized_pnl == pytest.approx(float(r["unrealizedPL"]), rel=REL)


def test_closed_form_agrees_with_the_solver_across_tiers() -> None:
    """The closed form with re-selected tiers is the numeric root of equity = requirement."""
    tiers = (Tier(0, 50_000, 0.004), Tier(50_000, 200_000, 0.005), Tier(200_000, 1e12, 0.01))
    for opened_at in (BEFORE, AFTER):
        for side, wallet in (("long", 4_000.0), ("short", 6_000.0)):
            p = Position(
                "BTCUSDT",
                Side(side),
                MarginMode.ISOLATED,
                3.0,
                30_000.0,
                30_000.0,
                tiers,
                isolated_wallet=wallet,
                opened_at=opened_at,
            )
            ours = RULE.isolated_liquidation_price(p, TAKER)
            oracle = solve_isolated(RULE, p, TAKER)
            assert ours is not None and oracle is not None
            assert ours == pytest.approx(oracle, rel=1e-9)


@pytest.mark.parametrize("opened_at", [BEFORE, None])
def test_the_old_rule_liquidates_at_a_tier_edge_its_jump_crosses(opened_at: float | None) -> None:
    """The whole-value rule has no deduction: a short whose value rises through a tier's edge sees its
    requirement jump there. With 115 USDT on a 900 USDT short, 1 % below 1,000 and 2 % above, the
    balance is 5 just below the edge and -5 just above it, and neither tier's closed form has a root in
    its own range: the liquidation price is the edge (it used to be reported as none)."""
    tiers = (Tier(0, 1_000, 0.01), Tier(1_000, 1e12, 0.02))
    p = Position(
        "XUSDT",
        Side.SHORT,
        MarginMode.ISOLATED,
        1.0,
        900.0,
        900.0,
        tiers,
        isolated_wallet=115.0,
        opened_at=opened_at,
    )
    oracle = solve_isolated(RULE, p, 0.0)
    ours = RULE.isolated_liquidation_price(p, 0.0)
    assert oracle == pytest.approx(1_000.0, rel=1e-9)
    assert ours == pytest.approx(oracle, rel=1e-9)
    (risk,) = evaluate_account(Account(Venue.BITGET, 0.0, (p,), taker_fee=0.0)).positions
    assert risk.liquidation_price == pytest.approx(1_000.0, rel=1e-9)


# Support article 12560603841952: the tier boundary is the example's (arithmetic only).
ARTICLE_TIERS = (Tier(0, 200_000, 0.004), Tier(200_000, 1e12, 0.005))


def article_position(opened_at: float | None) -> Position:
    return Position(
        "BTCUSDT", Side.LONG, MarginMode.CROSS, 3.0, 110_000.0, 110_000.0, ARTICLE_TIERS, opened_at=opened_at
    )


def test_tiered_maintenance_margin_after_the_cut_over() -> None:
    assert RULE.requirement(article_position(AFTER), 110_000.0, TAKER) == pytest.approx(1648.0, rel=REL)


@pytest.mark.parametrize("opened_at", [BEFORE, None])
def test_whole_value_rule_before_the_cut_over_or_when_unknown(opened_at: float | None) -> None:
    assert RULE.requirement(article_position(opened_at), 110_000.0, TAKER) == pytest.approx(1848.0, rel=REL)


def test_tiered_rule_moves_the_isolated_liquidation_price() -> None:
    """Across a tier boundary the piecewise rule asks less, so a long is liquidated lower."""
    base = article_position(AFTER)
    kw = {"margin_mode": MarginMode.ISOLATED, "isolated_wallet": 30_000.0}
    new = RULE.isolated_liquidation_price(Position(**{**_fields(base), **kw}), TAKER)
    old = RULE.isolated_liquidation_price(Position(**{**_fields(base), **kw, "opened_at": BEFORE}), TAKER)
    assert new is not None and old is not None
    assert new < old


def _fields(p: Position) -> dict[str, Any]:
    return {name: getattr(p, name) for name in Position.__dataclass_fields__}


def test_cross_liquidation_price_is_the_exchanges() -> None:
    r = row("rest.all-position.documented.json")
    theirs = float(r["liquidationPrice"])
    p = Position(
        r["symbol"],
        Side.LONG,
        MarginMode.CROSS,
        float(r["total"]),
        float(r["openPriceAvg"]),
        float(r["markPrice"]),
        one_tier(),
        exchange_liquidation_price=theirs,
        opened_at=AFTER,
    )
    account = Account(Venue.BITGET, 50.0, (p,), name="a", taker_fee=TAKER)
    risk = evaluate_account(account)
    assert risk.positions[0].liquidation_price == theirs
    assert risk.cross is not None
    # our requirement / equity beside it: MM at mark incl. fee over wallet + uPnL
    mm = 0.01 * 25_100 * (0.004 + TAKER)
    assert risk.cross.margin_ratio == pytest.approx(mm / (50.0 + 1.0), rel=REL)


def test_cross_without_the_exchanges_figure_is_solved() -> None:
    p = Position("BTCUSDT", Side.LONG, MarginMode.CROSS, 1.0, 25_000.0, 25_000.0, one_tier(), opened_at=AFTER)
    account = Account(Venue.BITGET, 2_000.0, (p,), name="a", taker_fee=TAKER)
    lp = evaluate_account(account).positions[0].liquidation_price
    # 2000 + (P - 25000) = P x (0.004 + 0.0006)  ->  P = 23000 / 0.9954
    assert lp == pytest.approx(23_000.0 / (1 - 0.0046), rel=1e-9)
