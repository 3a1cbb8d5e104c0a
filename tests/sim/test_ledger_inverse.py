"""The ledger on inverse (COIN-M) contracts: values, PnL and margin in coin, a cross pool per coin,
and liquidation where the project's own COIN-M rules (``monitor.margin``, the reference) put it."""

from __future__ import annotations

import pytest

from monitor.margin.account import evaluate_account
from monitor.model import Account, MarginMode, Position, PositionSide, Side, Venue
from monitor.sim.book import build_ledger, coinm_small_book
from monitor.sim.ledger import BOTH, LONG, SHORT, AccountUpdate, Ledger, OrderUpdate
from monitor.sim.specs import coinm_specs

FEE = 0.0005


def approx(x: float) -> object:
    return pytest.approx(x, rel=1e-12, abs=1e-12)


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger(coinm_specs())
    led.add_account("t", "key-t", "sec-t", {"BTC": 1.0, "ETH": 10.0}, reduce_only_enforced=False)
    return led


def reference(ledger: Ledger, account: str, asset: str) -> list[tuple[str, str, float | None]]:
    """The liquidation prices ``monitor.margin`` computes for the account's legs in ``asset``."""
    acct = ledger.account(account)
    risk = ledger.risk(account, asset)
    positions = tuple(
        Position(
            leg.symbol,
            Side.LONG if leg.amount > 0 else Side.SHORT,
            leg.margin_mode,
            abs(leg.amount),
            leg.entry_price,
            leg.mark_price,
            ledger.specs[leg.symbol].tiers,
            contract_size=ledger.specs[leg.symbol].contract_size,
            inverse=True,
            position_side=PositionSide(leg.position_side.lower()),
            isolated_wallet=leg.isolated_wallet if leg.margin_mode is MarginMode.ISOLATED else None,
            leverage=leg.leverage,
        )
        for leg in risk.legs
    )
    evaluated = evaluate_account(Account(Venue.BINANCE_COINM, acct.wallets[asset], positions, account, 0.0))
    return [(p.symbol, p.position_side.value, p.liquidation_price) for p in evaluated.positions]


