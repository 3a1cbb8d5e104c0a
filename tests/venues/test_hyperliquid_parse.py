"""Hyperliquid's readers on Hyperliquid's own payloads (tests/venues/fixtures/hyperliquid, SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor.events import OrderKind
from monitor.margin.rules import upnl
from monitor.model import MarginMode, Position, Side, Venue
from monitor.venues.hyperliquid import parse

FIXTURES = Path(__file__).parent / "fixtures" / "hyperliquid"
COINS = {c: f"{c}/USDC:USDC" for c in ("BTC", "ETH", "SOL", "HYPE", "HPOS", "APT")}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    "name",
    [
        "info.clearinghouseState.cross-short.2024-10.observed.json",
        "info.clearinghouseState.cross-long.2024-03.observed.json",
        "info.clearinghouseState.isolated-short.2025-10.observed.json",
        "info.clearinghouseState.isolated.documented.json",
    ],
)
def test_wallet_plus_pnl_at_the_marks_is_hyperliquid_s_account_value(name: str) -> None:
    body = load(name)
    state = parse.parse_clearinghouse_state(body, COINS)
    cross = [p for p in state.positions if p.margin_mode is MarginMode.CROSS]
    pnl = sum(p.amount * ((p.mark_price or 0.0) - p.entry_price) for p in cross)
    value = float(body["crossMarginSummary"]["accountValue"])
    assert state.cross_wallet + pnl == pytest.approx(value, abs=1e-9)
    assert len(state.positions) == len(body["assetPositions"])


def test_an_isolated_wallet_is_raw_usd_plus_the_entry_notional() -> None:
    state = parse.parse_clearinghouse_state(
        load("info.clearinghouseState.isolated-short.2025-10.observed.json"), COINS
    )
    (hype,) = state.positions
    assert hype.amount == -4.0 and hype.margin_mode is MarginMode.ISOLATED
    assert hype.isolated_wallet == pytest.approx(211.144417 - 4.0 * 47.9932, abs=1e-9)
    # the position's margin with its PnL is Hyperliquid's marginUsed
    p = Position("HYPE", Side.SHORT, MarginMode.ISOLATED, 4.0, hype.entry_price, hype.mark_price or 0.0, ())
    assert (hype.isolated_wallet or 0.0) + upnl(p, p.mark_price) == pytest.approx(18.564417, abs=1e-9)
    assert hype.liquidation_price == pytest.approx(50.2724802381)


def test_null_liquidation_price_is_none_and_string_integers_are_read() -> None:
    state = parse.parse_clearinghouse_state(
        load("info.clearinghouseState.cross-long.2024-03.observed.json"), COINS
    )
    assert [p.liquidation_price for p in state.positions] == [None, None]
    assert [p.leverage for p in state.positions] == [20.0, 20.0]  # "20" in ccxt's recording
    assert state.time_ms == 1709652410317
    assert state.cross_maint == pytest.approx(141.579994)


def test_a_flat_account_has_no_positions() -> None:
    state = parse.parse_clearinghouse_state(load("info.clearinghouseState.flat.2024-10.observed.json"), COINS)
    assert state.positions == ()


def test_a_hip3_position_is_refused_by_name() -> None:
    body = load("info.clearinghouseState.hip3-isolated.2025-11.observed.json")
    with pytest.raises(parse.UnsupportedAccount, match=r"flx:CRCL.*HIP-3"):
        parse.parse_clearinghouse_state(body, COINS)


def test_a_coin_outside_the_universe_names_its_field() -> None:
    body = load("info.clearinghouseState.cross-short.2024-10.observed.json")
    with pytest.raises(parse.FrameError, match=r"assetPositions\[1\]\.position\.coin"):
        parse.parse_clearinghouse_state(body, {"SOL": "SOL/USDC:USDC"})


def test_meta_tiers_by_margin_table_and_by_id_below_50() -> None:
    coins = {c.name: c for c in parse.parse_meta(load("info.meta.documented.json"))}
    assert coins["BTC"].index == 0 and coins["BTC"].sz_decimals == 5
    assert [t.mmr for t in coins["BTC"].tiers] == [0.01]  # no table id: one tier at maxLeverage 50
    assert coins["HPOS"].tiers[0].mmr == pytest.approx(1 / 6)


def test_marks_are_the_contexts_matched_by_index_not_mids() -> None:
    marks = parse.parse_asset_ctxs(load("info.metaAndAssetCtxs.documented.json"), COINS)
    assert marks == {"BTC/USDC:USDC": 14.3161, "ETH/USDC:USDC": 6.0436, "HPOS/USDC:USDC": 8.4542}


def test_a_counterparty_s_liquidation_fill_is_not_ours() -> None:
    frame = load("ws.user.fills-liquidation.observed.json")
    fills = frame["data"]["fills"]
    theirs = fills[0]["liquidation"]["liquidatedUser"]
    mine = parse.parse_user_fills(
        fills, user="0x" + "1" * 40, venue="hyperliquid", account="a", symbols_by_coin=COINS, received_ms=1
    )
    assert [u.kind for u in mine] == [OrderKind.NORMAL]
    liquidated = parse.parse_user_fills(
        fills, user=theirs, venue="hyperliquid", account="a", symbols_by_coin=COINS, received_ms=1
    )
    assert [(u.kind, u.client_order_id) for u in liquidated] == [(OrderKind.LIQUIDATION, "liq-55030848197")]


def test_recorded_fills_with_string_integers_and_the_older_liquidation_field() -> None:
    old = parse.parse_user_fills(
        load("info.userFills.2024-03.observed.json"),
        user="0x" + "1" * 40,
        venue="hyperliquid",
        account="a",
        symbols_by_coin=COINS,
        received_ms=1,
    )
    assert old and all(u.kind is OrderKind.NORMAL for u in old)


def test_order_replies_and_status() -> None:
    filled = parse.order_result(load("exchange.order.filled.observed.json"), "c")
    assert (filled.status, filled.filled, filled.average_price) == ("filled", 1.0, 25.585)
    error = parse.order_result(load("exchange.order.error.documented.json"), "c")
    assert error.status == "rejected" and "minimum value" in error.detail
    assert parse.order_result(load("exchange.order.resting.documented.json"), "c").status == "open"
    assert parse.order_status_result({"status": "unknownOid"}, "c") is None


@pytest.mark.parametrize(
    ("mark", "buy", "sz_decimals", "expected"),
    [
        (60_000.0, False, 5, "57000"),  # 5 figures, integer
        (123_456.0, True, 5, "129629"),  # above 5 figures an integer price is allowed
        (3_012.34, True, 4, "3163"),
        (0.123456, False, 0, "0.11728"),
        (47.9932, True, 2, "50.393"),
    ],
)
def test_ioc_price_has_five_figures_and_crosses_the_mark(
    mark: float, buy: bool, sz_decimals: int, expected: str
) -> None:
    price = parse.ioc_price(mark, buy, 0.05, sz_decimals)
    assert price == expected
    assert (float(price) > mark) if buy else (float(price) < mark)


def test_size_is_rounded_down_to_the_coin_s_decimals() -> None:
    assert parse.size_text(0.123456789, 5) == "0.12345"
    assert parse.size_text(100.0, 0) == "100"


def test_client_order_ids_are_16_bytes_of_hex_the_same_each_time() -> None:
    cloid = parse.cloid_of("derisk-main-1")
    assert len(cloid) == 34 and cloid.startswith("0x") and cloid == parse.cloid_of("derisk-main-1")


def test_venue_is_registered_in_the_model() -> None:
    assert Venue("hyperliquid") is Venue.HYPERLIQUID
