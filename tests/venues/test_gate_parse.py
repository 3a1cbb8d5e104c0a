"""Gate's parsers on Gate's own payloads (``tests/venues/fixtures/gate/``, sources in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.events import OrderKind
from monitor.model import MarginMode, PositionSide
from monitor.venues.gate import parse

FIXTURES = Path(__file__).parent / "fixtures" / "gate"
SYMBOLS = {
    "BTC_USDT": "BTC/USDT:USDT",
    "LTC_USDT": "LTC/USDT:USDT",
    "BTC_USD": "BTC/USD:BTC",
    "ZTX_USDT": "ZTX",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_pos_margin_mode_wins_over_the_classic_leverage_rule() -> None:
    """The current docs example: ``leverage`` "0" (cross by the classic rule) with
    ``pos_margin_mode`` "isolated"; its ``liq_price`` "99999999" means none; ``size`` is a string."""
    (state,) = parse.positions(load("rest.positions.documented.json"), SYMBOLS, {})
    assert state.margin_mode is MarginMode.ISOLATED
    assert state.amount == -9440 and state.position_side is PositionSide.BOTH
    assert state.liquidation_price is None
    assert state.isolated_wallet == pytest.approx(4.431548146258)
    assert state.leverage == 30  # ``lever``, which replaces ``leverage``


def test_the_2024_row_integer_size_and_the_classic_rule() -> None:
    (state,) = parse.positions(load("rest.positions.2024.documented.json"), SYMBOLS, {})
    assert state.amount == -9440
    assert state.margin_mode is MarginMode.CROSS  # leverage "0", no pos_margin_mode
    assert state.isolated_wallet is None


def test_a_real_isolated_row_with_ccxt_string_integers() -> None:
    (state,) = parse.positions(load("rest.positions.isolated-long.2024-01.observed.json"), SYMBOLS, {})
    assert state.margin_mode is MarginMode.ISOLATED and state.amount == 1
    assert state.liquidation_price == 60.07 and state.mark_price == 74.43
    assert state.update_ms == 1705052585000 and state.opened_ms == 1705052585000


def test_the_channel_row_numbers_and_the_mode_last_read() -> None:
    """``futures.positions`` sends numbers and no ``pos_margin_mode``: the leg's known mode holds."""
    frame = load("ws.futures.positions.documented.json")
    known = {("BTC/USD:BTC", PositionSide.BOTH): MarginMode.ISOLATED}
    (state,) = parse.positions(frame["result"], SYMBOLS, known)
    assert state.margin_mode is MarginMode.ISOLATED and state.amount == 3
    assert state.mark_price is None and state.unrealized_pnl is None
    assert state.update_ms == 1628736848321
    (classic,) = parse.positions(frame["result"], SYMBOLS, {})
    assert classic.margin_mode is MarginMode.CROSS  # leverage 0


@pytest.mark.parametrize("sentinel", ["0", "99999999", 0, 99999999])
def test_both_liq_price_sentinels_mean_none(sentinel: Any) -> None:
    assert parse.liquidation_price({"liq_price": sentinel}) is None


def test_a_dual_short_row_is_negative_whatever_its_sign() -> None:
    row = {"contract": "BTC_USDT", "size": "7", "mode": "dual_short", "entry_price": "1", "leverage": "0"}
    (state,) = parse.positions([row], SYMBOLS, {})
    assert state.position_side is PositionSide.SHORT and state.amount == -7


def test_a_bad_row_names_the_field() -> None:
    with pytest.raises(parse.FrameError, match=r"result\[0\]: field 'size' is not a number"):
        parse.positions([{"contract": "BTC_USDT", "size": "lots"}], SYMBOLS, {})
    with pytest.raises(parse.FrameError, match="field 'mode'"):
        parse.positions([{"contract": "BTC_USDT", "size": "1", "mode": "dual_plus"}], SYMBOLS, {})


def test_account_modes_that_are_refused() -> None:
    documented = load("rest.accounts.documented.json")
    assert "split-position" in (parse.refusal(documented) or "")  # the example is in dual_plus
    classic = {**documented, "position_mode": "single", "enable_dual_plus": False, "margin_mode": 0}
    assert parse.refusal(classic) is None
    assert "multi-currency" in (parse.refusal({**classic, "margin_mode": 1}) or "")
    assert "portfolio" in (parse.refusal({**classic, "margin_mode": 2}) or "")


def test_tiers_carry_the_contracts_taker_rate_and_the_deduction() -> None:
    tables = parse.tier_tables(load("rest.risk_limit_tiers.documented.json"), SYMBOLS, {"ZTX": 0.00075})
    tiers = tables["ZTX"]
    assert [(t.floor, t.cap) for t in tiers][:2] == [(0, 20_000), (20_000, 30_000)]
    assert [t.mmr for t in tiers] == pytest.approx([0.01075, 0.01375, 0.01575, 0.02075, 0.02575])
    assert [t.cum for t in tiers] == [0, 60, 120, 370, 720]


def test_a_liquidation_keeps_its_large_order_id_exact() -> None:
    row = {**load("ws.futures.liquidates.documented.json")["result"][0], "order_id": 299207900263708423}
    (order,) = parse.liquidations([row], SYMBOLS, venue="gate", account="a", hedge=False, received_ms=1)
    assert order.kind is OrderKind.LIQUIDATION and order.order_id == 299207900263708423
    assert order.side == "buy" and order.filled_qty == 124  # size -124: a short was liquidated


def test_marks_from_the_tickers() -> None:
    marks = parse.marks(
        load("rest.tickers.documented.json"), SYMBOLS, venue="gate", event_ms=5, received_ms=6
    )
    assert marks.prices == {"BTC/USDT:USDT": 6534.0}
