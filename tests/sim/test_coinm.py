"""The Binance COIN-M dialect through the real ccxt.pro binancecoinm client: markets, positions,
balances per coin, orders, errors, the dstream mark and user streams; and its bodies against the
recorded COIN-M payloads."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ccxt.pro
import pytest

from monitor.sim.book import build_ledger, coinm_small_book
from monitor.sim.dialects import coinm_wire
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH
from monitor.venues.binance.urls import point_at

FIXTURES = Path(__file__).parent / "fixtures"
BTC = "BTC/USD:BTC"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def kinds(body: dict[str, Any]) -> dict[str, str]:
    return {
        k: "bool" if isinstance(v, bool) else "number" if isinstance(v, int | float) else type(v).__name__
        for k, v in body.items()
    }


@pytest.fixture
async def coinm() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect="binancecoinm") as sim:
        yield sim


@pytest.fixture
async def client(coinm: SimExchange) -> AsyncIterator[Any]:
    ex = ccxt.pro.binancecoinm({**coinm.ccxt_config("trader"), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    point_at(ex, coinm.http_url, coinm.ws_url)
    yield ex
    await ex.close()


def test_position_risk_has_the_recorded_fields_and_types() -> None:
    ledger = build_ledger(coinm_small_book())
    (row,) = coinm_wire.position_risk([ledger.leg_risk("main", "BTCUSD_PERP", BOTH)], ledger.specs)
    recorded = fixture("coinm.rest.positionRisk.observed.json")[0]
    assert set(row) == set(recorded)
    # the recorded updateTime is a string, an artifact of the capture (the docs send a number)
    assert {**kinds(row), "updateTime": "str"} == kinds(recorded)
    assert row["notionalValue"] == "0.50000000"  # 300 contracts x 100 USD at 60,000: 0.5 BTC


def test_leverage_brackets_are_in_coin_with_the_recorded_fields() -> None:
    ledger = build_ledger(coinm_small_book())
    ours = coinm_wire.leverage_bracket(ledger.specs["BTCUSD_PERP"])
    recorded = fixture("coinm.rest.leverageBracket-v2.observed.json")[0]
    assert set(ours["brackets"][0]) == set(recorded["brackets"][0])
    tiers = ledger.specs["BTCUSD_PERP"].tiers
    assert [(b["qtyFloor"], b["qtyCap"]) for b in ours["brackets"]] == [(t.floor, t.cap) for t in tiers]


async def test_markets_positions_and_balances_per_coin(coinm: SimExchange, client: Any) -> None:
    markets = await client.load_markets()
    assert set(markets) == {BTC, "ETH/USD:ETH"}
    assert markets[BTC]["inverse"] and markets[BTC]["contractSize"] == 100
    (position,) = await client.fetch_positions()
    assert (position["symbol"], position["contracts"], position["side"]) == (BTC, 1, "long")
    balance = await client.fetch_balance()
    assert (balance["BTC"]["total"], balance["ETH"]["total"]) == (1.0, 10.0)
    assert coinm.rest.requests[0] == ("GET", "/dapi/v1/exchangeInfo")


async def test_an_order_fills_in_contracts_and_is_settled_in_coin(coinm: SimExchange, client: Any) -> None:
    await client.load_markets()
    order = await client.create_order(BTC, "market", "buy", 10, None, {"newOrderRespType": "RESULT"})
    assert (order["status"], order["filled"], order["average"]) == ("closed", 10, 60_000)
    assert order["cost"] == pytest.approx(10 * 100 / 60_000, rel=1e-6)  # cumBase, in BTC
    again = await client.fetch_order(None, BTC, {"origClientOrderId": order["clientOrderId"]})
    assert again["status"] == "closed"
    assert coinm.ledger.account("trader").wallets["BTC"] == pytest.approx(1.0 - 1_000 / 60_000 * 0.0005)


async def test_refusals_carry_binance_codes(client: Any) -> None:
    import ccxt

    await client.load_markets()
    with pytest.raises(ccxt.BadRequest, match="-4005"):
        await client.create_order(BTC, "market", "buy", 10**6, None)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):
        await client.create_order(BTC, "market", "buy", 50_000, None)


async def test_marks_and_user_events_arrive_on_dstream(coinm: SimExchange, client: Any) -> None:
    await client.load_markets()
    marks = asyncio.ensure_future(client.watch_mark_prices())
    await asyncio.wait_for(coinm.wait_market_subscribers(), 5)
    coinm.set_mark("BTCUSD_PERP", 61_000.0)
    await coinm.publish_marks()
    assert (await asyncio.wait_for(marks, 5))[BTC]["markPrice"] == 61_000
    balance = asyncio.ensure_future(client.watch_balance())
    await asyncio.wait_for(coinm.wait_user_connections("trader"), 5)
    await client.create_order(BTC, "market", "sell", 1, None, {"reduceOnly": True})
    # the long of one contract closed at 61,000: its PnL (100/60,000 - 100/61,000 BTC) less the fee
    expected = 1.0 + 100 / 60_000 - 100 / 61_000 - 100 / 61_000 * 0.0005
    assert (await asyncio.wait_for(balance, 5))["BTC"]["total"] == pytest.approx(expected, abs=1e-8)
    (_, frame), *_ = [f for f in coinm.user_frames if f[1]["e"] == "ACCOUNT_UPDATE"]
    assert frame["a"]["B"][0]["a"] == "BTC"


async def test_an_unknown_listen_key_is_refused_naming_the_dapi_endpoint(client: Any) -> None:
    import ccxt

    with pytest.raises(ccxt.ExchangeError, match=r"-1125.*POST /dapi/v1/listenKey"):
        await client.dapiPrivatePutListenKey()
