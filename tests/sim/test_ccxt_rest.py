"""The real ccxt (async_support.binanceusdm) against the simulator over HTTP on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import ccxt.async_support
import pytest

from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH, LONG

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"


async def test_load_markets_reads_exchange_info_only(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    markets = await ex.load_markets()
    assert set(markets) == {BTC, ETH, SOL}
    btc = markets[BTC]
    assert btc["linear"] and btc["swap"] and btc["settle"] == "USDT"
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.001, 0.1)
    assert btc["limits"]["cost"]["min"] == 100
    assert sim.rest.requests == [("GET", "/fapi/v1/exchangeInfo")]  # no sapi with fetchCurrencies off


async def test_fetch_positions_match_the_ledger(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    sim.set_mark("BTCUSDT", 58_000)
    positions = {p["symbol"]: p for p in await ex.fetch_positions()}
    acct = sim.ledger.account("main")
    assert set(positions) == {BTC, ETH, SOL}
    btc, eth, sol = positions[BTC], positions[ETH], positions[SOL]
    assert (btc["side"], btc["contracts"], btc["marginMode"], btc["entryPrice"]) == (
        "long",
        0.5,
        "cross",
        60_000,
    )
    assert btc["unrealizedPnl"] == pytest.approx(-1_000)
    assert btc["liquidationPrice"] == pytest.approx(
        sim.ledger.liquidation_price(acct, acct.legs["BTCUSDT", BOTH])
    )
    assert float(btc["info"]["maintMargin"]) == pytest.approx(
        sim.ledger.maint_margin(acct.legs["BTCUSDT", BOTH])
    )
    assert (eth["side"], eth["contracts"]) == ("short", 5.0)
    assert sol["marginMode"] == "isolated" and sol["collateral"] == pytest.approx(1_500)
    assert ("GET", "/fapi/v1/leverageBracket") in sim.rest.requests


async def test_fetch_balance(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    balance = await ex.fetch_balance()
    risk = sim.ledger.risk("main")
    assert balance["USDT"]["total"] == pytest.approx(risk.wallet_balance + risk.total_unrealized)
    assert balance["USDT"]["free"] == pytest.approx(risk.cross.available)


async def test_raw_implicit_endpoints_give_the_cross_ratio(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    sim.set_mark("ETHUSDT", 3_600)
    risk = await ex.fapiPrivateV3GetPositionRisk()
    account = await ex.fapiPrivateV3GetAccount()
    brackets = await ex.fapiPrivateGetLeverageBracket()
    cross_mm = sum(float(r["maintMargin"]) for r in risk if r["isolatedWallet"] == "0")
    equity = float(account["totalCrossWalletBalance"]) + float(account["totalCrossUnPnl"])
    assert cross_mm / equity == pytest.approx(sim.ledger.cross_pool("main").ratio, rel=1e-6)
    assert {b["symbol"] for b in brackets} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    assert isinstance(brackets[0]["brackets"][0]["maintMarginRatio"], float)


async def test_reduce_only_order_and_fetch_by_client_id(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    order = await ex.create_order(
        BTC, "market", "sell", 0.2, None, {"reduceOnly": True, "clientOrderId": "close-1"}
    )
    assert (order["status"], order["filled"], order["reduceOnly"], order["clientOrderId"]) == (
        "closed",
        0.2,
        True,
        "close-1",
    )
    assert order["average"] == pytest.approx(60_000)
    assert sim.ledger.account("main").legs["BTCUSDT", BOTH].amount == pytest.approx(0.3)
    fetched = await ex.fetch_order(None, BTC, {"clientOrderId": "close-1"})
    assert (fetched["id"], fetched["status"], fetched["filled"]) == (order["id"], "closed", 0.2)


async def test_orders_that_are_not_reduce_only_are_rejected(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await ex.create_order(BTC, "market", "buy", 0.1)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await ex.create_order(BTC, "market", "sell", 0.1)  # would reduce, but is not flagged
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await ex.create_order(BTC, "market", "buy", 0.1, None, {"reduceOnly": True})  # would increase
    assert sim.ledger.account("main").legs["BTCUSDT", BOTH].amount == 0.5


async def test_hedge_mode_orders(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "hedge", rest_only=True)
    assert (await ex.fetch_position_mode())["hedged"] is True
    order = await ex.create_order(BTC, "market", "sell", 0.05, None, {"reduceOnly": True, "hedged": True})
    assert order["info"]["positionSide"] == "LONG" and order["status"] == "closed"
    assert sim.ledger.account("hedge").legs["BTCUSDT", LONG].amount == pytest.approx(0.15)
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):
        await ex.create_order(BTC, "market", "buy", 0.05, None, {"hedged": True})  # adds to LONG
    with pytest.raises(ccxt.BadRequest, match="-1106"):
        await ex.create_order(BTC, "market", "sell", 0.05, None, {"reduceOnly": True, "positionSide": "LONG"})


async def test_add_and_reduce_isolated_margin(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    leg = sim.ledger.account("main").legs["SOLUSDT", BOTH]
    added = await ex.add_margin(SOL, 25)
    assert (added["type"], added["amount"], added["status"]) == ("add", 25, "ok")
    assert leg.isolated_wallet == pytest.approx(1_525)
    await ex.reduce_margin(SOL, 5)
    assert leg.isolated_wallet == pytest.approx(1_520)
    with pytest.raises(ccxt.BadRequest, match="-4049"):
        await ex.add_margin(BTC, 10)


async def test_error_classes_need_point_at(sim: SimExchange, make_ccxt: Any) -> None:
    patched = make_ccxt(sim, "trader", rest_only=True)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        await patched.create_order(BTC, "market", "buy", 8.0)  # 480k at 20x on a 20k wallet
    plain = ccxt.async_support.binanceusdm(sim.ccxt_config("trader"))
    try:
        with pytest.raises(ccxt.ExchangeError) as exc:
            await plain.create_order(BTC, "market", "buy", 8.0)
        assert not isinstance(exc.value, ccxt.InsufficientFunds)  # ccxt's URL-keyed table missed
    finally:
        await plain.close()


async def test_trader_account_can_open(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "trader", rest_only=True)
    await ex.create_order(ETH, "market", "buy", 1.5)
    (pos,) = await ex.fetch_positions([ETH])
    assert (pos["side"], pos["contracts"], pos["entryPrice"]) == ("long", 1.5, 3_000)


async def test_bad_credentials_raise_authentication_error(sim: SimExchange, make_ccxt: Any) -> None:
    wrong_secret = make_ccxt(sim, "main", rest_only=True)
    wrong_secret.secret = "0" * 64
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        await wrong_secret.fetch_balance()
    wrong_key = make_ccxt(sim, "main", rest_only=True)
    wrong_key.apiKey = "f" * 64
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        await wrong_key.fetch_balance()


async def test_stale_timestamp_is_refused(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    sim.now_ms = lambda: ex.milliseconds() + 60_000  # the server clock runs a minute ahead
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        await ex.fetch_balance()


async def test_force_orders_list_liquidations_in_binances_shape_and_filters(
    sim: SimExchange, make_ccxt: Any
) -> None:
    ex = make_ccxt(sim, "main", rest_only=True)
    assert await ex.fapiPrivateGetForceOrders() == []
    sim.set_mark("SOLUSDT", 100.0)  # the isolated SOL long is liquidated
    await sim.publish_marks()
    rows = await ex.fapiPrivateGetForceOrders({"symbol": "SOLUSDT"})
    assert [(r["symbol"], r["side"], r["positionSide"], r["status"]) for r in rows] == [
        ("SOLUSDT", "SELL", "BOTH", "FILLED")
    ]
    assert rows[0]["clientOrderId"].startswith("autoclose-") and rows[0]["executedQty"] == "100"
    when = rows[0]["time"]
    assert await ex.fapiPrivateGetForceOrders({"symbol": "BTCUSDT"}) == []
    assert await ex.fapiPrivateGetForceOrders({"startTime": when + 1}) == []
    assert await ex.fapiPrivateGetForceOrders({"endTime": when - 1}) == []
    assert await ex.fapiPrivateGetForceOrders({"autoCloseType": "ADL"}) == []
    assert len(await ex.fapiPrivateGetForceOrders({"autoCloseType": "LIQUIDATION", "limit": 1})) == 1
    with pytest.raises(ccxt.BadRequest):
        await ex.fapiPrivateGetForceOrders({"limit": 101})
