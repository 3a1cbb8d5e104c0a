"""Forced orders from REST (GET /fapi/v1/forceOrders) and which vanished legs they explain."""

from __future__ import annotations

import pytest

from monitor.events import OrderKind, PositionState
from monitor.model import MarginMode, PositionSide
from monitor.venues.binance.forced import (
    CLOCK_SLACK_MS,
    Leg,
    OpenLegs,
    closes_leg,
    lookup_params,
    parse_force_orders,
)
from monitor.venues.wire import FrameError

from ._binance import SYMBOLS, load

BTC = "BTC/USDT:USDT"


def parse(body: object) -> tuple:  # type: ignore[type-arg]
    return parse_force_orders(body, venue="binanceusdm", account="main", symbols=SYMBOLS, received_ms=9)


def test_documented_rows_become_the_order_updates_the_stream_would_carry() -> None:
    liq, adl = parse(load("rest.forceOrders.documented.json"))
    assert (liq.kind, liq.symbol, liq.side, liq.position_side) == (
        OrderKind.LIQUIDATION,
        BTC,
        "sell",
        PositionSide.BOTH,
    )
    assert liq.client_order_id == "autoclose-1596107620040000020"
    assert (liq.order_id, adl.order_id) == (6071832819, 6072734303)
    assert (liq.status, liq.filled_qty, liq.average_price, liq.event_ms) == (
        "FILLED",
        0.001,
        10913.21,
        1596107620087,
    )
    assert (adl.kind, adl.side, adl.position_side, adl.client_order_id) == (
        OrderKind.ADL,
        "buy",
        PositionSide.SHORT,
        "adl_autoclose",
    )


def test_a_bad_row_is_refused_by_its_path() -> None:
    body = load("rest.forceOrders.documented.json")
    body[1]["side"] = "SIDEWAYS"
    with pytest.raises(FrameError, match=r"\[1\]\.side"):
        parse(body)


def test_unknown_symbols_are_skipped() -> None:
    body = load("rest.forceOrders.documented.json")
    body[0]["symbol"] = "XYZUSDT"
    assert [o.kind for o in parse(body)] == [OrderKind.ADL]


def test_an_order_explains_only_the_leg_it_closed_after_it_was_last_seen() -> None:
    liq, adl = parse(load("rest.forceOrders.documented.json"))
    both = (BTC, PositionSide.BOTH)
    assert closes_leg(liq, both, Leg(None, True))
    assert not closes_leg(liq, both, Leg(None, False))  # a sell does not close a short
    assert not closes_leg(liq, (BTC, PositionSide.LONG), Leg(None, True))
    assert closes_leg(liq, both, Leg(liq.event_ms + CLOCK_SLACK_MS, True))
    assert not closes_leg(liq, both, Leg(liq.event_ms + CLOCK_SLACK_MS + 1, True))  # an older one
    assert closes_leg(adl, (BTC, PositionSide.SHORT), Leg(None, False))


def _pos(symbol: str, amount: float) -> PositionState:
    return PositionState(symbol, PositionSide.BOTH, MarginMode.CROSS, amount, 100.0)


def test_open_legs_vanish_only_from_snapshots_and_stay_until_explained() -> None:
    legs = OpenLegs()
    legs.expect("main", {(BTC, PositionSide.BOTH): True})
    assert legs.on_snapshot("main", [_pos(BTC, 0.0), _pos("ETH/USDT:USDT", -1.0)], 5) == {
        (BTC, PositionSide.BOTH): Leg(None, True)
    }
    # a delta that closes ETH tells its own story: not vanished
    legs.on_update("main", [_pos("ETH/USDT:USDT", 0.0)], 6)
    assert legs.on_snapshot("main", [], 7) == {(BTC, PositionSide.BOTH): Leg(None, True)}  # still asked
    legs.explained("main", [(BTC, PositionSide.BOTH)])
    assert legs.on_snapshot("main", [], 8) == {}


def test_lookup_asks_one_symbol_when_it_can_and_from_the_oldest_sighting() -> None:
    ids = {v: k for k, v in SYMBOLS.items()}
    one = lookup_params({(BTC, PositionSide.BOTH): Leg(100_000, True)}, ids)
    assert one == {"limit": 100, "symbol": "BTCUSDT", "startTime": 100_000 - CLOCK_SLACK_MS}
    two = lookup_params(
        {
            (BTC, PositionSide.BOTH): Leg(100_000, True),
            ("ETH/USDT:USDT", PositionSide.BOTH): Leg(None, False),
        },
        ids,
    )
    assert two == {"limit": 100}
