"""Bitunix's rules: an estimate from the one thing its help centre publishes (maintenance margin on
the entry price, ``MM = open price x size x MMR``), and the exchange's figure judged in its place
where a position carries one, ours compared with it.

No Bitunix example fits a formula (the docs' ``get_pending_positions`` row is placeholders:
``avgOpenPrice`` "1.0" for ``entryValue`` 30,000): the vectors below are worked by hand from the
definition, and the solver (the generic oracle) checks the closed forms.
"""

from __future__ import annotations

import pytest

from monitor.alerts import Level
from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, solve_cross, solve_isolated
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue
from monitor.policy.facts import deviation_facts
from monitor.policy.settings import DeviationConfig

RULE = RULES[Venue.BITUNIX]
TIERS = (Tier(0.0, 50_000.0, 0.004, 0.0), Tier(50_000.0, 1e18, 0.01, 300.0))


def isolated_long(mark: float = 31_000.0, wallet: float = 300.0, lp: float | None = None) -> Position:
    return Position(
        "BTC/USDT:USDT",
        Side.LONG,
        MarginMode.ISOLATED,
        0.5,
        30_000.0,
        mark,
        TIERS,
        isolated_wallet=wallet,
        leverage=50,
        exchange_liquidation_price=lp,
    )


def test_maintenance_is_on_the_entry_price_whatever_the_mark() -> None:
    p = isolated_long()
    # 0.5 BTC x 30,000 x 0.4 % (15,000 of value: the first tier)
    assert RULE.requirement(p, 31_000.0, 0.0) == pytest.approx(60.0, rel=1e-15)
    assert RULE.requirement(p, 10_000.0, 0.0) == RULE.requirement(p, 90_000.0, 0.0)


def test_the_tier_is_chosen_by_the_entry_value() -> None:
    big = Position("BTC/USDT:USDT", Side.SHORT, MarginMode.CROSS, 2.0, 30_000.0, 20_000.0, TIERS)
    # 60,000 at entry (second tier) although 40,000 at the mark: 60,000 x 1 % - 300
    assert RULE.requirement(big, 20_000.0, 0.0) == pytest.approx(300.0, rel=1e-15)


def test_isolated_estimate_by_hand_and_by_the_solver() -> None:
    p = isolated_long()
    # 300 + 0.5 (P - 30,000) = 60  =>  P = 29,520
    assert RULE.isolated_liquidation_price(p, 0.0) == pytest.approx(29_520.0, rel=1e-12)
    assert RULE.isolated_liquidation_price(p, 0.0) == pytest.approx(solve_isolated(RULE, p, 0.0), rel=1e-9)


def test_a_long_whose_margin_covers_it_to_zero_has_no_liquidation_price() -> None:
    assert RULE.isolated_liquidation_price(isolated_long(wallet=20_000.0), 0.0) is None


def test_cross_hedge_legs_by_the_closed_form_and_the_solver() -> None:
    long = Position(
        "ETH/USDT:USDT",
        Side.LONG,
        MarginMode.CROSS,
        3.0,
        2_000.0,
        2_100.0,
        TIERS,
        position_side=PositionSide.LONG,
    )
    short = Position(
        "ETH/USDT:USDT",
        Side.SHORT,
        MarginMode.CROSS,
        1.0,
        2_200.0,
        2_100.0,
        TIERS,
        position_side=PositionSide.SHORT,
    )
    base = 500.0
    ours = RULE.cross_liquidation_price((long, short), base, 0.0)
    assert ours is not None
    assert ours == pytest.approx(solve_cross(RULE, (long, short), base, 0.0), rel=1e-9)
    # by hand: 500 + 3 (P - 2,000) - (P - 2,200) = 3 x 2,000 x 0.4 % + 2,200 x 0.4 %  =>  P = 1,666.4
    assert ours == pytest.approx(1_666.4, rel=1e-12)


def test_the_exchange_figure_is_judged_and_ours_compared_with_it() -> None:
    account = Account(Venue.BITUNIX, 0.0, (isolated_long(lp=29_000.0),), "main")
    (risk,) = evaluate_account(account).positions
    assert risk.liquidation_price == 29_000.0
    assert risk.distance_pct == pytest.approx((31_000.0 - 29_000.0) / 31_000.0 * 100.0, rel=1e-12)
    # ours, 29,520, against theirs
    assert risk.deviation_pct == pytest.approx((29_520.0 - 29_000.0) / 29_000.0 * 100.0, rel=1e-12)
    facts = deviation_facts(risk, DeviationConfig(), Level.WARN)
    assert facts["liquidation_price"] == pytest.approx(29_520.0, rel=1e-12)
    assert facts["exchange_liquidation_price"] == 29_000.0


def test_without_the_exchange_figure_ours_is_judged() -> None:
    account = Account(Venue.BITUNIX, 0.0, (isolated_long(),), "main")
    (risk,) = evaluate_account(account).positions
    assert risk.liquidation_price == pytest.approx(29_520.0, rel=1e-12)
    assert risk.deviation_pct is None


def test_a_venue_with_a_published_formula_is_judged_by_ours() -> None:
    binance = Position(
        "BTC/USDT:USDT",
        Side.LONG,
        MarginMode.ISOLATED,
        0.5,
        30_000.0,
        31_000.0,
        TIERS,
        isolated_wallet=300.0,
        exchange_liquidation_price=29_000.0,
    )
    (risk,) = evaluate_account(Account(Venue.BINANCE_USDM, 0.0, (binance,), "main")).positions
    assert risk.liquidation_price != 29_000.0
    assert deviation_facts(risk, DeviationConfig(), Level.WARN)["liquidation_price"] == risk.liquidation_price
