"""The BloFin dialect under the real ccxt / ccxt.pro ``blofin`` client, over loopback.

What the daemon relies on: the instruments (sizes in contracts), the all-symbol mark-price reply,
positions and the balance, the derived ratio and liquidation price, net-mode reduce-only and
long/short closes with BloFin's codes, the brokerId refusal, the signature with a nonce that may not
repeat, the WebSocket login and the private pushes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.blofin import Blofin
from monitor.sim.exchange import SimExchange

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"
NO_BROKER = {"brokerId": None}  # every simulated key is a plain transaction key


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Blofin()) as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(sim: SimExchange, account: str, clients: list[Any]) -> Any:
    """ccxt's blofin as it is, but for its clock: ccxt signs with the millisecond as the nonce, and
    two requests of one key in the same millisecond would be refused (see the nonce test)."""
    ex = ccxt.pro.blofin({**sim.ccxt_config(account), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    last = [0]

    def strictly_increasing_ms() -> int:
        last[0] = max(last[0] + 1, sim.now_ms())
        return last[0]

    ex.milliseconds = strictly_increasing_ms
    clients.append(ex)
    return ex


def rows(positions: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {
        (p["info"]["instId"], p["info"]["positionSide"]): float(p["info"]["positions"]) for p in positions
    }


async def test_instruments_positions_and_balance_in_contracts(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    markets = await ex.load_markets()
    assert markets[BTC]["contractSize"] == 0.001
    positions = await ex.fetch_positions()
    # the ledger's 0.5 BTC is 500 contracts of 0.001 (SOL: 1 a contract); a short is signed in net mode
    assert rows(positions) == {
        ("BTC-USDT", "net"): 500.0,
        ("ETH-USDT", "net"): -5000.0,
        ("SOL-USDT", "net"): 100.0,
    }
    sol = next(p for p in positions if p["symbol"] == SOL)["info"]
    assert sol["marginMode"] == "isolated" and "initialMargin" not in sol
    leg = next(leg for leg in sim.ledger.risk("main").legs if leg.symbol == "SOLUSDT")
    # BloFin's direction: equity over the requirement (MM plus the fee to close)
    assert float(sol["marginRatio"]) == pytest.approx(
        (leg.isolated_wallet + leg.unrealized) / leg.maint_margin
    )
    assert float(sol["maintenanceMargin"]) == pytest.approx(leg.maint_margin - 0.0006 * abs(leg.notional))
    assert float(sol["liquidationPrice"]) == pytest.approx(leg.liquidation_price, rel=1e-9)
    btc = next(p for p in positions if p["symbol"] == BTC)["info"]
    assert "margin" not in btc and float(btc["initialMargin"]) > 0
    balance = await ex.fetch_balance()
    risk = sim.ledger.risk("main")
    assert balance["USDT"]["total"] == pytest.approx(risk.wallet_balance + risk.total_unrealized)


async def test_every_mark_in_one_call_as_last_published(sim: SimExchange, clients: list[Any]) -> None:
    """The mark-price route serves what a stream would have pushed: the marks of the last
    publication, stamped with its time; a stalled feed publishes nothing new."""
    ex = client_for(sim, "main", clients)
    sim.set_mark("BTCUSDT", 61_234.5)
    before = await ex.publicGetMarketMarkPrice({"instId": "BTC-USDT"})
    assert float(before["data"][0]["markPrice"]) != 61_234.5  # set, not yet published
    await sim.publish_marks()
    body = await ex.publicGetMarketMarkPrice()
    marks = {r["instId"]: (float(r["markPrice"]), int(r["ts"])) for r in body["data"]}
    assert set(marks) == {"BTC-USDT", "ETH-USDT", "SOL-USDT"}
    price, stamp = marks["BTC-USDT"]
    assert price == 61_234.5 and stamp >= sim.marks_ms
    sim.faults.stall_marks(60)
    sim.set_mark("BTCUSDT", 50_000.0)
    await sim.publish_marks()
    stalled = await ex.publicGetMarketMarkPrice({"instId": "BTC-USDT"})
    assert (float(stalled["data"][0]["markPrice"]), int(stalled["data"][0]["ts"])) == (61_234.5, stamp)


async def test_reduce_only_in_net_mode_and_closes_in_long_short_mode(
    sim: SimExchange, clients: list[Any]
) -> None:
    main = client_for(sim, "main", clients)
    await main.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="102022"):  # would open a long: refused inside data[0]
        await main.create_order(BTC, "market", "buy", 1, None, {**NO_BROKER, "reduceOnly": True})
    await main.create_order(
        BTC, "market", "sell", 100, None, {**NO_BROKER, "reduceOnly": True, "clientOrderId": "c1"}
    )
    assert sim.ledger.account("main").leg("BTCUSDT", "BOTH").amount == pytest.approx(0.4)
    detail = await main.privateGetTradeOrderDetail({"instId": "BTC-USDT", "clientOrderId": "c1"})
    assert detail["data"]["reduceOnly"] == "true" and detail["data"]["filledSize"] == "100"
    hedge = client_for(sim, "hedge", clients)
    await hedge.load_markets()
    with pytest.raises(ccxt.BadRequest, match="102089"):  # "net" on a long/short account
        await hedge.create_order(BTC, "market", "sell", 50, None, NO_BROKER)
    await hedge.create_order(BTC, "market", "sell", 50, None, {**NO_BROKER, "positionSide": "long"})
    assert sim.ledger.account("hedge").leg("BTCUSDT", "LONG").amount == pytest.approx(0.15)


async def test_a_plain_key_refuses_ccxts_broker_id(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    with pytest.raises(ccxt.PermissionDenied, match="152011"):
        await ex.create_order(BTC, "market", "sell", 1, None, {"reduceOnly": True})
    sim.rest.broker_keys[sim.ledger.account("main").api_key] = "monitor-broker"
    with pytest.raises(ccxt.PermissionDenied, match="152013"):
        await ex.create_order(BTC, "market", "sell", 1, None, {"reduceOnly": True})
    await ex.create_order(BTC, "market", "sell", 1, None, {"reduceOnly": True, "brokerId": "monitor-broker"})


async def test_a_nonce_may_not_repeat_within_a_minute(sim: SimExchange, clients: list[Any]) -> None:
    """ccxt uses the millisecond timestamp as the nonce: two requests of one key in the same
    millisecond are refused the second time."""
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    frozen = sim.now_ms()
    ex.milliseconds = lambda: frozen  # every request in one millisecond
    await ex.privateGetAccountPositionMode()
    with pytest.raises(ccxt.InvalidNonce, match="152407"):
        await ex.privateGetAccountPositionMode()


async def test_login_and_private_pushes(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    frames: list[Any] = []
    arrived = asyncio.Event()
    handle = ex.handle_message

    def tap(client: Any, message: Any) -> Any:
        frames.append(message)
        arrived.set()
        return handle(client, message)

    ex.handle_message = tap
    watch = asyncio.ensure_future(ex.watch_balance())
    balance = await asyncio.wait_for(watch, 5)
    assert balance["USDT"]["total"] > 0
    positions = asyncio.ensure_future(ex.watch_positions([BTC]))
    await asyncio.wait_for(sim.wait_user_connections("main"), 5)
    first = await asyncio.wait_for(positions, 5)
    assert first
    orders = asyncio.ensure_future(ex.watch_orders())
    seen = len(frames)
    closer = client_for(sim, "main", clients)
    await closer.load_markets()
    await closer.create_order(BTC, "market", "sell", 500, None, {**NO_BROKER, "reduceOnly": True})

    def pushed(channel: str) -> list[Any]:
        return [
            f
            for f in frames[seen:]
            if isinstance(f, dict) and "data" in f and f.get("arg", {}).get("channel") == channel
        ]

    async def wait_for(channel: str) -> None:
        while not pushed(channel):
            arrived.clear()
            await arrived.wait()

    await asyncio.wait_for(wait_for("positions"), 5)
    # the closed leg is pushed once as "0", beside the open ones
    gone = [r for f in pushed("positions") for r in f["data"] if r["instId"] == "BTC-USDT"]
    assert [r["positions"] for r in gone] == ["0"]
    await asyncio.wait_for(wait_for("orders"), 5)
    assert pushed("orders")[0]["data"][0]["reduceOnly"] == "true"
    await asyncio.wait_for(wait_for("account"), 5)
    assert isinstance(pushed("account")[0]["data"], dict)
    assert (await asyncio.wait_for(orders, 5))[0]["reduceOnly"] is True


async def test_a_bad_login_is_60009(sim: SimExchange, clients: list[Any]) -> None:
    """ccxt raises BloFin's error frame from its socket loop instead of failing the pending call,
    so the call only times out: the adapter must not wait on it unbounded."""
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    ex.secret = "not-the-secret"
    frames: list[Any] = []
    handle = ex.handle_message

    def tap(client: Any, message: Any) -> Any:
        frames.append(message)
        return handle(client, message)

    ex.handle_message = tap
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(ex.watch_balance(), 1)
    assert {"event": "error", "code": "60009", "msg": "Login failed."} in frames
    assert sim.streams.user_connections("main") == 0


async def test_a_silent_connection_is_closed_and_a_ping_gets_a_text_pong(sim: SimExchange) -> None:
    """BloFin drops a connection its client leaves silent for 30 s (here shortened); ``ping`` is
    answered with the text ``pong``, not JSON."""
    import aiohttp

    sim.rest.idle_s = 0.2
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{sim.ws_url}/ws/public") as ws:
        await ws.send_str("ping")
        reply = await asyncio.wait_for(ws.receive(), 5)
        assert (reply.type, reply.data) == (aiohttp.WSMsgType.TEXT, "pong")
        closing = await asyncio.wait_for(ws.receive(), 5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4000
