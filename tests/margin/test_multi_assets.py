"""Multi-Assets mode (margin-reference 1.5): collateral in other assets, valued with haircuts, whose
price may move with a held symbol. No closed form: the balance equation is solved numerically."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.commands.snapshot import SnapshotError, parse_snapshot
from monitor.margin.account import evaluate_account
from monitor.margin.rules import RULES, upnl
from monitor.margin.whatif import market_move
from monitor.model import Account, Collateral, MarginMode, Position, Side, Tier, Venue

TIERS = (Tier(0, 50_000, 0.004, 0), Tier(50_000, 250_000, 0.005, 50), Tier(250_000, 1e12, 0.01, 1_300))
BTC = "BTC/USDT:USDT"


def equity_and_requirement(account: Account, prices: dict[str, float]) -> tuple[float, float]:
    """Straight from the definitions: wallet + haircut collateral + UPNL against the requirement."""
    rules = RULES[account.venue]
    equity = account.wallet_balance
    for c in account.collateral:
        equity += c.value(prices[c.symbol] if c.symbol else None)
    req = 0.0
    for p in account.positions:
        if p.margin_mode is MarginMode.CROSS:
            price = prices.get(p.symbol, p.mark_price)
            equity += upnl(p, price)
            req += rules.requirement(p, price, account.taker_fee)
    return equity, req


def btc_account(collateral_btc: float, driven: bool = True) -> Account:
    long_btc = Position(BTC, Side.LONG, MarginMode.CROSS, 2.0, 60_000, 60_000, TIERS, leverage=20)
    c = Collateral("BTC", collateral_btc, 60_000, 0.05, BTC if driven else None)
    return Account(Venue.BINANCE_USDM, 1_000.0, (long_btc,), "ma", 0.0, (c,))


def test_btc_collateral_behind_a_btc_long_liquidates_sooner() -> None:
    """Long BTC against BTC collateral loses twice on the way down: the liquidation price is higher
    than with the same collateral value held at a fixed price."""
    moving = evaluate_account(btc_account(0.2)).positions[0].liquidation_price
    fixed = evaluate_account(btc_account(0.2, driven=False)).positions[0].liquidation_price
    assert moving is not None and fixed is not None
    assert moving > fixed
    equity, req = equity_and_requirement(btc_account(0.2), {BTC: moving})
    assert equity == pytest.approx(req, rel=1e-9)


def test_equity_counts_the_haircut_value() -> None:
    risk = evaluate_account(btc_account(0.2))
    assert risk.cross is not None
    assert risk.cross.equity == pytest.approx(1_000.0 + 0.2 * 60_000 * 0.95)


def test_uniform_move_moves_the_collateral_too() -> None:
    acct = btc_account(0.2)
    mv = market_move(acct)
    assert mv.down_pct is not None
    price = 60_000 * (1 + mv.down_pct / 100)
    equity, req = equity_and_requirement(acct, {BTC: price})
    assert equity == pytest.approx(req, rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.1, 5.0),  # contracts
    st.sampled_from(list(Side)),
    st.floats(0.8, 1.25),  # entry / mark
    st.floats(-0.5, 2.0),  # collateral amount in BTC (negative: a debt)
    st.floats(0.0, 0.3),  # haircut
    st.floats(100.0, 50_000.0),  # stable wallet
)
def test_balance_equation_holds_with_moving_collateral(
    contracts: float, side: Side, entry_ratio: float, amount: float, haircut: float, wallet: float
) -> None:
    mark = 60_000.0
    p = Position(BTC, side, MarginMode.CROSS, contracts, mark * entry_ratio, mark, TIERS, leverage=10)
    acct = Account(
        Venue.BINANCE_USDM, wallet, (p,), "ma", 0.0, (Collateral("BTC", amount, mark, haircut, BTC),)
    )
    risk = evaluate_account(acct)
    lp = risk.positions[0].liquidation_price
    if lp is None or risk.positions[0].margin_ratio >= 1.0:
        return
    equity, req = equity_and_requirement(acct, {BTC: lp})
    scale = abs(wallet) + abs(amount) * lp + abs(upnl(p, lp)) + req
    assert abs(equity - req) <= 1e-9 * scale


def test_snapshot_collateral_is_validated() -> None:
    base = {
        "venue": "binanceusdm",
        "wallet_balance": "1000",
        "positions": [
            {
                "symbol": BTC,
                "side": "long",
                "margin_mode": "cross",
                "contracts": "1",
                "entry_price": "60000",
                "mark_price": "60000",
                "tiers": [{"floor": 0, "cap": 1e12, "mmr": 0.004}],
            }
        ],
        "collateral": [{"asset": "BTC", "amount": "0.1", "price": "60000", "haircut": "0.05", "symbol": BTC}],
    }
    account, _ = parse_snapshot(base)
    assert account.collateral == (Collateral("BTC", 0.1, 60_000, 0.05, BTC),)
    bad = {
        **base,
        "collateral": [{"asset": "ETH", "amount": "1", "price": "3000", "haircut": "1", "symbol": "ETH/X"}],
    }
    with pytest.raises(SnapshotError) as info:
        parse_snapshot(bad)
    found = dict(info.value.problems)
    assert "$.collateral[0].haircut" in found and "$.collateral[0].symbol" in found


def test_without_collateral_nothing_changes() -> None:
    acct = replace(btc_account(0.2), collateral=())
    plain = Account(Venue.BINANCE_USDM, 1_000.0, acct.positions, "ma")
    assert evaluate_account(acct) == evaluate_account(plain)


def test_collateral_priced_by_a_symbol_not_held_follows_the_given_marks() -> None:
    """BNB held as margin behind a BTC position: the BNB mark moves the pool and the BTC liquidation
    price, though no position is in BNB."""
    bnb = "BNB/USDT:USDT"
    base = btc_account(0.0, driven=False)
    acct = replace(base, collateral=(Collateral("BNB", 10.0, 600.0, 0.05, bnb),))
    at_600 = evaluate_account(acct)
    at_300 = evaluate_account(acct, {bnb: 300.0})
    assert at_600.cross is not None and at_300.cross is not None
    assert at_600.cross.equity - at_300.cross.equity == pytest.approx(10 * 300 * 0.95)
    assert evaluate_account(acct, {bnb: 600.0}) == at_600
    lp_600, lp_300 = at_600.positions[0].liquidation_price, at_300.positions[0].liquidation_price
    assert lp_600 is not None and lp_300 is not None and lp_300 > lp_600  # the long: closer
