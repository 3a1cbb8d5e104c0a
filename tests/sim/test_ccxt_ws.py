"""The real ccxt.pro (binanceusdm) streams against the simulator over WebSocket on 127.0.0.1."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.pro
import pytest

from monitor.sim.exchange import SimExchange

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
ALL_MARKS = "!markPrice@arr@1s"


async def within(awaitable: Any, seconds: float = 5.0) -> Any:
    async with asyncio.timeout(seconds):
        return await awaitable


async def test_watch_mark_prices_receives_published_ticks(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main")
    pending = asyncio.create_task(ex.watch_mark_prices())
    await within(sim.wait_market_subscribers(ALL_MARKS))
    sim.set_mark("ETHUSDT", 3_100)
    await sim.publish_marks()
    tickers = await within(pending)
    assert tickers[ETH]["markPrice"] == 3_100
    assert set(tickers) == {BTC, ETH, SOL}
    pending = asyncio.create_task(ex.watch_mark_prices())
    await asyncio.sleep(0)
    await sim.step()
    again = await within(pending)
    assert again[ETH]["timestamp"] >= tickers[ETH]["timestamp"]


async def test_watch_mark_price_for_one_symbol(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main")
    pending = asyncio.create_task(ex.watch_mark_price(SOL))
    await within(sim.wait_market_subscribers("solusdt@markPrice@1s"))
    sim.set_mark("SOLUSDT", 151.25)
    await sim.publish_marks()
    ticker = await within(pending)
    assert (ticker["symbol"], ticker["markPrice"]) == (SOL, 151.25)


async def test_running_clock_streams_marks_every_tick(make_sim: Any, make_ccxt: Any) -> None:
    sim = await make_sim("small", speed=50)
    ex = make_ccxt(sim, "main")
    stamps = []
    for _ in range(3):
        tickers = await within(ex.watch_mark_prices())
        stamps.append(tickers[BTC]["timestamp"])
    assert stamps == sorted(stamps) and len(set(stamps)) >= 2


async def test_fill_reaches_watch_positions_and_watch_balance(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main")
    snapshot = await within(ex.watch_positions())  # the first call resolves with a REST snapshot
    assert {p["symbol"] for p in snapshot} == {BTC, ETH, SOL}
    positions = asyncio.create_task(ex.watch_positions())
    balance = asyncio.create_task(ex.watch_balance())
    await within(sim.wait_user_connections("main"))
    await asyncio.sleep(0.05)
    await ex.create_order(BTC, "market", "sell", 0.2, None, {"reduceOnly": True})
    (btc,) = await within(positions)
    assert (btc["symbol"], btc["side"], btc["contracts"], btc["marginMode"]) == (BTC, "long", 0.3, "cross")
    assert btc["liquidationPrice"] is None  # ACCOUNT_UPDATE carries none, as on Binance
    usdt = (await within(balance))["USDT"]
    assert usdt["total"] == pytest.approx(sim.ledger.risk("main").wallet_balance)


async def test_liquidation_reaches_watch_orders(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main")
    orders = asyncio.create_task(ex.watch_orders())
    await within(sim.wait_user_connections("main"))
    await asyncio.sleep(0.05)
    sim.set_mark("SOLUSDT", 120.0)
    await sim.publish_marks()
    (order,) = await within(orders)
    assert order["clientOrderId"].startswith("autoclose-")
    assert (order["symbol"], order["side"], order["filled"], order["status"]) == (SOL, "sell", 100, "closed")
    assert [(r.account, r.symbol) for r in sim.liquidations] == [("main", "SOLUSDT")]


async def test_dropped_connection_fails_the_pending_watch_and_the_next_call_reconnects(
    sim: SimExchange, make_ccxt: Any
) -> None:
    ex = make_ccxt(sim, "main")
    first = asyncio.create_task(ex.watch_mark_prices())
    await within(sim.wait_market_subscribers(ALL_MARKS))
    await sim.publish_marks()
    await within(first)
    pending = asyncio.create_task(ex.watch_mark_prices())
    await asyncio.sleep(0.05)
    assert await sim.drop_connections() == 1
    with pytest.raises(ccxt.NetworkError):
        await within(pending)
    await within(sim.streams.wait_until(lambda: sim.streams.subscribers() == 0))
    again = asyncio.create_task(ex.watch_mark_prices())
    await within(sim.wait_market_subscribers(ALL_MARKS))
    sim.set_mark("BTCUSDT", 59_000)
    await sim.publish_marks()
    assert (await within(again))[BTC]["markPrice"] == 59_000


async def test_user_stream_drop_fails_watch_positions(sim: SimExchange, make_ccxt: Any) -> None:
    ex = make_ccxt(sim, "main")
    await within(ex.watch_positions())
    pending = asyncio.create_task(ex.watch_positions())
    await within(sim.wait_user_connections("main"))
    await asyncio.sleep(0.05)
    await sim.drop_connections(abrupt=True)
    with pytest.raises(ccxt.NetworkError):
        await within(pending)
