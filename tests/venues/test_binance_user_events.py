"""User data stream: ACCOUNT_UPDATE, ORDER_TRADE_UPDATE, MARGIN_CALL, listenKeyExpired."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.events import (
    AccountUpdate,
    ListenKeyExpired,
    MarginCall,
    OrderKind,
    OrderUpdate,
)
from monitor.model import MarginMode, PositionSide
from monitor.venues.binance.parse import FrameError, UserEvent, order_kind, parse_user_event

from ._binance import SYMBOLS, load

SIDES = {"BOTH": PositionSide.BOTH, "LONG": PositionSide.LONG, "SHORT": PositionSide.SHORT}
MODES = {"cross": MarginMode.CROSS, "isolated": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS}


def user(frame: object, asset: str | None = "USDT") -> UserEvent | None:
    return parse_user_event(
        frame, venue="binanceusdm", account="main", symbols=SYMBOLS, received_ms=99, asset=asset
    )


def account_update(frame: object, asset: str | None = "USDT") -> AccountUpdate:
    event = user(frame, asset)
    assert isinstance(event, AccountUpdate)
    return event


def order_update(frame: object) -> OrderUpdate:
    event = user(frame)
    assert isinstance(event, OrderUpdate)
    return event


def cw_of(raw: dict[str, Any], asset: str) -> float:
    return next(float(b["cw"]) for b in raw["a"]["B"] if b["a"] == asset)


# --- ACCOUNT_UPDATE ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "ws.ACCOUNT_UPDATE.documented.json",
        "ws.ACCOUNT_UPDATE.order.observed.json",
        "ws.ACCOUNT_UPDATE.deposit.observed.json",
    ],
)
def test_account_update_fixtures(name: str) -> None:
    raw = load(name)
    event = account_update(raw)
    assert (event.venue, event.account, event.received_ms) == ("binanceusdm", "main", 99)
    assert event.reason == raw["a"]["m"]
    assert event.event_ms == raw["E"]
    assert event.cross_wallet_balance == cw_of(raw, "USDT")
    assert len(event.positions) == len(raw["a"]["P"])
    for position, row in zip(event.positions, raw["a"]["P"], strict=True):
        assert position.symbol == SYMBOLS[row["s"]]
        assert position.position_side is SIDES[row["ps"]]
        assert position.margin_mode is MODES[row["mt"]]
        assert position.amount == float(row["pa"])
        assert position.entry_price == float(row["ep"])
        assert position.unrealized_pnl == float(row["up"])
        expected_wallet = float(row["iw"]) if row["mt"] == "isolated" else None
        assert position.isolated_wallet == expected_wallet
        # ACCOUNT_UPDATE carries none of these.
        assert (position.mark_price, position.liquidation_price, position.maint_margin) == (None, None, None)
        assert position.leverage is None


def test_account_update_documented_traps() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    event = account_update(raw)
    flat, long, short = event.positions
    # A flat leg is kept: it tells the engine the leg closed.
    assert flat.amount == 0 and flat.position_side is PositionSide.BOTH
    assert long.amount > 0 and short.amount < 0  # shorts are signed negative
    assert short.isolated_wallet == float(raw["a"]["P"][2]["iw"])


def test_account_update_wallet_follows_the_requested_asset() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    assert account_update(raw, asset="BUSD").cross_wallet_balance == cw_of(raw, "BUSD")
    assert account_update(raw, asset="BNB").cross_wallet_balance is None


def test_account_update_reports_the_other_assets_cross_wallets() -> None:
    # In Multi-Assets mode every margin asset's cw counts in the pool, each in its own units.
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    event = account_update(raw)
    assert event.cross_wallet_balance == cw_of(raw, "USDT")
    assert event.other_balances == (("BUSD", cw_of(raw, "BUSD")),)
    event = account_update(raw, asset=None)
    assert event.cross_wallet_balance is None
    assert event.other_balances == (("USDT", cw_of(raw, "USDT")), ("BUSD", cw_of(raw, "BUSD")))
    assert len(event.positions) == len(raw["a"]["P"])
    raw["a"]["B"][1]["cw"] = "NaN"
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE a\.B\[1\]\.cw: not a decimal"):
        user(raw, asset=None)


def test_account_update_error_names_the_path() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    raw["a"]["P"][2]["iw"] = "abc"
    with pytest.raises(FrameError) as info:
        user(raw)
    assert str(info.value) == "ACCOUNT_UPDATE a.P[2].iw: not a decimal: 'abc'"


def test_flat_leg_of_unknown_symbol_is_dropped() -> None:
    raw = load("ws.ACCOUNT_UPDATE.order.observed.json")
    raw["a"]["P"][1]["s"] = "NEWUSDT"  # the flat LONG leg
    event = account_update(raw)
    assert [p.position_side for p in event.positions] == [PositionSide.BOTH, PositionSide.SHORT]


def test_open_leg_of_unknown_symbol_rejects_the_frame() -> None:
    raw = load("ws.ACCOUNT_UPDATE.order.observed.json")
    raw["a"]["P"][0]["s"] = "NEWUSDT"  # the open BOTH leg
    with pytest.raises(
        FrameError, match=r"^ACCOUNT_UPDATE a\.P\[0\]\.s: unknown symbol with an open position"
    ):
        user(raw)


@pytest.mark.parametrize(("index", "amount"), [(1, "-20"), (2, "10")])
def test_hedge_leg_with_the_wrong_sign_is_an_error(index: int, amount: str) -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    raw["a"]["P"][index]["pa"] = amount
    with pytest.raises(FrameError, match=rf"a\.P\[{index}\]\.pa: amount has the wrong sign"):
        user(raw)


def test_a_leg_stated_twice_is_an_error() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    raw["a"]["P"].append(raw["a"]["P"][1])
    with pytest.raises(FrameError, match="BTC/USDT:USDT long listed twice"):
        user(raw)


def test_open_leg_needs_an_entry_price() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    raw["a"]["P"][1]["ep"] = "0"
    with pytest.raises(FrameError, match=r"a\.P\[1\]\.ep: not a usable entry price"):
        user(raw)


def test_negative_isolated_wallet_is_an_error() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    raw["a"]["P"][1]["iw"] = "-1"
    with pytest.raises(FrameError, match=r"a\.P\[1\]\.iw: must not be negative"):
        user(raw)


def test_combined_wrapper_for_user_events() -> None:
    raw = load("ws.ACCOUNT_UPDATE.documented.json")
    assert user({"stream": "listenkey", "data": raw}) == user(raw)


# --- ORDER_TRADE_UPDATE ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["ws.ORDER_TRADE_UPDATE.documented.json", "ws.ORDER_TRADE_UPDATE.fill.observed.json"]
)
def test_order_update_fixtures(name: str) -> None:
    raw = load(name)
    o = raw["o"]
    event = order_update(raw)
    assert event.symbol == SYMBOLS[o["s"]]
    assert event.client_order_id == o["c"]
    assert event.kind is OrderKind.NORMAL
    assert event.side == o["S"].lower()
    assert event.position_side is SIDES[o["ps"]]
    assert (event.order_type, event.execution_type, event.status) == (o["o"], o["x"], o["X"])
    assert event.reduce_only is o["R"]
    assert event.last_filled_qty == float(o["l"])
    assert event.filled_qty == float(o["z"])
    assert event.last_price == float(o["L"])
    assert event.average_price == float(o["ap"])
    assert event.realized_pnl == float(o["rp"])
    assert event.commission == float(o["n"])
    assert (event.event_ms, event.received_ms) == (raw["E"], 99)
    assert event.order_id == o["i"]


def test_fill_commission_matches_the_taker_rate_in_the_capture() -> None:
    o = load("ws.ORDER_TRADE_UPDATE.fill.observed.json")["o"]
    event = order_update(load("ws.ORDER_TRADE_UPDATE.fill.observed.json"))
    assert event.commission == pytest.approx(0.0004 * float(o["L"]) * float(o["l"]), rel=1e-9)


def test_commission_absent_means_zero() -> None:
    raw = load("ws.ORDER_TRADE_UPDATE.documented.json")
    del raw["o"]["n"], raw["o"]["N"]
    assert order_update(raw).commission == 0.0


@pytest.mark.parametrize(
    ("client_id", "kind"),
    [
        ("autoclose-1596107620040000020", OrderKind.LIQUIDATION),
        ("adl_autoclose", OrderKind.ADL),
        ("settlement_autoclose-1596107620040000020", OrderKind.SETTLEMENT),
        ("web_autoclose", OrderKind.NORMAL),
        ("6bngw21DJGGemRmdGN9eQe", OrderKind.NORMAL),
    ],
)
def test_exchange_generated_orders_are_recognised_by_client_id(client_id: str, kind: OrderKind) -> None:
    raw = load("ws.ORDER_TRADE_UPDATE.fill.observed.json")
    raw["o"]["c"] = client_id
    assert order_update(raw).kind is kind


def test_liquidation_type_or_calculated_execution_counts_as_liquidation() -> None:
    assert order_kind("x", "LIQUIDATION", "TRADE") is OrderKind.LIQUIDATION
    assert order_kind("x", "MARKET", "CALCULATED") is OrderKind.LIQUIDATION
    assert order_kind("adl_autoclose", "LIQUIDATION", "CALCULATED") is OrderKind.ADL


def test_order_for_unknown_symbol_is_an_error() -> None:
    raw = load("ws.ORDER_TRADE_UPDATE.fill.observed.json")
    raw["o"]["s"] = "NEWUSDT"
    with pytest.raises(FrameError, match=r"^ORDER_TRADE_UPDATE o\.s: unknown symbol: 'NEWUSDT'$"):
        user(raw)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("R", "false"),
        ("S", "HOLD"),
        ("c", "has space"),
        ("c", ""),
        ("L", "-1"),
        ("z", "-1"),
        ("X", 3),
        ("i", -1),
        ("i", "12a"),
    ],
)
def test_order_field_validation(key: str, value: object) -> None:
    raw = load("ws.ORDER_TRADE_UPDATE.fill.observed.json")
    raw["o"][key] = value
    with pytest.raises(FrameError, match=rf"^ORDER_TRADE_UPDATE o\.{key}: "):
        user(raw)


# --- MARGIN_CALL -------------------------------------------------------------------------------------


def test_margin_call() -> None:
    raw = load("ws.MARGIN_CALL.documented.json")
    event = user(raw)
    assert isinstance(event, MarginCall)
    assert event.cross_wallet_balance == float(raw["cw"])
    assert event.event_ms == raw["E"]
    (position,) = event.positions
    row = raw["p"][0]
    assert position.symbol == SYMBOLS[row["s"]]
    assert position.position_side is SIDES[row["ps"]]
    assert position.margin_mode is MarginMode.CROSS  # spelled "CROSSED" here
    assert position.amount == float(row["pa"])
    assert position.mark_price == float(row["mp"])
    assert position.unrealized_pnl == float(row["up"])
    assert position.maint_margin == float(row["mm"])
    assert position.isolated_wallet is None


def test_isolated_margin_call_keeps_its_wallet_and_may_omit_cw() -> None:
    raw = load("ws.MARGIN_CALL.documented.json")
    del raw["cw"]
    raw["p"][0]["mt"], raw["p"][0]["iw"] = "ISOLATED", "2.5"
    event = user(raw)
    assert isinstance(event, MarginCall)
    assert event.cross_wallet_balance is None
    assert event.positions[0].margin_mode is MarginMode.ISOLATED
    assert event.positions[0].isolated_wallet == 2.5


@pytest.mark.parametrize("mark", ["0", "-187.1", "NaN", ""])
def test_margin_call_needs_a_usable_mark(mark: str) -> None:
    raw = load("ws.MARGIN_CALL.documented.json")
    raw["p"][0]["mp"] = mark
    with pytest.raises(FrameError, match=r"^MARGIN_CALL p\[0\]\.mp: "):
        user(raw)


# --- listenKeyExpired and the rest -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ws.listenKeyExpired.documented.json", "ws.listenKeyExpired.observed.json"])
def test_listen_key_expired_with_number_or_string_time(name: str) -> None:
    raw = load(name)
    assert user(raw) == ListenKeyExpired(
        venue="binanceusdm", account="main", event_ms=int(raw["E"]), received_ms=99
    )


def test_listen_key_expired_without_the_key() -> None:
    # A 2022 capture (c9s/bbgo #923) had no listenKey field.
    raw = load("ws.listenKeyExpired.documented.json")
    del raw["listenKey"]
    assert isinstance(user(raw), ListenKeyExpired)


@pytest.mark.parametrize("kind", ["TRADE_LITE", "COIN_SWAP_ORDER", "ACCOUNT_CONFIG_UPDATE", "SOMETHING_NEW"])
def test_unknown_event_types_are_ignored(kind: str) -> None:
    # TRADE_LITE's "p" is a price string, not an array (ccxt/go-binance #612): never read as MARGIN_CALL.
    assert user({"e": kind, "E": 1, "p": "123.4"}) is None


@pytest.mark.parametrize(
    "frame",
    [None, [], "ACCOUNT_UPDATE", {}, {"E": 1}, {"e": 5}, {"e": None}, {"stream": "x", "data": None}],
)
def test_frames_without_an_event_type_are_errors(frame: object) -> None:
    with pytest.raises(FrameError, match=r"^userStream"):
        user(frame)


def test_missing_event_time_is_an_error() -> None:
    raw = load("ws.ACCOUNT_UPDATE.deposit.observed.json")
    del raw["E"]
    with pytest.raises(FrameError, match=r"^ACCOUNT_UPDATE E: missing$"):
        user(raw)
