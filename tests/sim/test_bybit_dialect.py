"""The Bybit dialect against the real ccxt / ccxt.pro ``bybit`` client over loopback: the routes and
bodies ccxt reads, its signing, its error codes raised as ccxt's classes, and the WebSocket ops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt.pro
import pytest
from ccxt.base import errors as ccxt_errors

from monitor.sim.dialects.bybit import Bybit
from monitor.sim.dialects.bybit.errors import from_rejection
from monitor.sim.dialects.bybit.ws import auth_signature
from monitor.sim.exchange import SimExchange
from monitor.sim.rejections import Reason, Rejected


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bybit()) as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for c in made:
        await c.close()


def client(sim: SimExchange, made: list[Any], account: str = "main", **over: Any) -> Any:
    ex = ccxt.pro.bybit({**sim.ccxt_config(account), "enableRateLimit": False, **over})
    made.append(ex)
    return ex


async def test_markets_load_from_the_linear_instruments(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients)
    markets = await ex.load_markets()
    btc = markets["BTC/USDT:USDT"]
    assert btc["linear"] and btc["swap"] and btc["settle"] == "USDT"
    assert btc["precision"]["amount"] == 0.001 and btc["limits"]["amount"]["min"] == 0.001


async def test_positions_and_balance_come_from_the_ledger(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    positions = {p["symbol"]: p for p in await ex.fetch_positions(None, {"settleCoin": "USDT"})}
    assert set(positions) == {"BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"}
    btc = positions["BTC/USDT:USDT"]
    assert btc["side"] == "long" and btc["contracts"] == 0.5 and btc["entryPrice"] == 60_000
    assert positions["ETH/USDT:USDT"]["side"] == "short"
    raw = btc["info"]
    assert raw["positionIdx"] == 0 and raw["tradeMode"] == 0
    assert positions["SOL/USDT:USDT"]["info"]["tradeMode"] == 1
    balance = await ex.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(
        sim.ledger.account("main").wallets["USDT"] + 1_500, rel=1e-9
    )
    wallet = balance["info"]["result"]["list"][0]
    pool = sim.ledger.cross_pool("main")
    assert float(wallet["accountMMRate"]) == pytest.approx(pool.maint_margin / pool.equity, abs=1e-4)


async def test_hedge_legs_carry_their_position_idx(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients, "hedge")
    await ex.load_markets()
    rows = (await ex.private_get_v5_position_list({"category": "linear", "settleCoin": "USDT"}))["result"][
        "list"
    ]
    assert sorted((r["positionIdx"], r["side"], r["size"]) for r in rows) == [
        (1, "Buy", "0.200"),
        (2, "Sell", "0.100"),
    ]


async def test_reduce_only_market_order_fills_and_is_found_by_link_id(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    order = await ex.create_order(
        "BTC/USDT:USDT", "market", "sell", 0.002, None, {"reduceOnly": True, "clientOrderId": "derisk-1"}
    )
    assert order["id"]
    assert sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount == pytest.approx(0.498)
    rows = (await ex.private_get_v5_order_realtime({"category": "linear", "orderLinkId": "derisk-1"}))[
        "result"
    ]["list"]
    assert [(r["orderId"], r["orderStatus"], r["reduceOnly"]) for r in rows] == [
        (order["id"], "Filled", True)
    ]


async def test_a_reduce_only_order_that_would_open_is_refused_with_110017(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    with pytest.raises(ccxt_errors.InvalidOrder, match="110017"):
        await ex.create_order("BTC/USDT:USDT", "market", "buy", 0.002, None, {"reduceOnly": True})


async def test_add_margin_moves_the_isolated_wallet(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    reply = await ex.private_post_v5_position_add_margin(
        {"category": "linear", "symbol": "SOLUSDT", "margin": "12.5", "positionIdx": 0}
    )
    assert reply["retCode"] == 0 and reply["result"]["symbol"] == "SOLUSDT"
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(before + 12.5)
    with pytest.raises(ccxt_errors.BadRequest, match="110043"):
        await ex.private_post_v5_position_add_margin(
            {"category": "linear", "symbol": "BTCUSDT", "margin": "1", "positionIdx": 0}
        )


async def test_a_wrong_secret_is_an_authentication_error(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients, secret="not-the-secret")
    with pytest.raises(ccxt_errors.AuthenticationError, match="10004"):
        await ex.fetch_positions(None, {"settleCoin": "USDT"})
    stranger = client(sim, clients, apiKey="unknown-key")
    with pytest.raises(ccxt_errors.AuthenticationError, match="10003"):
        await stranger.fetch_balance()


async def test_an_old_timestamp_is_refused_with_10002(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    sim.now_ms = lambda: ex.milliseconds() + 60_000  # the exchange's clock a minute ahead
    with pytest.raises(ccxt_errors.InvalidNonce, match="10002"):
        await ex.fetch_balance()


@pytest.mark.parametrize("reason", list(Reason))
def test_every_refusal_has_a_bybit_reply(reason: Reason) -> None:
    reply = from_rejection(Rejected(reason, "amount", limit=5.0))
    assert reply.code > 0 and reply.msg and reply.status == 200


async def test_ticker_snapshot_then_mark_deltas(sim: SimExchange, clients: list[Any]) -> None:
    ex = client(sim, clients)
    await ex.load_markets()
    first = await ex.watch_ticker("BTC/USDT:USDT")
    assert first["markPrice"] == pytest.approx(sim.ledger.marks["BTCUSDT"])
    sim.set_mark("BTCUSDT", 61_234.5)
    await sim.publish_marks()
    second = await ex.watch_ticker("BTC/USDT:USDT")
    assert second["markPrice"] == pytest.approx(61_234.5)
    assert second["last"] == first["last"]  # a delta without lastPrice keeps the snapshot's


async def test_private_socket_auth_ping_and_position_topic(sim: SimExchange) -> None:
    acct = sim.ledger.account("main")
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/v5/private") as ws:
        await ws.send_json({"op": "auth", "args": [acct.api_key, 1, "bad"]})
        assert (await ws.receive_json())["success"] is False
        expires = sim.now_ms() + 10_000
        await ws.send_json(
            {"op": "auth", "args": [acct.api_key, expires, auth_signature(str(expires), acct.secret)]}
        )
        assert (await ws.receive_json())["success"] is True
        await ws.send_json({"op": "ping", "req_id": "p1"})
        assert (await ws.receive_json())["op"] == "pong"
        await sim.streams.wait_until(lambda: sim.streams.user_connections("main") == 1)
        events = sim.ledger.modify_isolated_margin("main", "SOLUSDT", 10.0, add=True, now_ms=sim.now_ms())
        await sim.emit(events)
        topics = [json.loads((await asyncio.wait_for(ws.receive(), 5)).data)["topic"] for _ in range(2)]
        assert topics == ["position", "wallet"]
