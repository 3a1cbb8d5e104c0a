"""Bitget's captured rows through the adapter's parsers (fixtures: ``fixtures/bitget/SOURCES.md``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.model import MarginMode, PositionSide
from monitor.venues.bitget import parse

FIXTURES = Path(__file__).parent / "fixtures" / "bitget"
SYMBOLS = {"BTCUSDT": "BTC/USDT:USDT", "LTCUSDT": "LTC/USDT:USDT"}


def data(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())["data"]


def test_isolated_hedge_row_from_the_docs() -> None:
    (state,) = parse.positions(data("rest.all-position.documented.json"), SYMBOLS)
    assert state.symbol == "BTC/USDT:USDT"
    assert (state.position_side, state.margin_mode) == (PositionSide.LONG, MarginMode.ISOLATED)
    assert state.amount == 0.01 and state.entry_price == 25_000
    assert state.isolated_wallet == pytest.approx(9.6695050093373343)
    assert state.liquidation_price == pytest.approx(24144.1124161806977798)
    assert state.opened_ms == 1691382137448 and state.update_ms == 1691382137999


def test_a_cross_row_with_liquidation_price_zero_has_none() -> None:
    (state,) = parse.positions(data("rest.all-position.observed.json"), SYMBOLS)
    assert state.margin_mode is MarginMode.CROSS and state.isolated_wallet is None
    assert state.liquidation_price is None
    assert state.opened_ms == 1702575043747


def test_the_ws_positions_row_reads_like_the_rest_one() -> None:
    (state,) = parse.positions(data("ws.positions.observed.json"), SYMBOLS)
    assert (state.symbol, state.position_side, state.amount) == ("BTC/USDT:USDT", PositionSide.LONG, 0.001)
    assert state.leverage == 20 and state.liquidation_price == pytest.approx(17629.684814834)


def test_a_one_way_short_is_signed() -> None:
    row = {**data("rest.all-position.documented.json")[0], "posMode": "one_way_mode", "holdSide": "short"}
    (state,) = parse.positions([row], SYMBOLS)
    assert (state.position_side, state.amount) == (PositionSide.BOTH, -0.01)


def test_a_row_with_a_bad_field_is_refused_naming_it() -> None:
    row = {**data("rest.all-position.documented.json")[0], "total": "lots"}
    with pytest.raises(parse.FrameError, match="'total'"):
        parse.positions([row], SYMBOLS)


def test_union_mode_is_recognised_on_accounts_and_positions() -> None:
    assert parse.is_union(data("rest.account.union.documented.json"))
    assert parse.is_union(data("rest.all-position.union.documented.json")[0])
    assert not parse.is_union(data("rest.account.2025-03.observed.json"))


def test_cross_wallet_is_equity_less_pnl_and_isolated_margins() -> None:
    rows = data("rest.all-position.documented.json")  # isolated: margin 9.6695..., uPnL 1
    assert parse.cross_wallet(100.0, rows) == pytest.approx(100.0 - 1.0 - 9.6695050093373343)


def test_tier_table_without_the_fee_or_a_deduction() -> None:
    table = parse.tier_table(
        data("rest.query-position-lever.documented.json"),
        venue="bitget",
        account="main",
        symbol="BTC/USDT:USDT",
        received_ms=0,
    )
    assert [(t.floor, t.cap, t.mmr, t.cum) for t in table.tiers] == [
        (0, 50_000, 0.004, 0),
        (50_000, 200_000, 0.005, 0),
    ]
