"""Bybit v5 payloads read from the recorded fixtures (``fixtures/bybit``, sources in its README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.model import MarginMode, PositionSide
from monitor.venues.bybit import parse
from monitor.venues.wire import FrameError

FIXTURES = Path(__file__).parent / "fixtures" / "bybit"
SYMBOLS = {
    "NKNUSDT": "NKN/USDT:USDT",
    "BTCUSDT": "BTC/USDT:USDT",
    "LTCUSDT": "LTC/USDT:USDT",
    "BTCUSD": "BTC/USD:BTC",
    "ETHUSDT": "ETH/USDT:USDT",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_recorded_linear_position() -> None:
    (leg,) = parse.parse_positions(load("rest.position.list.linear.observed.json"), SYMBOLS, MarginMode.CROSS)
    assert leg.symbol == "LTC/USDT:USDT" and leg.position_side is PositionSide.BOTH
    assert leg.amount == 1.2 and leg.entry_price == 64.59947917 and leg.leverage == 6
    assert leg.maint_margin == 0.81072399 and leg.mark_price == 71.1
    assert leg.liquidation_price is None  # "" is "none", never 0
    assert leg.update_ms == 1699948800031


def test_a_flat_row_with_empty_numbers_is_no_position() -> None:
    assert (
        parse.parse_positions(load("rest.position.list.linear.flat.observed.json"), SYMBOLS, MarginMode.CROSS)
        == ()
    )


def test_documented_inverse_short() -> None:
    (leg,) = parse.parse_positions(
        load("rest.position.list.inverse.documented.json"), SYMBOLS, MarginMode.CROSS
    )
    assert leg.amount < 0 and leg.symbol == "BTC/USD:BTC"


def test_recorded_unified_wallet() -> None:
    w = parse.parse_wallet(load("rest.account.wallet-balance.unified.observed.json"))
    body = load("rest.account.wallet-balance.unified.observed.json")["result"]["list"][0]
    usdt = next(c for c in body["coin"] if c["coin"] == "USDT")
    assert w.wallet_balance == float(usdt["walletBalance"])
    assert w.total_maint_margin == float(body["totalMaintenanceMargin"])
    assert w.margin_balance == float(body["totalMarginBalance"])
    assert w.account_mm_rate == 0.0


def test_account_info_margin_mode_and_portfolio_margin_refused() -> None:
    body = load("rest.account.info.documented.json")
    body["result"]["unifiedMarginStatus"] = 5  # the documented example is a UTA 1.0 pro (4)
    assert parse.parse_margin_mode(body, "main") is MarginMode.CROSS
    body["result"]["marginMode"] = "ISOLATED_MARGIN"
    assert parse.parse_margin_mode(body, "main") is MarginMode.ISOLATED
    body["result"]["marginMode"] = "PORTFOLIO_MARGIN"
    with pytest.raises(parse.UnsupportedAccount, match="Bybit account 'pm': portfolio margin"):
        parse.parse_margin_mode(body, "pm")


def test_documented_inverse_risk_limit_is_read_as_percent() -> None:
    (tier,) = parse.parse_tiers(load("rest.market.risk-limit.inverse.documented.json"), "BTCUSD")
    assert tier.mmr == pytest.approx(0.005) and tier.cum == 0.0 and tier.cap == 150


def test_ticker_snapshot_then_deltas_without_mark() -> None:
    known: dict[str, float] = {}
    snap = parse.merge_ticker(known, load("ws.tickers.linear.snapshot.observed.json"), SYMBOLS, 1, "bybit")
    assert snap is not None and snap.prices == {"NKN/USDT:USDT": 0.13946} and snap.event_ms > 0
    # the recorded delta carries the book's top only: no mark, and the last mark stays
    assert (
        parse.merge_ticker(known, load("ws.tickers.linear.delta.observed.json"), SYMBOLS, 2, "bybit") is None
    )
    assert known == {"NKN/USDT:USDT": 0.13946}


def test_position_topic() -> None:
    update = parse.parse_position_topic(
        load("ws.position.documented.json"),
        venue="bybit",
        account="a",
        symbols=SYMBOLS,
        margin_mode=MarginMode.CROSS,
        received_ms=5,
    )
    assert update.account == "a" and update.event_ms > 0


def test_a_bad_position_index_names_the_field() -> None:
    body = load("rest.position.list.linear.observed.json")
    body["result"]["list"][0]["positionIdx"] = 7
    with pytest.raises(FrameError, match=r"result.list\[0\].positionIdx"):
        parse.parse_positions(body, SYMBOLS, MarginMode.CROSS)


def test_an_error_envelope_is_refused() -> None:
    with pytest.raises(FrameError, match="retCode"):
        parse.parse_positions(load("rest.error.10001.observed.json"), SYMBOLS, MarginMode.CROSS)


@pytest.mark.parametrize(("status", "says"), [(1, "classic account"), (4, "UTA 1.0"), (3, "UTA 1.0")])
def test_classic_and_uta_1_accounts_are_refused_naming_them(status: int, says: str) -> None:
    body = load("rest.account.info.documented.json")
    body["result"]["unifiedMarginStatus"] = status
    with pytest.raises(parse.UnsupportedAccount, match=f"Bybit account 'old': .*{says}"):
        parse.parse_margin_mode(body, "old")
