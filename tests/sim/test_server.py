"""The simulator over real HTTP and WebSocket on 127.0.0.1, with a plain aiohttp client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from monitor.sim import auth
from monitor.sim.exchange import SimExchange
from monitor.sim.scenarios import Malformed, hostile_frames

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def signed_request(
    http: aiohttp.ClientSession,
    sim: SimExchange,
    method: str,
    path: str,
    account: str = "main",
    **params: Any,
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    keys = sim.accounts[account]
    query = urlencode({**params, "timestamp": int(time.time() * 1000)})
    query += "&signature=" + auth.sign(query, keys.secret)
    async with http.request(
        method, f"{sim.http_url}{path}?{query}", headers={"X-MBX-APIKEY": keys.api_key}
    ) as resp:
        return resp.status, await resp.json(), resp.headers


async def next_json(ws: aiohttp.ClientWebSocketResponse, wait: float = 2.0) -> Any:
    msg = await ws.receive(timeout=wait)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def subscribe(ws: aiohttp.ClientWebSocketResponse, *streams: str, rid: int = 1) -> None:
    await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": list(streams), "id": rid}))
    assert await next_json(ws) == {"result": None, "id": rid}


async def test_public_endpoints_and_error_shapes(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{sim.http_url}/fapi/v1/time") as resp:
        assert abs((await resp.json())["serverTime"] - time.time() * 1000) < 5_000
    async with http.get(f"{sim.http_url}/fapi/v1/premiumIndex?symbol=ETHUSDT") as resp:
        assert (await resp.json())["markPrice"] == "3000.00000000"
    async with http.get(f"{sim.http_url}/fapi/v1/premiumIndex?symbol=NOPE") as resp:
        assert (resp.status, await resp.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})
    async with http.get(f"{sim.http_url}/fapi/v1/nothingHere") as resp:
        assert resp.status == 404 and (await resp.json())["code"] == -5000
    async with http.get(f"{sim.http_url}/fapi/v3/account?timestamp=1&signature=00") as resp:
        assert (resp.status, (await resp.json())["code"]) == (401, -2014)


async def test_signed_endpoints(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/leverageBracket", symbol="BTCUSDT")
    assert status == 200 and body["symbol"] == "BTCUSDT" and body["brackets"][0]["maintMarginRatio"] == 0.004
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/leverageBracket")
    assert [b["symbol"] for b in body] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v2/positionRisk", symbol="BTCUSDT")
    assert [(r["positionSide"], r["positionAmt"], r["leverage"]) for r in body] == [("BOTH", "0.500", "10")]
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/positionSide/dual", account="hedge")
    assert body == {"dualSidePosition": True}
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/multiAssetsMargin")
    assert body == {"multiAssetsMargin": False}
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/symbolConfig", symbol="SOLUSDT")
    assert body == [
        {
            "symbol": "SOLUSDT",
            "marginType": "ISOLATED",
            "isAutoAddMargin": False,
            "leverage": 10,
            "maxNotionalValue": "1000000",
        }
    ]
    status, body, _ = await signed_request(
        http, sim, "POST", "/fapi/v1/marginType", symbol="BTCUSDT", marginType="CROSSED"
    )
    assert (status, body["code"]) == (400, -4046)


async def test_order_ack_then_query_by_client_id(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    status, body, _ = await signed_request(
        http,
        sim,
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.100",
        reduceOnly="true",
        newClientOrderId="my-close-1",
    )
    assert status == 200 and (body["status"], body["executedQty"]) == ("NEW", "0.000")  # ACK by default
    status, body, _ = await signed_request(
        http, sim, "GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="my-close-1"
    )
    assert (body["status"], body["executedQty"], body["reduceOnly"]) == ("FILLED", "0.100", True)
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v1/order", symbol="BTCUSDT", orderId="1")
    assert (status, body["code"]) == (400, -2013)
    status, body, _ = await signed_request(
        http,
        sim,
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="SELL",
        type="LIMIT",
        quantity="0.1",
        price="70000",
        timeInForce="GTC",
    )
    assert body["code"] == -1116
    status, body, _ = await signed_request(
        http,
        sim,
        "POST",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        side="SELL",
        type="MARKET",
        quantity="0.1234",
        reduceOnly="true",
    )
    assert body["code"] == -1111


async def test_rest_faults(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    sim.faults.fail_rest(times=1, status=429, code=-1003, msg="Too many requests.", retry_after=3)
    status, body, headers = await signed_request(http, sim, "GET", "/fapi/v3/balance")
    assert (status, body["code"], headers["Retry-After"]) == (429, -1003, "3")
    status, body, _ = await signed_request(http, sim, "GET", "/fapi/v3/balance")
    assert status == 200 and body[0]["asset"] == "USDT"


async def test_mark_streams_and_routes(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    async with (
        http.ws_connect(f"{sim.ws_url}/market/ws/3") as arr,
        http.ws_connect(f"{sim.ws_url}/market/ws/btcusdt@markPrice@1s") as single,
        http.ws_connect(f"{sim.ws_url}/market/stream?streams=ethusdt@markPrice") as combined,
        http.ws_connect(f"{sim.ws_url}/ws") as legacy,
    ):
        await subscribe(arr, "!markPrice@arr@1s", rid=7)
        await subscribe(legacy, "!markPrice@arr@1s")
        sim.set_mark("BTCUSDT", 61_234.5)
        await sim.publish_marks()
        frame = await next_json(arr)
        assert [u["s"] for u in frame] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
        assert frame[0]["e"] == "markPriceUpdate" and frame[0]["p"] == "61234.50000000"
        assert isinstance(frame[0]["E"], int) and isinstance(frame[0]["T"], int)
        assert (await next_json(single))["s"] == "BTCUSDT"
        wrapped = await next_json(combined)
        assert wrapped["stream"] == "ethusdt@markprice" and wrapped["data"]["s"] == "ETHUSDT"
        with pytest.raises(TimeoutError):
            await legacy.receive(timeout=0.2)  # old-style route: subscribed, never delivered
        await arr.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 9}))
        assert await next_json(arr) == {"result": ["!markprice@arr@1s"], "id": 9}


async def test_marks_carry_the_time_they_were_valued_on_the_stream_and_over_rest(
    sim: SimExchange, http: aiohttp.ClientSession
) -> None:
    """A mark is as old as its value: premiumIndex ``time`` is the tick's that valued it, the ``E`` the
    stream sent it with, however much later it is asked for. positionRisk ``updateTime`` is the
    position's last change, as on Binance, and no mark time at all."""
    clock = [int(time.time() * 1000)]
    sim.now_ms = lambda: clock[0]
    async with http.ws_connect(f"{sim.ws_url}/market/ws/0") as ws:
        await subscribe(ws, "!markPrice@arr@1s")
        await sim.step(1)
        frame = await next_json(ws)
    valued = clock[0]
    assert {u["E"] for u in frame} == {valued}
    clock[0] += 2_000  # asked two seconds later, before the next tick
    async with http.get(f"{sim.http_url}/fapi/v1/premiumIndex") as resp:
        rows = await resp.json()
    assert [(r["symbol"], r["markPrice"], r["time"]) for r in rows] == [
        (u["s"], u["p"], valued) for u in frame
    ]
    _, legs, _ = await signed_request(http, sim, "GET", "/fapi/v3/positionRisk")
    assert legs and all(leg["updateTime"] < valued for leg in legs)  # opened when the book was built


