"""OKX's parsers on the captures in ``tests/venues/fixtures/okx`` (see its README for each source)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from monitor.events import OrderKind
from monitor.model import MarginMode, PositionSide, Tier
from monitor.venues.okx import parse

FIXTURES = Path(__file__).parent / "fixtures" / "okx"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_the_observed_cross_position_with_okx_ratio_converted() -> None:
    """Vector O-R2: a real XRP-USDT-SWAP cross net long of one contract."""
    frame = load("ws.positions.swap.cross.net.observed.json")
    update, rows = parse.parse_positions_push(
        frame, venue="okx", account="a", symbols={"XRP-USDT-SWAP": "XRP/USDT:USDT"}, received_ms=1
    )
    (p,) = update.positions
    assert (p.symbol, p.position_side, p.margin_mode, p.amount) == (
        "XRP/USDT:USDT",
        PositionSide.BOTH,
        MarginMode.CROSS,
        1.0,
    )
    assert p.liquidation_price == 0.3287514731020614 and p.isolated_wallet is None
    assert p.maint_margin == 0.26346  # OKX's amount, the fee to close left out
    assert rows[0].okx_ratio == pytest.approx(1 / 69.00363001456147)
    assert update.event_ms == 1693151444408  # the position's uTime


def test_a_long_short_isolated_row_and_what_is_not_watched() -> None:
    frame = load("ws.positions.documented.json")
    update, _ = parse.parse_positions_push(
        frame, venue="okx", account="a", symbols={"ETH-USD-SWAP": "ETH/USD:ETH"}, received_ms=1
    )
    (p,) = update.positions  # the dated future is not watched
    assert (p.position_side, p.margin_mode, p.amount) == (PositionSide.LONG, MarginMode.ISOLATED, 1.0)
    assert p.isolated_wallet == pytest.approx(0.0003896645377994)


def test_a_position_held_in_both_margin_modes_is_refused_by_name() -> None:
    frame = load("ws.positions.swap.cross.net.observed.json")
    twin = copy.deepcopy(frame["data"][0])
    twin["mgnMode"] = "isolated"
    frame["data"].append(twin)
    with pytest.raises(parse.FrameError, match="XRP/USDT:USDT is held in cross and isolated margin"):
        parse.parse_positions_push(
            frame, venue="okx", account="a", symbols={"XRP-USDT-SWAP": "XRP/USDT:USDT"}, received_ms=1
        )


def test_an_unknown_position_side_names_its_path() -> None:
    frame = load("ws.positions.swap.cross.net.observed.json")
    frame["data"][0]["posSide"] = "both"
    with pytest.raises(parse.FrameError, match=r"data\[0\]\.posSide"):
        parse.parse_positions_push(
            frame, venue="okx", account="a", symbols={"XRP-USDT-SWAP": "XRP/USDT:USDT"}, received_ms=1
        )


def test_spot_mode_is_refused_naming_the_account() -> None:
    """A real account configuration in Spot mode (acctLv 1): it can hold no swaps."""
    with pytest.raises(parse.UnsupportedAccount, match=r"'main'.*Spot mode"):
        parse.parse_config(load("rest.account.config.net-mode.observed.json"), "main")


@pytest.mark.parametrize(("level", "words"), [("3", "Multi-currency"), ("4", "Portfolio margin")])
def test_other_account_modes_are_refused_by_name(level: str, words: str) -> None:
    body = load("rest.account.config.documented.json")
    body["data"][0]["acctLv"] = level
    with pytest.raises(parse.UnsupportedAccount, match=words):
        parse.parse_config(body, "main")


def test_futures_mode_in_long_short_mode() -> None:
    config = parse.parse_config(load("rest.account.config.documented.json"), "main")
    assert (config.level, config.hedge) == ("2", True)


def test_balance_details_of_the_settlement_currency() -> None:
    balance = parse.parse_balance(load("rest.account.balance.documented.json"), "USDT")
    assert balance.cash == pytest.approx(4850.435693622894)
    assert balance.okx_ratio is None  # "" in Futures mode without cross positions
    observed = parse.parse_balance(load("rest.account.balance.multi-currency.observed.json"), "USDT")
    assert observed.cash > 0


def test_tiers_in_contracts_are_joined_without_one_contract_gaps() -> None:
    """OKX starts each tier one contract above the last one's maximum (minSz 0, 501, 1001...)."""
    rows = [
        {"instFamily": "BTC-USDT", "tier": "2", "minSz": "501", "maxSz": "1000", "mmr": "0.006"},
        {"instFamily": "BTC-USDT", "tier": "1", "minSz": "0", "maxSz": "500", "mmr": "0.004"},
    ]
    tiers = parse.parse_tiers({"code": "0", "msg": "", "data": rows})
    assert tiers == {"BTC-USDT": (Tier(0, 500, 0.004, 0.0), Tier(500, 1000, 0.006, 0.0))}


def test_an_error_envelope_is_refused() -> None:
    with pytest.raises(parse.FrameError, match="code"):
        parse.parse_balance(load("rest.error.50111.observed.json"))


def test_orders_channel_fill_and_forced_orders() -> None:
    frame = load("ws.orders.documented.json")
    (order,) = parse.parse_orders_push(
        frame, venue="okx", account="a", symbols={"BTC-USDT": "BTC/USDT"}, received_ms=1
    )
    assert (order.kind, order.status, order.reduce_only) == (OrderKind.NORMAL, "FILLED", False)
    assert (order.last_filled_qty, order.last_price) == (0.001, 31527.1)
    assert order.commission == pytest.approx(0.02522168)  # OKX's fee is negative when paid
    frame["data"][0]["category"] = "full_liquidation"
    (forced,) = parse.parse_orders_push(
        frame, venue="okx", account="a", symbols={"BTC-USDT": "BTC/USDT"}, received_ms=1
    )
    assert forced.kind is OrderKind.LIQUIDATION


def test_mark_price_push() -> None:
    marks = parse.parse_mark_push(load("ws.mark-price.documented.json"), {"LTC-USD-190628": "LTC"}, 5, "okx")
    assert marks is not None
    assert marks.prices == {"LTC": 0.1} and marks.event_ms == 1597026383085
