"""Bitunix's bodies and pushes read by ``venues/bitunix/parse.py``, on Bitunix's own examples
(``fixtures/bitunix``, sources in its README): both shapes of ``data``, ``liqPrice`` <= 0 as none,
coin-M refused naming the symbol, and each error naming the field path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from monitor.model import MarginMode, PositionSide
from monitor.venues.bitunix import parse
from monitor.venues.wire import FrameError

FIXTURES = Path(__file__).parent / "fixtures" / "bitunix"
SYMBOLS = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_account_reads_as_an_array_or_an_object() -> None:
    documented = parse.parse_account(body("rest.account.documented.json")["data"])
    observed = parse.parse_account(body("rest.account.observed.json")["data"])
    assert (documented.available, documented.margin, documented.hedge) == (1000.0, 10.0, True)
    # the live reply: available negative once losses ate into it
    assert (observed.available, observed.margin) == (-187.067355065, 186.683)


def test_the_cross_wallet_is_what_is_not_an_isolated_legs_margin() -> None:
    account = parse.parse_account(body("rest.account.observed.json")["data"])
    # the docs' row is an isolated long holding 300 of margin
    positions, _ = parse.parse_positions(
        body("rest.get_pending_positions.documented.json")["data"], SYMBOLS, hedge=True
    )
    assert parse.cross_wallet(account, positions) == pytest.approx(-187.067355065 + 0 + 186.683 - 300.0)


def test_a_pending_position_row() -> None:
    (p,), refused = parse.parse_positions(
        body("rest.get_pending_positions.documented.json")["data"], SYMBOLS, hedge=True
    )
    assert not refused
    s = p.state
    assert (s.symbol, s.position_side, s.margin_mode) == (
        "BTC/USDT:USDT",
        PositionSide.LONG,
        MarginMode.ISOLATED,
    )
    assert (s.amount, s.entry_price, s.isolated_wallet, s.leverage) == (0.5, 1.0, 300.0, 100.0)
    assert s.liquidation_price == 22209.0 and s.mark_price is None  # rows carry no mark
    assert (p.position_id, p.margin_rate, s.update_ms) == ("12345678", 0.01, 1691382137448)


def row(**over: Any) -> dict[str, Any]:
    return {**body("rest.get_pending_positions.documented.json")["data"][0], **over}


@pytest.mark.parametrize("liq", ["0", "-5", 0])
def test_a_liquidation_price_at_or_below_zero_is_none(liq: object) -> None:
    (p,), _ = parse.parse_positions([row(liqPrice=liq)], SYMBOLS, hedge=True)
    assert p.state.liquidation_price is None


def test_live_spellings_buy_sell_and_string_times() -> None:
    (p,), _ = parse.parse_positions(
        [
            row(
                side="SELL",
                positionMode="ONE_WAY",
                marginMode="CROSS",
                ctime="1691382137448",
                mtime="1691382137449",
            )
        ],
        SYMBOLS,
        hedge=False,
    )
    assert (p.state.amount, p.state.position_side, p.state.isolated_wallet) == (-0.5, PositionSide.BOTH, None)
    assert p.state.update_ms == 1691382137449


def test_a_coin_m_position_is_refused_naming_the_symbol() -> None:
    positions, refused = parse.parse_positions([row(symbol="BTCUSD")], SYMBOLS, hedge=True)
    assert positions == []
    assert "coin-M" in str(refused[0]) and "data[0].symbol" in str(refused[0]) and "BTCUSD" in str(refused[0])


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"marginMode": "CROSSED"}, "data[0].marginMode"),
        ({"side": "UP"}, "data[0].side"),
        ({"qty": "lots"}, "data[0].qty"),
        ({"avgOpenPrice": "0"}, "data[0].avgOpenPrice"),
    ],
)
def test_a_bad_row_names_its_field(over: dict[str, Any], path: str) -> None:
    with pytest.raises(FrameError, match=re.escape(path)):
        parse.parse_positions([row(**over)], SYMBOLS, hedge=True)


def test_a_leg_listed_twice_is_refused() -> None:
    with pytest.raises(FrameError, match="listed twice"):
        parse.parse_positions([row(), row(positionId="2")], SYMBOLS, hedge=True)


def test_markets_keep_usdt_m_and_their_grids() -> None:
    rows = body("rest.trading_pairs.documented.json")["data"]
    coin_m = {**rows[0], "symbol": "BTCUSD", "quote": "USD"}
    (m,) = parse.parse_markets([*rows, coin_m])
    assert (m.id, m.symbol, m.qty_decimals) == ("BTCUSDT", "BTC/USDT:USDT", 4)
    assert (m.rules.amount_step, m.rules.min_amount, m.rules.price_tick) == (1e-4, 1e-4, 0.1)


def test_marks_from_the_batch_and_the_tickers() -> None:
    assert parse.parse_marks(body("rest.funding_rate_batch.documented.json")["data"], SYMBOLS) == {
        "BTC/USDT:USDT": 60000.0
    }
    assert parse.parse_marks(body("rest.tickers.documented.json")["data"], SYMBOLS) == {
        "BTC/USDT:USDT": 57892.1,
        "ETH/USDT:USDT": 2000.0,
    }
    # a delisted row's mark of 0 is no mark
    assert parse.parse_marks([{"symbol": "BTCUSDT", "markPrice": "0", "indexPrice": None}], SYMBOLS) == {}


def test_the_price_push_gives_the_mark_and_the_exchange_time() -> None:
    push = body("ws.price.observed.json")
    assert parse.parse_price_push(push, SYMBOLS) == ("BTC/USDT:USDT", 86688.3, 1790126515695)
    assert parse.parse_price_push({**push, "symbol": "NOPEUSDT"}, SYMBOLS) is None
    with pytest.raises(FrameError, match=re.escape("price data.mp")):
        parse.parse_price_push({**push, "data": {**push["data"], "mp": "-1"}}, SYMBOLS)


def test_tiers_are_continuous_and_the_last_is_uncapped() -> None:
    tiers = parse.parse_tiers(
        [
            {"level": 2, "startValue": "50000", "endValue": "", "maintenanceMarginRate": "0.01"},
            {"level": 1, "startValue": "0", "endValue": "50000", "maintenanceMarginRate": "0.004"},
        ]
    )
    assert [(t.floor, t.cap, t.mmr) for t in tiers] == [(0.0, 50000.0, 0.004), (50000.0, float("inf"), 0.01)]
    # the same maintenance on both sides of the boundary: 50,000 x 0.4 % = 50,000 x 1 % - cum
    assert 50000 * 0.01 - tiers[1].cum == pytest.approx(50000 * 0.004)


def test_private_pushes_are_checked_triggers() -> None:
    assert parse.private_channel({"ch": "position", "data": {"event": "OPEN"}}) == "position"
    assert parse.private_channel({"ch": "order", "data": [{"orderId": "1"}]}) == "order"
    with pytest.raises(FrameError, match="private ch"):
        parse.private_channel({"ch": "tpsl", "data": {}})
    with pytest.raises(FrameError, match="neither an array nor an object"):
        parse.private_channel({"ch": "balance", "data": "x"})