async def test_three_second_streams_follow_sim_time(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{sim.ws_url}/market/ws/0") as ws:
        await subscribe(ws, "!markPrice@arr", "btcusdt@markPrice@1s")
        await sim.step(3)
        kinds = []
        while True:
            try:
                frame = await next_json(ws, wait=0.2)
            except TimeoutError:
                break
            kinds.append("arr" if isinstance(frame, list) else "one")
        assert kinds.count("one") == 3 and kinds.count("arr") == 1


async def test_stalled_feed_is_silent_while_the_exchange_keeps_liquidating(
    sim: SimExchange, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{sim.ws_url}/market/ws/0") as ws:
        await subscribe(ws, "!markPrice@arr@1s")
        sim.faults.stall_marks(5)
        sim.set_mark("SOLUSDT", 100.0)  # far below main's isolated SOL liquidation price
        await sim.publish_marks()
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.2)
        assert [(r.account, r.symbol) for r in sim.liquidations] == [("main", "SOLUSDT")]
        await sim.step(5)
        frame = await next_json(ws)  # the feed resumes at the price the market moved on to
        assert float(next(u for u in frame if u["s"] == "SOLUSDT")["p"]) == pytest.approx(100.0, rel=0.03)


async def test_user_stream_and_listen_key_expiry(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    key_headers = {"X-MBX-APIKEY": sim.accounts["main"].api_key}
    async with http.post(f"{sim.http_url}/fapi/v1/listenKey", headers=key_headers) as resp:
        key = (await resp.json())["listenKey"]
    async with http.post(f"{sim.http_url}/fapi/v1/listenKey", headers=key_headers) as resp:
        assert (await resp.json())["listenKey"] == key  # the active key is returned and extended
    async with http.ws_connect(f"{sim.ws_url}/private/ws?listenKey={key}") as ws:
        await sim.wait_user_connections("main")
        await signed_request(
            http, sim, "POST", "/fapi/v1/positionMargin", symbol="SOLUSDT", amount="10", type="1"
        )
        update = await next_json(ws)
        assert update["e"] == "ACCOUNT_UPDATE" and update["a"]["m"] == "MARGIN_TRANSFER"
        assert await sim.expire_listen_key("main") == key
        expired = await next_json(ws)
        assert expired == {"e": "listenKeyExpired", "E": expired["E"], "listenKey": key}
        await signed_request(
            http, sim, "POST", "/fapi/v1/positionMargin", symbol="SOLUSDT", amount="10", type="1"
        )
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.2)  # the socket stays open and goes silent
        assert not ws.closed
    async with http.put(f"{sim.http_url}/fapi/v1/listenKey", headers=key_headers) as resp:
        assert (resp.status, (await resp.json())["code"]) == (400, -1125)
    async with http.post(f"{sim.http_url}/fapi/v1/listenKey", headers=key_headers) as resp:
        assert (await resp.json())["listenKey"] != key
    async with http.ws_connect(f"{sim.ws_url}/private/ws/{key}") as stale:
        msg = await stale.receive(timeout=2)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_drop_connections_closes_every_socket(sim: SimExchange, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(f"{sim.ws_url}/market/ws/0") as ws:
        await subscribe(ws, "!markPrice@arr@1s")
        assert await sim.drop_connections() == 1
        msg = await ws.receive(timeout=2)
        assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_malformed_scenario_sends_hostile_frames(make_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await make_sim("small", Malformed(start=1), clock=False)
    async with http.ws_connect(f"{sim.ws_url}/market/ws/0") as ws:
        await subscribe(ws, "!markPrice@arr@1s")
        await sim.step(2)
        texts = []
        while True:
            try:
                msg = await ws.receive(timeout=0.2)
            except TimeoutError:
                break
            texts.append(msg.data)
        expected = hostile_frames(sim.ledger.marks, 0)
        assert len(texts) == 4  # two ticks: a mark array and a hostile frame each
        assert json.loads(texts[1])[0]["p"] == json.loads(expected[0])[0]["p"] == "NaN"
        assert json.loads(texts[3])[0]["p"] == "-12.5"


async def test_running_clock_ticks_at_speed(make_sim: Any) -> None:
    sim = await make_sim("small", speed=200)
    async with asyncio.timeout(5):
        await sim.wait_ticks(20)
    assert sim.sim_time >= 20
    sim.pause()
    ticks = sim.tick_index
    await asyncio.sleep(0.05)
    assert sim.tick_index == ticks
