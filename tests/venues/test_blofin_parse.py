"""BloFin's parsers on BloFin's own captures (``tests/venues/fixtures/blofin/``, sources in SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.events import OrderKind
from monitor.model import MarginMode, PositionSide
from monitor.venues.blofin import parse

FIXTURES = Path(__file__).parent / "fixtures" / "blofin"
SYMBOLS = {
    "ETH-USDT": "ETH/USDT:USDT",
    "BCH-USDT": "BCH/USDT:USDT",
    "LTC-USDT": "LTC/USDT:USDT",
    "BTC-USDT": "BTC/USDT:USDT",
    "BNB-USDT": "BNB/USDT:USDT",
}


def body(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_documented_positions_isolated_with_margin_and_a_signed_cross_short() -> None:
    iso, cross = parse.positions(body("rest.positions.documented.json")["data"], SYMBOLS)
    assert (iso.margin_mode, iso.amount, iso.isolated_wallet) == (MarginMode.ISOLATED, 1.0, 53.06)
    assert iso.liquidation_price == pytest.approx(1066.104078762306610407)
    assert iso.opened_ms == 1695352782370 and iso.position_side is PositionSide.BOTH
    assert (cross.margin_mode, cross.amount, cross.isolated_wallet) == (MarginMode.CROSS, -290.0, None)


def test_an_empty_liquidation_price_is_none() -> None:
    (row,) = parse.positions(
        body("rest.positions.cross-empty-liquidation-price.observed.json")["data"], SYMBOLS
    )
    assert row.liquidation_price is None and row.amount == 0.1


def test_the_ws_position_push_has_the_rest_row_and_an_empty_margin_on_cross() -> None:
    (row,) = parse.positions(body("ws.positions.documented.json")["data"], SYMBOLS)
    assert (row.margin_mode, row.amount, row.isolated_wallet) == (MarginMode.CROSS, -100.0, None)


def test_a_zero_row_is_a_closed_leg_and_instruments_not_watched_are_skipped() -> None:
    row = {"instId": "LTC-USDT", "positionSide": "net", "marginMode": "cross", "positions": "0"}
    (closed,) = parse.positions([row, {**row, "instId": "DOGE-USDT"}], SYMBOLS)
    assert closed.amount == 0


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"positionSide": "both"}, "positionSide"),
        ({"marginMode": "crossed"}, "marginMode"),
        ({"positions": "x"}, "positions"),
    ],
)
def test_a_bad_row_names_its_field(change: dict[str, str], named: str) -> None:
    row = {**body("rest.positions.cross-long.observed.json")["data"][0], **change}
    with pytest.raises(parse.FrameError, match=named):
        parse.positions([row], SYMBOLS)


def test_the_live_capture_s_cross_wallet_is_its_balance() -> None:
    """The balance captured 420 s before the LTC position opened: no PnL, no isolated equity."""
    detail = parse.usdt_detail(body("rest.account-balance.observed.json")["data"])
    assert parse.cross_wallet(detail, 0.0) == pytest.approx(61.338743775651804468)
    assert parse.cross_pnl_of(detail) is None  # the REST balance does not say it: the positions do


def test_the_account_push_names_the_cross_pnl() -> None:
    detail = parse.usdt_detail(body("ws.account.documented.json")["data"])
    assert parse.cross_pnl_of(detail) == 0.0
    with pytest.raises(parse.FrameError, match="details"):
        parse.usdt_detail({"details": [{"currency": "BTC"}]})


def test_every_mark_in_one_reply_with_its_own_time() -> None:
    marks, seen = parse.marks(
        body("rest.mark-price.documented.json")["data"], SYMBOLS, venue="blofin", received_ms=1
    )
    assert marks.prices == {"ETH/USDT:USDT": 1620.58}
    assert seen == {"ETH/USDT:USDT": (1695262570838, 1620.58)}
    with pytest.raises(parse.FrameError, match="markPrice"):
        parse.marks(
            [{"instId": "ETH-USDT", "markPrice": "0", "ts": "1"}], SYMBOLS, venue="blofin", received_ms=1
        )


def test_documented_tiers_by_contracts_from_zero() -> None:
    table = parse.tier_table(
        body("rest.position-tiers.documented.json")["data"],
        venue="blofin",
        account="a",
        symbol="BTC/USDT:USDT",
        received_ms=1,
    )
    (tier,) = table.tiers
    assert (tier.floor, tier.cap, tier.mmr, tier.cum) == (0.0, 150.0, 0.004, 0.0)


def test_orders_in_contracts_and_a_liquidation_named_by_its_id() -> None:
    (live,) = parse.orders(
        body("ws.orders.documented.json")["data"], SYMBOLS, venue="blofin", account="a", received_ms=5
    )
    assert (live.status, live.kind, live.client_order_id, live.filled_qty, live.reduce_only) == (
        "NEW",
        OrderKind.NORMAL,
        "",
        0.0,
        False,
    )
    (closed,) = parse.orders(
        body("rest.orders-history.reduce-only.observed.json")["data"],
        SYMBOLS,
        venue="blofin",
        account="a",
        received_ms=5,
    )
    assert (closed.status, closed.reduce_only, closed.filled_qty, closed.average_price) == (
        "FILLED",
        True,
        1.0,
        68.11,
    )
    assert closed.commission == pytest.approx(0.040866) and closed.realized_pnl == pytest.approx(-0.05)
    row = {
        **body("rest.orders-history.reduce-only.observed.json")["data"][0],
        "orderCategory": "full_liquidation",
    }
    (forced,) = parse.orders([row], SYMBOLS, venue="blofin", account="a", received_ms=5)
    assert (forced.kind, forced.client_order_id, forced.order_id) == (
        OrderKind.LIQUIDATION,
        "full_liquidation-2075628533",
        2075628533,
    )
    with pytest.raises(parse.FrameError, match="state"):
        parse.orders([{**row, "state": "gone"}], SYMBOLS, venue="blofin", account="a", received_ms=5)
