"""Bodies and frames against Binance's own payloads, and request signing.

Every fixture field must be present in ours with the same JSON type (decimal strings stay strings,
ids and times stay numbers, bracket figures stay numbers)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from monitor import events
from monitor.sim import auth, frames
from monitor.sim.book import build_ledger, small_book
from monitor.sim.errors import BinanceError
from monitor.sim.ledger import BOTH, LONG, SHORT, AccountUpdate, Ledger, MarginCall, OrderUpdate
from monitor.venues.binance.parse import parse_account_v3, parse_asset_index, parse_user_event

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_700_000_000_000


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def assert_same_shape(ours: dict[str, Any], theirs: dict[str, Any], *, ignore: tuple[str, ...] = ()) -> None:
    missing = [k for k in theirs if k not in ours and k not in ignore]
    assert not missing, f"missing fields {missing}"
    wrong = {k: (kind(ours[k]), kind(v)) for k, v in theirs.items() if k in ours and kind(ours[k]) != kind(v)}
    assert not wrong, f"wrong JSON types (ours, Binance's): {wrong}"


@pytest.fixture
def ledger() -> Ledger:
    return build_ledger(small_book(), now_ms=NOW)


def test_position_risk_v3_shape(ledger: Ledger) -> None:
    body = frames.position_risk_v3(ledger.risk("main"), ledger.specs)
    assert {row["symbol"] for row in body} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    for row in body:
        assert_same_shape(row, fixture("rest.positionRisk.v3.hedge.documented.json")[0])
    sol = next(r for r in body if r["symbol"] == "SOLUSDT")
    eth = next(r for r in body if r["symbol"] == "ETHUSDT")
    assert sol["positionAmt"] == "100" and eth["positionAmt"] == "-5.000" and eth["notional"].startswith("-")
    # isolatedMargin = isolatedWallet + unRealizedProfit; cross rows carry "0" for both.
    assert float(sol["isolatedMargin"]) == pytest.approx(
        float(sol["isolatedWallet"]) + float(sol["unRealizedProfit"])
    )
    assert (eth["isolatedMargin"], eth["isolatedWallet"]) == ("0", "0")


def test_position_risk_v2_shape_lists_both_hedge_legs(ledger: Ledger) -> None:
    rows = [ledger.leg_risk("hedge", "BTCUSDT", ps) for ps in (LONG, SHORT)]
    body = frames.position_risk_v2(rows, ledger.specs)
    template = fixture("rest.positionRisk.v2.hedge.documented.json")[0]
    for row in body:
        assert_same_shape(row, template)
        assert row["marginType"] == "cross" and row["isAutoAddMargin"] == "false"
    assert [r["positionSide"] for r in body] == ["LONG", "SHORT"]
    assert body[0]["liquidationPrice"] == body[1]["liquidationPrice"] != "0"


def test_flat_v2_row_reports_zero_liquidation_price(ledger: Ledger) -> None:
    (row,) = frames.position_risk_v2([ledger.leg_risk("trader", "BTCUSDT", BOTH)], ledger.specs)
    assert (row["positionAmt"], row["liquidationPrice"], row["updateTime"]) == ("0.000", "0", 0)


def test_account_and_balance_shapes(ledger: Ledger) -> None:
    acct = ledger.account("main")
    risk = ledger.risk(acct)
    v3 = frames.account_v3(risk, acct, ledger.specs)
    doc3 = fixture("rest.account.v3.single-asset.documented.json")
    assert_same_shape(v3, doc3)
    assert_same_shape(v3["assets"][0], doc3["assets"][0])
    for pos in v3["positions"]:
        assert_same_shape(pos, doc3["positions"][0])
    v2 = frames.account_v2(risk, acct, ledger.specs)
    doc2 = fixture("rest.account.v2.single-asset.documented.json")
    assert_same_shape(v2, doc2)
    assert_same_shape(v2["assets"][0], doc2["assets"][0])
    assert_same_shape(v2["positions"][0], doc2["positions"][0])
    (bal,) = frames.balance(risk, acct)
    assert_same_shape(bal, fixture("rest.balance.v3.documented.json")[0])
    # wallet = cross wallet + isolated wallets; margin balance adds every unrealised PnL.
    assert float(v3["totalWalletBalance"]) == pytest.approx(10_000 + 1_500)
    assert float(v3["totalCrossWalletBalance"]) == pytest.approx(10_000)
    assert bal["updateTime"] == NOW  # ccxt skips assets whose updateTime is 0


def test_market_data_shapes(ledger: Ledger) -> None:
    assert_same_shape(
        frames.premium_index("BTCUSDT", 60_000, NOW), fixture("rest.premiumIndex.single.documented.json")
    )
    assert_same_shape(
        frames.mark_price_update("BTCUSDT", 60_000, NOW), fixture("ws.markPriceUpdate.documented.json")
    )
    info = frames.exchange_info(ledger.specs.values(), NOW)
    observed = fixture("rest.exchangeInfo.observed.json")
    assert_same_shape(info, observed)
    ours = info["symbols"][0]
    assert_same_shape(ours, observed["symbols"][0])
    assert {f["filterType"] for f in ours["filters"]} == {
        f["filterType"] for f in observed["symbols"][0]["filters"]
    }
    bracket = frames.leverage_bracket(ledger.specs["BTCUSDT"])
    doc = fixture("rest.leverageBracket.array.documented.json")[0]
    assert_same_shape(bracket, doc, ignore=("notionalCoef",))
    assert_same_shape(bracket["brackets"][1], doc["brackets"][0])
    assert bracket["brackets"][1] == {
        "bracket": 2,
        "initialLeverage": 100,
        "notionalCap": 250_000,
        "notionalFloor": 50_000,
        "maintMarginRatio": 0.005,
        "cum": 50.0,
    }


def test_order_bodies_and_user_events(ledger: Ledger) -> None:
    order, events = ledger.place_market_order(
        "main", "BTCUSDT", "SELL", 0.1, reduce_only=True, client_order_id="cid-1", now_ms=NOW
    )
    spec = ledger.specs["BTCUSDT"]
    result = frames.order_result(order, spec)
    assert_same_shape(result, fixture("rest.order.batch-element.observed.json"))
    assert (result["status"], result["executedQty"], result["reduceOnly"]) == ("FILLED", "0.100", True)
    query = frames.order_query(order, spec)
    assert_same_shape(
        query, fixture("rest.order.query.documented.json"), ignore=("activatePrice", "priceRate")
    )
    assert "cumQty" not in query
    new, update, trade = (frames.user_frame(e, ledger.specs) for e in events)
    observed_fill = fixture("ws.ORDER_TRADE_UPDATE.fill.observed.json")
    assert_same_shape(trade, observed_fill)
    assert_same_shape(trade["o"], observed_fill["o"])
    assert_same_shape(trade["o"], fixture("ws.ORDER_TRADE_UPDATE.documented.json")["o"], ignore=("AP", "cr"))
    assert (trade["o"]["x"], trade["o"]["X"], trade["o"]["c"], trade["o"]["R"]) == (
        "TRADE",
        "FILLED",
        "cid-1",
        True,
    )
    assert (new["o"]["x"], new["o"]["X"]) == ("NEW", "NEW")
    doc_update = fixture("ws.ACCOUNT_UPDATE.documented.json")
    assert_same_shape(update, doc_update)
    assert_same_shape(update["a"]["B"][0], doc_update["a"]["B"][0])
    assert_same_shape(update["a"]["P"][0], doc_update["a"]["P"][0])
    assert update["a"]["m"] == "ORDER" and update["a"]["P"][0]["pa"] == "0.4"


def test_liquidation_and_margin_call_frames(ledger: Ledger) -> None:
    acct = ledger.account("main")
    lp = ledger.liquidation_price(acct, acct.legs["SOLUSDT", BOTH])
    assert lp is not None
    ledger.set_mark("SOLUSDT", lp - 0.01)
    events = ledger.check_liquidations(now_ms=NOW, sim_time=1.0, tick_index=1)
    call = next(e for e in events if isinstance(e, MarginCall))
    liq = next(e for e in events if isinstance(e, OrderUpdate))
    upd = next(e for e in events if isinstance(e, AccountUpdate))
    mc = frames.user_frame(call, ledger.specs)
    doc = fixture("ws.MARGIN_CALL.documented.json")
    assert_same_shape(mc, doc)
    assert_same_shape(mc["p"][0], doc["p"][0])
    assert mc["p"][0]["mt"] == "ISOLATED"
    otu = frames.user_frame(liq, ledger.specs)["o"]
    assert otu["c"].startswith("autoclose-") and (otu["o"], otu["x"], otu["X"]) == (
        "LIQUIDATION",
        "CALCULATED",
        "FILLED",
    )
    au = frames.user_frame(upd, ledger.specs)
    assert (au["a"]["P"][0]["pa"], au["a"]["P"][0]["iw"]) == ("0", "0.00000000")
    (force,) = [o for o in acct.orders.values() if o.order_type == "LIQUIDATION"]
    assert_same_shape(
        frames.force_order(force, ledger.specs["SOLUSDT"]), fixture("rest.forceOrders.documented.json")[0]
    )


def test_small_json_bodies() -> None:
    assert_same_shape(frames.position_margin(100.0, 1), fixture("rest.positionMargin.documented.json"))
    assert_same_shape(frames.listen_key_expired("k", NOW), fixture("ws.listenKeyExpired.documented.json"))
    assert frames.dec(-0.000000001) == "0.00000000"
    assert frames.trim(67445.9) == "67445.9" and frames.trim(0) == "0.0"


# ---- signing -----------------------------------------------------------------------------------


def signed(query: str, secret: str = "s3cret") -> str:
    return f"{query}&signature={auth.sign(query, secret)}"


def check(query: str = "", body: str = "", key: str | None = "k", now: int = NOW) -> dict[str, str]:
    return auth.check_signed(query=query, body=body, api_key=key, secret_for={"k": "s3cret"}.get, now_ms=now)


def test_signed_request_accepted_in_query_or_body() -> None:
    q = f"symbol=BTCUSDT&timestamp={NOW}&recvWindow=10000"
    assert check(query=signed(q))["symbol"] == "BTCUSDT"
    assert check(body=signed(q))["recvWindow"] == "10000"


@pytest.mark.parametrize(
    ("query", "key", "now", "code"),
    [
        (signed(f"symbol=BTCUSDT&timestamp={NOW}").replace("BTC", "ETH"), "k", NOW, -1022),
        (signed(f"timestamp={NOW}", secret="wrong"), "k", NOW, -1022),
        (signed(f"timestamp={NOW}"), "other", NOW, -2015),
        (signed(f"timestamp={NOW}"), None, NOW, -2014),
        (signed(f"timestamp={NOW - 6000}"), "k", NOW, -1021),
        (signed(f"timestamp={NOW + 1500}"), "k", NOW, -1021),
        (signed("symbol=BTCUSDT"), "k", NOW, -1102),
        (f"timestamp={NOW}", "k", NOW, -1102),
    ],
)
def test_bad_requests_get_binance_codes(query: str, key: str | None, now: int, code: int) -> None:
    with pytest.raises(BinanceError) as exc:
        check(query=query, key=key, now=now)
    assert exc.value.code == code
    assert exc.value.status == (401 if code in (-2014, -2015) else 400)


def test_recv_window_extends_the_accepted_age() -> None:
    check(query=signed(f"timestamp={NOW - 9000}&recvWindow=10000"))


def test_multi_assets_account_balance_and_update_shapes() -> None:
    """In Multi-Assets mode the bodies list a row per margin asset (in its own units) and the totals
    are USD sums; the daemon's parsers read them back to the ledger's pool."""
    ledger = build_ledger(small_book(), now_ms=NOW)
    ledger.account("main").legs.pop(("SOLUSDT", BOTH))  # Multi-Assets mode has no isolated legs
    ledger.set_multi_assets("main", True)
    ledger.set_asset_balance("main", "BTC", 0.25, now_ms=NOW)
    update = ledger.set_asset_balance("main", "USDC", 300.0, now_ms=NOW)
    acct = ledger.account("main")
    risk = ledger.risk(acct)
    v3 = frames.account_v3(risk, acct, ledger.specs)
    doc = fixture("rest.account.v3.multi-assets.documented.json")
    assert_same_shape(v3, doc)
    assert [row["asset"] for row in v3["assets"]] == ["USDT", "BTC", "USDC"]
    for row in v3["assets"]:
        assert_same_shape(row, doc["assets"][1])
    usd = 10_000 + 0.25 * ledger.marks["BTCUSDT"] + 300
    assert float(v3["totalCrossWalletBalance"]) == pytest.approx(usd)
    totals = parse_account_v3(v3, multi_assets=True)
    assert totals.cross_wallet_balance == 10_000
    assert totals.other_assets == (("BTC", 0.25), ("USDC", 300.0))
    assert frames.account_v2(risk, acct, ledger.specs)["multiAssetsMargin"] is True
    balances = frames.balance(risk, acct)
    assert [b["asset"] for b in balances] == ["USDT", "BTC", "USDC"]
    for b in balances:
        assert_same_shape(b, fixture("rest.balance.v3.documented.json")[0])
    index = parse_asset_index([frames.asset_index("BTC", 60_000.0, 0.05, NOW)])
    assert index["BTC"].price == 60_000.0 and index["BTC"].haircut == 0.05
    frame = frames.user_frame(update, ledger.specs)
    assert_same_shape(frame["a"]["B"][1], fixture("ws.ACCOUNT_UPDATE.documented.json")["a"]["B"][1])
    event = parse_user_event(frame, venue="binanceusdm", account="main", symbols={}, received_ms=NOW)
    assert isinstance(event, events.AccountUpdate)
    assert event.other_balances == (("USDC", 300.0),)
