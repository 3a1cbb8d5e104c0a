"""The simulator's ledger: fills, fees, margin, and its own liquidation engine."""

from __future__ import annotations

import math

import pytest

from monitor.margin.tiers import maint_amount
from monitor.model import MarginMode, PositionSide, Side, Tier
from monitor.sim.book import build_ledger, small_book
from monitor.sim.errors import from_rejection
from monitor.sim.ledger import (
    BOTH,
    LONG,
    SHORT,
    AccountUpdate,
    Ledger,
    MarginCall,
    OrderUpdate,
)
from monitor.sim.rejections import Rejected
from monitor.sim.specs import Bracket, SymbolSpec, major_specs

FEE = 0.0005


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-9)


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger(major_specs())
    led.add_account("t", "key-t", "sec-t", 20_000.0, reduce_only_enforced=False)
    led.add_account("h", "key-h", "sec-h", 10_000.0, hedge_mode=True, reduce_only_enforced=False)
    return led


def code_of(exc: pytest.ExceptionInfo[Rejected]) -> int:
    """The Binance code the ledger's neutral refusal is answered with."""
    return from_rejection(exc.value).code


# ---- fills, fees, realised PnL -------------------------------------------------------------------


def test_opening_fill_charges_taker_fee_and_sets_entry(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSDT", 60_000)
    order, events = ledger.place_market_order("t", "BTCUSDT", "BUY", 1.0, now_ms=1)
    acct = ledger.account("t")
    assert acct.cross_wallet == approx(20_000 - 60_000 * FEE)
    leg = acct.legs["BTCUSDT", BOTH]
    assert (leg.amount, leg.entry_price) == (1.0, 60_000)
    assert order.status == "FILLED" and order.commission == approx(30.0)
    assert [type(e) for e in events] == [OrderUpdate, AccountUpdate, OrderUpdate]
    assert [e.execution for e in events if isinstance(e, OrderUpdate)] == ["NEW", "TRADE"]


def test_adding_averages_the_entry_price(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSDT", 60_000)
    ledger.place_market_order("t", "BTCUSDT", "BUY", 1.0)
    ledger.set_mark("BTCUSDT", 62_000)
    ledger.place_market_order("t", "BTCUSDT", "BUY", 1.0)
    assert ledger.account("t").legs["BTCUSDT", BOTH].entry_price == approx(61_000)


def test_reduce_realises_pnl_into_the_wallet(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSDT", 60_000)
    ledger.place_market_order("t", "BTCUSDT", "BUY", 1.0)
    ledger.set_mark("BTCUSDT", 61_000)
    order, events = ledger.place_market_order("t", "BTCUSDT", "SELL", 0.4, reduce_only=True)
    acct = ledger.account("t")
    assert order.realized == approx(400.0)
    assert acct.cross_wallet == approx(20_000 - 30.0 + 400.0 - 0.4 * 61_000 * FEE)
    leg = acct.legs["BTCUSDT", BOTH]
    assert leg.amount == approx(0.6) and leg.entry_price == 60_000 and leg.realized == approx(400.0)
    trade = next(e for e in events if isinstance(e, OrderUpdate) and e.execution == "TRADE")
    assert trade.realized == approx(400.0) and trade.commission == approx(12.2)


def test_short_pnl_and_flip_through_zero(ledger: Ledger) -> None:
    ledger.set_mark("ETHUSDT", 3_000)
    ledger.place_market_order("t", "ETHUSDT", "SELL", 10.0)
    ledger.set_mark("ETHUSDT", 2_900)
    order, _ = ledger.place_market_order("t", "ETHUSDT", "BUY", 15.0)
    leg = ledger.account("t").legs["ETHUSDT", BOTH]
    assert order.realized == approx(1_000.0)
    assert leg.amount == approx(5.0) and leg.entry_price == approx(2_900)


def test_reduce_only_larger_than_position_closes_it_and_no_more(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSDT", 60_000)
    ledger.place_market_order("t", "BTCUSDT", "BUY", 0.3)
    order, _ = ledger.place_market_order("t", "BTCUSDT", "SELL", 1.0, reduce_only=True)
    assert order.executed_qty == approx(0.3)
    assert ledger.account("t").legs["BTCUSDT", BOTH].amount == 0


# ---- isolated margin ---------------------------------------------------------------------------


def test_isolated_open_moves_initial_margin_less_fee_into_the_isolated_wallet(ledger: Ledger) -> None:
    ledger.set_margin_mode("t", "SOLUSDT", MarginMode.ISOLATED)
    ledger.set_leverage("t", "SOLUSDT", 10)
    ledger.set_mark("SOLUSDT", 150)
    ledger.place_market_order("t", "SOLUSDT", "BUY", 100)
    acct = ledger.account("t")
    leg = acct.legs["SOLUSDT", BOTH]
    assert acct.cross_wallet == approx(20_000 - 1_500)
    assert leg.isolated_wallet == approx(1_500 - 15_000 * FEE)


def test_isolated_reduce_releases_margin_in_proportion(ledger: Ledger) -> None:
    ledger.set_margin_mode("t", "SOLUSDT", MarginMode.ISOLATED)
    ledger.set_leverage("t", "SOLUSDT", 10)
    ledger.set_mark("SOLUSDT", 150)
    ledger.place_market_order("t", "SOLUSDT", "BUY", 100)
    acct = ledger.account("t")
    iw = acct.legs["SOLUSDT", BOTH].isolated_wallet
    ledger.set_mark("SOLUSDT", 160)
    ledger.place_market_order("t", "SOLUSDT", "SELL", 25, reduce_only=True)
    assert acct.legs["SOLUSDT", BOTH].isolated_wallet == approx(iw * 0.75)
    assert acct.cross_wallet == approx(18_500 + iw * 0.25 + 25 * 10 - 25 * 160 * FEE)
    # The isolated ratio barely moves on a proportional reduce (all terms scale by 0.75 at one mark).
    ratio_before = maint_amount(ledger.specs["SOLUSDT"].tiers, 100 * 160) / (iw + 100 * 10)
    assert ledger.isolated_ratio("t", "SOLUSDT") == pytest.approx(ratio_before, rel=0.5)


def test_add_and_remove_isolated_margin(ledger: Ledger) -> None:
    ledger.set_margin_mode("t", "SOLUSDT", MarginMode.ISOLATED)
    ledger.set_leverage("t", "SOLUSDT", 10)
    ledger.place_market_order("t", "SOLUSDT", "BUY", 100)
    acct = ledger.account("t")
    leg = acct.legs["SOLUSDT", BOTH]
    wallet, iw = acct.cross_wallet, leg.isolated_wallet
    events = ledger.modify_isolated_margin("t", "SOLUSDT", 200, add=True)
    assert (acct.cross_wallet, leg.isolated_wallet) == (approx(wallet - 200), approx(iw + 200))
    assert isinstance(events[0], AccountUpdate) and events[0].reason == "MARGIN_TRANSFER"
    ledger.modify_isolated_margin("t", "SOLUSDT", 150, add=False)
    assert leg.isolated_wallet == approx(iw + 50)
    with pytest.raises(Rejected) as too_much:
        ledger.modify_isolated_margin("t", "SOLUSDT", 1_000, add=False)
    assert code_of(too_much) == -4051
    with pytest.raises(Rejected) as broke:
        ledger.modify_isolated_margin("t", "SOLUSDT", 1e9, add=True)
    assert code_of(broke) == -4050


def test_margin_change_on_a_cross_position_is_refused(ledger: Ledger) -> None:
    ledger.place_market_order("t", "BTCUSDT", "BUY", 0.1)
    with pytest.raises(Rejected) as exc:
        ledger.modify_isolated_margin("t", "BTCUSDT", 10, add=True)
    assert code_of(exc) == -4049


# ---- order checks ------------------------------------------------------------------------------


def test_enforced_account_refuses_anything_not_reduce_only() -> None:
    led = build_ledger(small_book())
    for kwargs in ({}, {"reduce_only": False}):
        with pytest.raises(Rejected) as exc:
            led.place_market_order("main", "BTCUSDT", "SELL", 0.1, **kwargs)  # would even reduce
        assert code_of(exc) == -2022
    led.place_market_order("main", "BTCUSDT", "SELL", 0.1, reduce_only=True)
    assert led.account("main").legs["BTCUSDT", BOTH].amount == approx(0.4)


@pytest.mark.parametrize(("symbol", "side"), [("BTCUSDT", "BUY"), ("SOLUSDT", "SELL"), ("ETHUSDT", "SELL")])
def test_reduce_only_that_would_not_reduce_is_rejected(symbol: str, side: str) -> None:
    led = build_ledger(small_book())
    if symbol == "SOLUSDT":
        led.place_market_order("main", symbol, "SELL", 100, reduce_only=True)  # now flat
    with pytest.raises(Rejected) as exc:
        led.place_market_order("main", symbol, side, 1 if symbol == "SOLUSDT" else 0.1, reduce_only=True)
    assert code_of(exc) == -2022


def test_min_notional_applies_to_opening_orders_only(ledger: Ledger) -> None:
    ledger.set_mark("SOLUSDT", 150)
    ledger.place_market_order("t", "SOLUSDT", "BUY", 1)  # 150 USDT: above 5
    ledger.set_mark("SOLUSDT", 1)
    with pytest.raises(Rejected) as exc:
        ledger.place_market_order("t", "SOLUSDT", "BUY", 1)
    assert code_of(exc) == -4164
    ledger.place_market_order("t", "SOLUSDT", "SELL", 1, reduce_only=True)


def test_insufficient_margin_and_quantity_checks(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as margin:
        ledger.place_market_order("t", "BTCUSDT", "BUY", 8.0)  # 480k at 20x needs 24k
    assert code_of(margin) == -2019
    for qty, code in ((0.0, -4003), (0.0015, -1111), (500.0, -4005)):
        with pytest.raises(Rejected) as exc:
            ledger.place_market_order("t", "BTCUSDT", "BUY", qty)
        assert code_of(exc) == code
    with pytest.raises(Rejected) as sym:
        ledger.place_market_order("t", "NOPEUSDT", "BUY", 1.0)
    assert code_of(sym) == -1121


# ---- hedge mode --------------------------------------------------------------------------------


def test_hedge_mode_needs_a_position_side_and_refuses_reduce_only(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as side:
        ledger.place_market_order("h", "BTCUSDT", "BUY", 0.1)
    assert code_of(side) == -4061
    with pytest.raises(Rejected) as param:
        ledger.place_market_order("h", "BTCUSDT", "BUY", 0.1, position_side=LONG, reduce_only=True)
    assert code_of(param) == -1106
    with pytest.raises(Rejected) as one_way:
        ledger.place_market_order("t", "BTCUSDT", "BUY", 0.1, position_side=LONG)
    assert code_of(one_way) == -4061


def test_hedge_legs_are_independent(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSDT", 60_000)
    ledger.place_market_order("h", "BTCUSDT", "BUY", 0.3, position_side=LONG)
    ledger.place_market_order("h", "BTCUSDT", "SELL", 0.2, position_side=SHORT)
    legs = ledger.account("h").legs
    assert legs["BTCUSDT", LONG].amount == approx(0.3)
    assert legs["BTCUSDT", SHORT].amount == approx(-0.2)
    ledger.set_mark("BTCUSDT", 59_000)
    order, _ = ledger.place_market_order("h", "BTCUSDT", "BUY", 0.5, position_side=SHORT)
    assert order.executed_qty == approx(0.2) and order.reduce_only
    assert order.realized == approx(200.0)
    assert legs["BTCUSDT", SHORT].amount == 0 and legs["BTCUSDT", LONG].amount == approx(0.3)


def test_hedge_mode_enforcement_treats_closing_the_named_leg_as_reduce_only() -> None:
    led = build_ledger(small_book())
    led.place_market_order("hedge", "BTCUSDT", "SELL", 0.05, position_side=LONG)
    assert led.account("hedge").legs["BTCUSDT", LONG].amount == approx(0.15)
    for side, ps in (("BUY", LONG), ("SELL", SHORT)):
        with pytest.raises(Rejected) as exc:
            led.place_market_order("hedge", "BTCUSDT", side, 0.01, position_side=ps)
        assert code_of(exc) == -2022


# ---- liquidation engine ------------------------------------------------------------------------


def test_isolated_leg_is_liquidated_when_wallet_plus_upnl_reaches_maintenance() -> None:
    led = build_ledger(small_book())  # main: SOL long 100 @ 150, isolated, wallet 1,500
    acct = led.account("main")
    tiers = led.specs["SOLUSDT"].tiers
    lp = led.liquidation_price(acct, acct.legs["SOLUSDT", BOTH])
    assert lp is not None
    # Exactly where the definition says: 1500 + 100 * (p - 150) == maint(100 * p).
    assert 1_500 + 100 * (lp - 150) == pytest.approx(maint_amount(tiers, 100 * lp), abs=1e-5)
    cross_wallet = acct.cross_wallet
    led.set_mark("SOLUSDT", lp + 0.001)
    warned = led.check_liquidations(now_ms=5, sim_time=3.0, tick_index=3)
    assert [type(e) for e in warned] == [MarginCall]  # ratio just under 1: warned, not liquidated
    led.set_mark("SOLUSDT", lp - 0.001)
    events = led.check_liquidations(now_ms=6, sim_time=4.0, tick_index=4)
    orders = [e for e in events if isinstance(e, OrderUpdate)]
    assert len(orders) == 1
    order = orders[0].order
    assert order.client_order_id.startswith("autoclose-") and order.client_order_id[10:].isdigit()
    assert (order.order_type, order.side, orders[0].execution) == ("LIQUIDATION", "SELL", "CALCULATED")
    update = next(e for e in events if isinstance(e, AccountUpdate))
    assert update.legs[0].amount == 0 and update.legs[0].isolated_wallet == 0
    assert acct.cross_wallet == cross_wallet  # the isolated wallet is forfeited, the cross one untouched
    assert acct.legs["SOLUSDT", BOTH].amount == 0
    assert acct.legs["BTCUSDT", BOTH].amount == 0.5  # cross legs unaffected
    (rec,) = led.liquidations
    assert (rec.account, rec.symbol, rec.position_side, rec.margin_mode, rec.side) == (
        "main",
        "SOLUSDT",
        PositionSide.BOTH,
        MarginMode.ISOLATED,
        Side.LONG,
    )
    assert (rec.contracts, rec.mark_price, rec.sim_time, rec.tick_index) == (
        100,
        round(lp - 0.001, 8),
        4.0,
        4,
    )


def test_cross_pool_is_liquidated_at_margin_ratio_one_and_wallet_floored() -> None:
    led = Ledger(major_specs())
    led.add_account("c", "k", "s", 5_000.0)
    led.open_position("c", "BTCUSDT", 1.0, 60_000)
    led.open_position("c", "ETHUSDT", 10.0, 3_000)
    led.open_position("c", "SOLUSDT", 10.0, 150, margin_mode=MarginMode.ISOLATED, leverage=5)
    acct = led.account("c")
    lp = led.liquidation_price(acct, acct.legs["BTCUSDT", BOTH])
    assert lp is not None
    assert led.ratio_at("c", {"BTCUSDT": lp}) == pytest.approx(1.0, rel=1e-9)
    led.set_mark("BTCUSDT", lp + 0.01)
    assert not [
        e for e in led.check_liquidations(now_ms=1, sim_time=1, tick_index=1) if isinstance(e, OrderUpdate)
    ]
    assert led.cross_pool("c").ratio < 1
    led.set_mark("BTCUSDT", 40_000)  # far through bankruptcy: the loss exceeds the wallet
    events = led.check_liquidations(now_ms=2, sim_time=2, tick_index=2)
    liquidated = {(e.order.symbol, e.order.order_type) for e in events if isinstance(e, OrderUpdate)}
    assert liquidated == {("BTCUSDT", "LIQUIDATION"), ("ETHUSDT", "LIQUIDATION")}
    assert acct.cross_wallet == 0.0
    assert acct.legs["SOLUSDT", BOTH].amount == 10.0  # the isolated leg is not part of the cross pool
    assert {r.margin_mode for r in led.liquidations} == {MarginMode.CROSS}


def test_cross_liquidation_keeps_what_the_clearance_fee_leaves() -> None:
    tiers = (Bracket(Tier(0, 1e9, 0.1, 0.0), 5),)
    spec = SymbolSpec("XUSDT", "X", tiers, 100.0, liquidation_fee=0.01)
    led = Ledger({"XUSDT": spec})
    led.add_account("c", "k", "s", 1_000.0)
    led.open_position("c", "XUSDT", 100.0, 100.0)  # MM 10% of notional
    led.set_mark("XUSDT", 95.0)  # equity 500, MM 950: liquidated
    led.check_liquidations(now_ms=1, sim_time=1, tick_index=1)
    # Remaining equity 500 less the clearance fee (1 % of 9,500 notional).
    assert led.account("c").cross_wallet == approx(500 - 95)


def test_margin_call_on_first_crossing_of_0_8_and_again_after_recovery() -> None:
    led = Ledger(major_specs())
    led.add_account("c", "k", "s", 2_000.0)
    led.open_position("c", "BTCUSDT", 1.0, 60_000)  # MM 250

    def price_for(ratio: float) -> float:
        # equity = 2000 + (p - 60000) = 250/ratio with MM at tier 2 (p near 58k: 0.5 %, cum 50)
        lo, hi = 50_000.0, 60_000.0
        for _ in range(100):
            mid = (lo + hi) / 2
            (lo, hi) = (mid, hi) if led.ratio_at("c", {"BTCUSDT": mid}) > ratio else (lo, mid)
        return hi

    def calls() -> list[MarginCall]:
        events = led.check_liquidations(now_ms=1, sim_time=1, tick_index=1)
        return [e for e in events if isinstance(e, MarginCall)]

    led.set_mark("BTCUSDT", price_for(0.7))
    assert calls() == []
    led.set_mark("BTCUSDT", price_for(0.85))
    (call,) = calls()
    assert call.legs[0].symbol == "BTCUSDT" and call.legs[0].margin_mode is MarginMode.CROSS
    assert call.legs[0].maint_margin == approx(led.maint_margin(led.account("c").legs["BTCUSDT", BOTH]))
    led.set_mark("BTCUSDT", price_for(0.9))
    assert calls() == []
    led.set_mark("BTCUSDT", price_for(0.6))
    assert calls() == []
    led.set_mark("BTCUSDT", price_for(0.82))
    assert len(calls()) == 1


def test_hedge_legs_in_cross_share_one_liquidation_price() -> None:
    led = build_ledger(small_book())
    acct = led.account("hedge")
    lp_long = led.liquidation_price(acct, acct.legs["BTCUSDT", LONG])
    lp_short = led.liquidation_price(acct, acct.legs["BTCUSDT", SHORT])
    assert lp_long == lp_short and lp_long is not None and lp_long < 60_000
    assert led.ratio_at("hedge", {"BTCUSDT": lp_long}) == pytest.approx(1.0, rel=1e-9)


# ---- liquidation price against published vectors ----------------------------------------------


def test_liquidation_price_reselects_the_tier_like_the_binance_faq() -> None:
    led = Ledger(major_specs())
    led.add_account("i", "k", "s", 0.0)
    led.open_position(
        "i", "BTCUSDT", 5.0, 60_000, margin_mode=MarginMode.ISOLATED, leverage=10, isolated_wallet=30_000
    )
    acct = led.account("i")
    assert led.liquidation_price(acct, acct.legs["BTCUSDT", BOTH]) == pytest.approx(54_282.8282828, abs=1e-6)


@pytest.mark.parametrize(
    ("side", "lev", "entry", "amount", "expected"),
    [
        (-1, 5, 10, 1.0, 11.89108910891089),
        (-1, 3, 10, 1.0, 13.211221122079207),
        (-1, 5, 8, 1.0, 9.514851485148514),
        (-1, 5, 10, 0.6, 11.897689768976898),
        (1, 5, 10, 1.0, 8.070707070707071),
        (1, 5, 8, 1.0, 6.454545454545454),
        (1, 3, 10, 1.0, 6.723905723905723),
        (1, 5, 10, 0.6, 8.063973063973064),
    ],
)
def test_liquidation_price_matches_freqtrade_vectors(
    side: int, lev: int, entry: float, amount: float, expected: float
) -> None:
    spec = SymbolSpec("XUSDT", "X", (Bracket(Tier(0, 1e12, 0.01, 0.01), 125),), entry)
    led = Ledger({"XUSDT": spec})
    led.add_account("i", "k", "s", 0.0)
    led.open_position("i", "XUSDT", side * amount, entry, margin_mode=MarginMode.ISOLATED, leverage=lev)
    acct = led.account("i")
    assert led.liquidation_price(acct, acct.legs["XUSDT", BOTH]) == pytest.approx(expected, rel=1e-8)


def test_no_liquidation_price_when_fully_collateralised() -> None:
    led = Ledger(major_specs())
    led.add_account("i", "k", "s", 0.0)
    led.open_position(
        "i", "BTCUSDT", 1.0, 60_000, margin_mode=MarginMode.ISOLATED, leverage=1, isolated_wallet=61_000
    )
    acct = led.account("i")
    assert led.liquidation_price(acct, acct.legs["BTCUSDT", BOTH]) is None
    assert not math.isinf(led.isolated_ratio("i", "BTCUSDT"))


def test_position_and_margin_mode_changes_follow_binance_rules(ledger: Ledger) -> None:
    with pytest.raises(Rejected) as same:
        ledger.set_margin_mode("t", "BTCUSDT", MarginMode.CROSS)
    assert code_of(same) == -4046
    ledger.place_market_order("t", "BTCUSDT", "BUY", 0.1)
    with pytest.raises(Rejected) as with_pos:
        ledger.set_margin_mode("t", "BTCUSDT", MarginMode.ISOLATED)
    assert code_of(with_pos) == -4048
    with pytest.raises(Rejected) as mode:
        ledger.set_position_mode("t", True)
    assert code_of(mode) == -4068
    with pytest.raises(Rejected) as no_need:
        ledger.set_position_mode("h", True)
    assert code_of(no_need) == -4059
    with pytest.raises(Rejected) as lev:
        ledger.set_leverage("t", "BTCUSDT", 126)
    assert code_of(lev) == -4028


# ---- Multi-Assets mode --------------------------------------------------------------------------


def multi_assets_ledger() -> Ledger:
    """1,000 USDT, a BTC long and an ETH short, and margin in BTC (priced by BTCUSDT), BNB and USDC."""
    led = Ledger(major_specs())
    led.add_account("m", "k", "s", 1_000.0)
    led.open_position("m", "BTCUSDT", 1.0, 60_000)
    led.open_position("m", "ETHUSDT", -10.0, 3_000)
    led.set_multi_assets("m", True)
    led.set_asset_balance("m", "BTC", 0.2)
    led.set_asset_balance("m", "BNB", 10.0)
    led.set_asset_balance("m", "USDC", 2_000.0)
    return led


def test_multi_assets_pool_counts_every_asset_at_its_haircut_value() -> None:
    led = multi_assets_ledger()
    bnb = led.marks["BNBUSDT"]
    pool = led.cross_pool("m")
    assert pool.wallet == 1_000.0
    assert pool.collateral == approx(0.2 * 60_000 * 0.95 + 10 * bnb * 0.95 + 2_000)
    assert pool.equity == approx(1_000.0 + pool.collateral + pool.unrealized)
    led.set_mark("BNBUSDT", bnb / 2)  # a symbol no position is in still moves the pool
    assert led.cross_pool("m").collateral == approx(0.2 * 60_000 * 0.95 + 5 * bnb * 0.95 + 2_000)
    led.set_multi_assets("m", False)  # single-asset mode: USDT alone
    assert led.cross_pool("m").collateral == 0.0


def test_multi_assets_liquidation_price_moves_the_collateral_with_its_symbol() -> None:
    led = multi_assets_ledger()
    acct = led.account("m")
    lp = led.liquidation_price(acct, acct.legs["BTCUSDT", BOTH])
    assert lp is not None
    assert led.ratio_at("m", {"BTCUSDT": lp}) == pytest.approx(1.0, rel=1e-9)
    # the BTC held as margin falls with the long: liquidation comes sooner than at a fixed BTC price
    led.set_asset_balance("m", "BTC", 0.0)
    led.set_asset_balance("m", "USDC", 2_000.0 + 0.2 * 60_000 * 0.95)  # the same value, fixed
    fixed = led.liquidation_price(acct, acct.legs["BTCUSDT", BOTH])
    assert fixed is not None and lp > fixed


def test_multi_assets_cross_liquidation_takes_the_loss_from_usdt() -> None:
    led = multi_assets_ledger()
    acct = led.account("m")
    lp = led.liquidation_price(acct, acct.legs["ETHUSDT", BOTH])
    assert lp is not None
    led.set_mark("ETHUSDT", lp * 1.001)
    events = led.check_liquidations(now_ms=1, sim_time=1, tick_index=1)
    assert {e.order.symbol for e in events if isinstance(e, OrderUpdate)} == {"BTCUSDT", "ETHUSDT"}
    assert acct.cross_wallet < 0  # a USDT debt, covered by the other assets, which stay
    assert acct.assets == {"BTC": 0.2, "BNB": 10.0, "USDC": 2_000.0}


def test_multi_assets_mode_refuses_isolated_positions_and_unknown_assets() -> None:
    led = Ledger(major_specs())
    led.add_account("m", "k", "s", 1_000.0)
    led.open_position("m", "SOLUSDT", 10.0, 150, margin_mode=MarginMode.ISOLATED)
    with pytest.raises(Rejected) as info:
        led.set_multi_assets("m", True)
    assert code_of(info) == -4168
    with pytest.raises(ValueError, match="'DOGE' is not a margin asset"):
        led.set_asset_balance("m", "DOGE", 1.0)


def test_asset_deposit_reports_its_row() -> None:
    led = multi_assets_ledger()
    update = led.set_asset_balance("m", "BNB", 12.5, now_ms=7)
    assert update.reason == "DEPOSIT" and update.legs == ()
    assert update.assets == (("BNB", 12.5, 2.5),)
