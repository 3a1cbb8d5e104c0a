"""What-if answers checked against independent evaluations of the modified account."""

from __future__ import annotations

from dataclasses import replace

import pytest

from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, upnl
from monitor.margin.whatif import initial_margin, margin_to_add, market_move, switch_mode, what_if
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Tier, Venue

TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 250_000, 0.005, 50), Tier(250_000, 1e12, 0.01, 1_300))


def book() -> Account:
    return Account(
        Venue.BINANCE_USDM,
        10_000.0,
        (
            Position("BTC", Side.LONG, MarginMode.CROSS, 0.5, 64_000, 61_000, TIERS, leverage=10),
            Position("ETH", Side.LONG, MarginMode.CROSS, 8, 3_400, 3_150, TIERS, leverage=10),
            Position(
                "SOL", Side.SHORT, MarginMode.ISOLATED, 60, 140, 146, TIERS, isolated_wallet=1_500, leverage=5
            ),
        ),
        "t",
    )


def test_cross_to_isolated_uses_initial_margin() -> None:
    acct = book()
    sw = switch_mode(acct, 0)
    im = 0.5 * 64_000 / 10
    assert sw.moved_margin == pytest.approx(im)
    iso = replace(acct.positions[0], margin_mode=MarginMode.ISOLATED, isolated_wallet=im)
    assert sw.liquidation_price == RULES[Venue.BINANCE_USDM].isolated_liquidation_price(iso, 0.0)
    assert initial_margin(replace(acct.positions[0], leverage=None)) is None
    assert (
        switch_mode(
            replace(acct, positions=(replace(acct.positions[0], leverage=None),)), 0
        ).liquidation_price
        is None
    )


def test_isolated_to_cross_brings_its_wallet() -> None:
    acct = book()
    sw = switch_mode(acct, 2)
    merged = replace(
        acct,
        wallet_balance=acct.wallet_balance + 1_500,
        positions=(
            *acct.positions[:2],
            replace(acct.positions[2], margin_mode=MarginMode.CROSS, isolated_wallet=None),
        ),
    )
    assert sw.liquidation_price == evaluate_account(merged).positions[2].liquidation_price
    assert sw.to_mode is MarginMode.CROSS


@pytest.mark.parametrize("target", [2.0, 10.0, 35.0])
def test_margin_to_add_reaches_the_target(target: float) -> None:
    acct = book()
    add = margin_to_add(acct, 2, target)
    p = acct.positions[2]
    expected_price = p.mark_price * (1 + target / 100)
    assert add.target_liquidation_price == pytest.approx(expected_price)
    if add.add > 0:
        assert add.new_liquidation_price == pytest.approx(expected_price, rel=1e-10)
    else:  # already further away than asked
        current = evaluate_account(acct).positions[2].liquidation_price
        assert current is None or current >= expected_price


def test_margin_to_add_refuses_cross_and_bad_targets() -> None:
    with pytest.raises(ValueError, match="not isolated"):
        margin_to_add(book(), 0, 10)
    with pytest.raises(ValueError, match="between 0 and 100"):
        margin_to_add(book(), 2, 0)


def test_uniform_move_liquidates_exactly() -> None:
    acct = book()
    move = market_move(acct)
    assert move.down_pct is not None and move.down_pct < 0
    factor = 1 + move.down_pct / 100
    rules = RULES[acct.venue]
    equity = acct.wallet_balance
    req = 0.0
    for p in acct.positions:
        if p.margin_mode is MarginMode.CROSS:
            price = p.mark_price * factor
            equity += upnl(p, price)
            req += rules.requirement(p, price, 0.0)
    assert equity == pytest.approx(req, rel=1e-9)
    assert move.up_pct is None  # two longs: no rise liquidates


def test_single_symbol_move_matches_its_liquidation_price() -> None:
    acct = book()
    lp = evaluate_account(acct).positions[0].liquidation_price
    mv = market_move(acct, "BTC")
    assert lp is not None and mv.down_pct is not None
    assert 61_000 * (1 + mv.down_pct / 100) == pytest.approx(lp, rel=1e-9)


def test_what_if_covers_every_position() -> None:
    acct = replace(
        book(),
        positions=(
            *book().positions,
            Position(
                "ETH",
                Side.SHORT,
                MarginMode.CROSS,
                1,
                3_000,
                3_150,
                TIERS,
                position_side=PositionSide.BOTH,
                leverage=5,
            ),
        ),
    )
    w = what_if(replace(acct, positions=acct.positions[:3]))
    assert len(w.mode_switches) == 3
    assert len(w.margin_to_add) == 1
    assert [m.scope for m in w.market_moves] == ["all", "BTC", "ETH"]