def test_a_fill_pays_the_fee_in_coin_and_realises_pnl_in_coin(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSD_PERP", 50_000.0)
    ledger.place_market_order("t", "BTCUSD_PERP", "BUY", 100)  # 10,000 USD = 0.2 BTC
    acct = ledger.account("t")
    assert acct.wallets["BTC"] == approx(1.0 - 0.2 * FEE)
    ledger.set_mark("BTCUSD_PERP", 62_500.0)
    # long 10,000 USD from 50,000 to 62,500: 0.2 - 0.16 = 0.04 BTC
    assert ledger.risk("t", "BTC").legs[0].unrealized == approx(0.04)
    _, events = ledger.place_market_order("t", "BTCUSD_PERP", "SELL", 100)
    assert acct.wallets["BTC"] == approx(1.0 - 0.2 * FEE + 0.04 - 0.16 * FEE)
    assert acct.wallets["ETH"] == 10.0  # another coin's pool is not touched
    update = next(e for e in events if isinstance(e, AccountUpdate))
    assert update.asset == "BTC" and update.cross_wallet == approx(acct.wallets["BTC"])


def test_adding_to_an_inverse_position_averages_the_entry_harmonically(ledger: Ledger) -> None:
    ledger.set_mark("BTCUSD_PERP", 40_000.0)
    ledger.place_market_order("t", "BTCUSD_PERP", "BUY", 100)
    ledger.set_mark("BTCUSD_PERP", 60_000.0)
    ledger.place_market_order("t", "BTCUSD_PERP", "BUY", 100)
    (leg,) = ledger.risk("t", "BTC").legs
    # 20,000 USD bought for 0.25 + 0.1666... BTC: 48,000 per BTC
    assert leg.entry_price == pytest.approx(48_000.0, rel=1e-12)


def test_isolated_margin_is_taken_from_its_own_coin(ledger: Ledger) -> None:
    ledger.set_margin_mode("t", "ETHUSD_PERP", MarginMode.ISOLATED)
    ledger.set_leverage("t", "ETHUSD_PERP", 10)
    ledger.place_market_order("t", "ETHUSD_PERP", "SELL", 300)  # 3,000 USD = 1 ETH at 3,000
    acct = ledger.account("t")
    assert acct.legs[("ETHUSD_PERP", BOTH)].isolated_wallet == approx(0.1 - 1.0 * FEE)
    assert acct.wallets["ETH"] == approx(10.0 - 0.1)
    assert acct.wallets["BTC"] == 1.0


@pytest.mark.parametrize("account", ["main", "iso", "hedge"])
def test_liquidation_prices_agree_with_the_coinm_rules(account: str) -> None:
    ledger = build_ledger(coinm_small_book())
    asset = ledger.account(account).home
    ours = [(leg.symbol, leg.position_side, leg.liquidation_price) for leg in ledger.risk(account).legs]
    theirs = reference(ledger, account, asset)
    assert len(ours) == len(theirs)
    for (symbol, side, lp), (_, _, expected) in zip(ours, theirs, strict=True):
        assert lp is not None and expected is not None, (symbol, side)
        assert lp == pytest.approx(expected, rel=1e-7)


def test_a_cross_pool_is_liquidated_when_its_coin_no_longer_covers_it() -> None:
    ledger = build_ledger(coinm_small_book())
    (leg,) = ledger.risk("main").legs
    assert leg.liquidation_price is not None
    lp = leg.liquidation_price
    ledger.set_mark("BTCUSD_PERP", lp * 1.0001)
    assert not [
        e for e in ledger.check_liquidations(now_ms=1, sim_time=1, tick_index=1) if isinstance(e, OrderUpdate)
    ]
    ledger.set_mark("BTCUSD_PERP", lp * 0.9999)
    events = ledger.check_liquidations(now_ms=2, sim_time=2, tick_index=2)
    liquidated = {(r.account, r.symbol, r.position_side.value) for r in ledger.liquidations}
    # the hedge account shares the symbol but not the pool: its liquidation price is lower
    assert liquidated == {("main", "BTCUSD_PERP", "both")}
    (update,) = [e for e in events if isinstance(e, AccountUpdate)]
    assert update.asset == "BTC"
    assert ledger.account("main").wallets["BTC"] >= 0.0


def test_one_coins_loss_does_not_liquidate_another_coins_positions() -> None:
    ledger = Ledger(coinm_specs())
    ledger.add_account("a", "k", "s", {"BTC": 0.01, "ETH": 5.0})
    ledger.open_position("a", "BTCUSD_PERP", 100, 60_000.0)  # 0.1667 BTC at 20x on a 0.01 BTC wallet
    ledger.open_position("a", "ETHUSD_PERP", 300, 3_000.0)  # 1 ETH on a 5 ETH wallet
    eth_lp = ledger.risk("a", "ETH").legs[0].liquidation_price
    assert eth_lp is not None
    ledger.set_mark("BTCUSD_PERP", 50_000.0)
    ledger.check_liquidations(now_ms=1, sim_time=1, tick_index=1)
    assert [(r.symbol, r.margin_mode) for r in ledger.liquidations] == [("BTCUSD_PERP", MarginMode.CROSS)]
    assert ledger.risk("a", "ETH").legs[0].amount == 300
    assert ledger.account("a").wallets["ETH"] == 5.0


def test_hedge_legs_of_an_inverse_symbol_share_one_price() -> None:
    ledger = build_ledger(coinm_small_book())
    long_leg, short_leg = ledger.risk("hedge").legs
    assert (long_leg.position_side, short_leg.position_side) == (LONG, SHORT)
    assert long_leg.liquidation_price == short_leg.liquidation_price
