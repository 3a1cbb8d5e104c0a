"""The Hyperliquid dialect under the real ccxt / ccxt.pro ``hyperliquid`` client and a raw socket,
over loopback.

What the monitor relies on: ``/info`` read by address alone, snapshots that drop a closed position,
marks in the asset contexts (not ``allMids``), the WebSocket's banner, pong, subscription echoes and
10-user limit, signed actions checked for their signer and nonce, and order refusals as HTTP 200
with an error per order.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.hyperliquid import signing
from monitor.sim.exchange import SimExchange

BTC = "BTC/USDC:USDC"
SOL = "SOL/USDC:USDC"


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect="hyperliquid") as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(sim: SimExchange, account: str, clients: list[Any], **overrides: Any) -> Any:
    ex = ccxt.pro.hyperliquid({**sim.ccxt_config(account), "enableRateLimit": False, **overrides})
    ex.timeout_on_exit = 0
    clients.append(ex)
    return ex


async def info(sim: SimExchange, body: dict[str, Any]) -> Any:
    async with aiohttp.ClientSession() as http, http.post(f"{sim.http_url}/info", json=body) as reply:
        assert reply.status == 200, await reply.text()
        return await reply.json(content_type=None)


async def test_an_address_alone_reads_positions_without_any_key(sim: SimExchange, clients: list[Any]) -> None:
    address = sim.accounts["main"].address
    ex = client_for(sim, "main", clients, privateKey=None, walletAddress=address)
    await ex.load_markets()
    positions = await ex.fetch_positions()
    assert {(p["symbol"], p["side"], p["contracts"]) for p in positions} == {
        (BTC, "long", 0.5),
        ("ETH/USDC:USDC", "short", 5.0),
        (SOL, "long", 100.0),
    }
    sol = next(p for p in positions if p["symbol"] == SOL)
    leg = next(leg for leg in sim.ledger.risk("main").legs if leg.symbol == "SOLUSDT")
    assert sol["marginMode"] == "isolated"
    assert sol["liquidationPrice"] == pytest.approx(leg.liquidation_price, rel=1e-9)
    assert not any(path.startswith("/exchange") for _, path in sim.rest.requests)


async def test_a_closed_position_disappears_from_the_snapshot(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    await ex.create_order(BTC, "market", "sell", 0.5, 60_000, {"reduceOnly": True})
    state = await info(sim, {"type": "clearinghouseState", "user": sim.accounts["main"].address})
    coins = [row["position"]["coin"] for row in state["assetPositions"]]
    assert coins == ["ETH", "SOL"]
    assert isinstance(state["time"], int)


async def test_marks_are_in_the_asset_contexts_by_index(sim: SimExchange) -> None:
    sim.set_mark("ETHUSDT", 3_100.0)
    meta, ctxs = await info(sim, {"type": "metaAndAssetCtxs"})
    names = [u["name"] for u in meta["universe"]]
    assert float(ctxs[names.index("ETH")]["markPx"]) == 3_100.0
    assert "name" not in ctxs[0] and "coin" not in ctxs[0]
    tables = dict(meta["marginTables"])
    btc = meta["universe"][names.index("BTC")]
    assert tables[btc["marginTableId"]]["marginTiers"][0] == {"lowerBound": "0.0", "maxLeverage": 40}


async def test_order_refusals_are_http_200_with_an_error_per_order(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="Reduce only order would increase position"):
        await ex.create_order(BTC, "market", "buy", 0.002, 60_000, {"reduceOnly": True})
    with pytest.raises(ccxt.InvalidOrder, match="could not immediately match"):
        # an IOC limit that does not reach the mark finds nothing to match on the simulator's book
        await ex.create_order(BTC, "limit", "sell", 0.002, 61_000, {"reduceOnly": True, "timeInForce": "Ioc"})
    assert sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount == 0.5


async def test_unasked_actions_are_recorded_and_ccxt_sends_none_when_told_not_to(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    await ex.create_order(BTC, "market", "sell", 0.002, 60_000, {"reduceOnly": True})
    assert sim.rest.unasked == []
    stock = client_for(sim, "main", clients, options={"fetchMarkets": {"types": ["swap"]}})
    await stock.load_markets()
    await stock.create_order(BTC, "market", "sell", 0.002, 60_000, {"reduceOnly": True})
    assert {a["type"] for a in sim.rest.unasked} == {"approveBuilderFee", "setReferrer"}


async def test_an_unknown_signer_and_a_reused_nonce_are_refused(sim: SimExchange, clients: list[Any]) -> None:
    stranger = client_for(sim, "main", clients, privateKey="0x" + "11" * 32)
    await stranger.load_markets()
    with pytest.raises(ccxt.ExchangeError, match="does not exist"):
        await stranger.add_margin(SOL, 10)
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    action = {"type": "updateIsolatedMargin", "asset": 2, "isBuy": True, "ntli": 1_000_000}
    nonce = sim.now_ms()
    body = {"action": action, "nonce": nonce, "signature": ex.sign_l1_action(action, nonce)}
    first = await ex.private_post_exchange(body)
    assert first == {"status": "ok", "response": {"type": "default"}}
    with pytest.raises(ccxt.ExchangeError, match="duplicate nonce"):
        await ex.private_post_exchange(body)
    bad = {**body, "nonce": nonce + 1, "signature": {"r": "0x12", "s": "0x34", "v": 27}}
    with pytest.raises(ccxt.ExchangeError, match="signature"):
        await ex.private_post_exchange(bad)


def test_nonce_window_keeps_the_highest_hundred() -> None:
    nonces = signing.Nonces()
    now = 1_800_000_000_000
    for i in range(signing.NONCE_WINDOW):
        nonces.use("0xabc", now + 10 + i, now)
    nonces.use("0xabc", now + 5_000, now)  # above the smallest kept: accepted, drops now + 10
    with pytest.raises(signing.SignatureError, match="lower than every nonce"):
        nonces.use("0xabc", now + 10, now)
    with pytest.raises(signing.SignatureError, match="too far"):
        nonces.use("0xabc", now + signing.NONCE_AHEAD_MS + 1, now)


async def test_isolated_margin_is_moved_in_whole_micro_dollars(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    action = {"type": "updateIsolatedMargin", "asset": 2, "isBuy": True, "ntli": 25_000_000}
    nonce = sim.now_ms()
    await ex.private_post_exchange(
        {"action": action, "nonce": nonce, "signature": ex.sign_l1_action(action, nonce)}
    )
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(before + 25.0)


async def test_an_agent_address_reads_an_empty_state_and_says_it_is_an_agent(sim: SimExchange) -> None:
    agent = signing.address_of_key(sim.accounts["main"].secret)
    state = await info(sim, {"type": "clearinghouseState", "user": agent})
    assert state["assetPositions"] == []
    role = await info(sim, {"type": "userRole", "user": agent})
    assert role == {"role": "agent", "data": {"user": sim.accounts["main"].address}}
    assert await info(sim, {"type": "userRole", "user": sim.accounts["main"].address}) == {"role": "user"}


async def test_socket_banner_pong_echo_duplicate_and_snapshot(sim: SimExchange) -> None:
    user = sim.accounts["main"].address
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws") as ws:
        assert await ws.receive_str() == "Websocket connection established."
        await ws.send_json({"method": "ping"})
        assert await ws.receive_json() == {"channel": "pong"}
        sub = {"type": "clearinghouseState", "user": user}
        await ws.send_json({"method": "subscribe", "subscription": sub})
        ack = await ws.receive_json()
        assert ack == {
            "channel": "subscriptionResponse",
            "data": {"method": "subscribe", "subscription": {**sub, "dex": ""}},
        }
        snapshot = await ws.receive_json()
        assert snapshot["channel"] == "clearinghouseState"
        assert len(snapshot["data"]["clearinghouseState"]["assetPositions"]) == 3
        await ws.send_json({"method": "subscribe", "subscription": sub})
        error = await ws.receive_json()
        assert error["channel"] == "error" and error["data"].startswith("Already subscribed")
        await ws.send_str("{not json")
        assert (await ws.receive_json())["channel"] == "error"
        await ws.send_json({"method": "ping"})
        assert await ws.receive_json() == {"channel": "pong"}  # the socket stayed open


def subscribe(kind: str, user: str) -> dict[str, Any]:
    return {"method": "subscribe", "subscription": {"type": kind, "user": user}}


async def test_more_than_ten_users_from_one_ip_are_refused(sim: SimExchange) -> None:
    users = [f"0x{i:040x}" for i in range(1, 12)]
    url = f"{sim.ws_url}/ws"
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as a, http.ws_connect(url) as b:
        await a.receive_str()
        await b.receive_str()
        for i, user in enumerate(users[:10]):
            ws = a if i % 2 else b
            await ws.send_json(subscribe("userEvents", user))
            assert (await ws.receive_json())["channel"] == "subscriptionResponse"
        await a.send_json(subscribe("userFills", users[0]))
        assert (await a.receive_json())["channel"] == "subscriptionResponse"  # a user already followed
        assert (await a.receive_json())["data"]["isSnapshot"] is True
        await a.send_json(subscribe("userEvents", users[10]))
        refused = await a.receive_json()
        assert refused == {"channel": "error", "data": "Cannot track more than 10 total users."}


async def test_marks_and_fills_reach_their_subscribers(sim: SimExchange) -> None:
    user = sim.accounts["main"].address
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{sim.ws_url}/ws") as ws:
        await ws.receive_str()
        await ws.send_json({"method": "subscribe", "subscription": {"type": "activeAssetCtx", "coin": "BTC"}})
        await ws.receive_json()
        first = await ws.receive_json()
        assert first["channel"] == "activeAssetCtx" and first["data"]["coin"] == "BTC"
        await ws.send_json({"method": "subscribe", "subscription": {"type": "userEvents", "user": user}})
        await ws.receive_json()
        sim.set_mark("BTCUSDT", 61_000.0)
        await sim.publish_marks()
        pushed = await ws.receive_json()
        assert pushed["channel"] == "activeAssetCtx" and pushed["data"]["ctx"]["markPx"] == "61000.0"
        sim.set_mark("SOLUSDT", 100.0)  # below the isolated SOL long's liquidation price
        await sim.step()
        while True:
            frame = json.loads(await ws.receive_str())
            if frame["channel"] == "user":
                break
        fill = frame["data"]["fills"][0]
        assert fill["coin"] == "SOL" and fill["liquidation"]["liquidatedUser"] == user
