"""The Bitunix dialect under the project's own Bitunix client (``monitor.venues.bitunix``), over
loopback: codes in HTTP 200 bodies, the double-hash signature, the ``connect`` frame, JSON pings,
silent subscribes, the ``price`` / ``position`` / ``balance`` / ``order`` pushes, the account as an
object, the 300-channel cap and the 5 messages a second."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import connect

from monitor.sim.dialects.bitunix import Bitunix
from monitor.sim.exchange import SimExchange
from monitor.tasks import cancel_and_wait
from monitor.venues import errors
from monitor.venues.base import RestGate, VenueAccount
from monitor.venues.bitunix.pacing import Pacer
from monitor.venues.bitunix.rest import BitunixRest
from monitor.venues.bitunix.ws import BitunixSocket

F = "/api/v1/futures"


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bitunix()) as exchange:
        yield exchange


@pytest.fixture
async def rest_for(sim: SimExchange) -> AsyncIterator[Callable[..., BitunixRest]]:
    made: list[BitunixRest] = []

    def make(account: str | None = "main", secret: str | None = None) -> BitunixRest:
        acct = None
        if account is not None:
            keys = sim.accounts[account]
            acct = VenueAccount(account, keys.api_key, secret or keys.secret)
        client = BitunixRest(sim.http_url, account=acct, gate=RestGate(), market_pacer=Pacer(9))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def venue_account(sim: SimExchange, name: str) -> VenueAccount:
    keys = sim.accounts[name]
    return VenueAccount(name, keys.api_key, keys.secret)


# ---- REST ------------------------------------------------------------------------------------


async def test_markets_and_marks_are_public(sim: SimExchange, rest_for: Callable[..., BitunixRest]) -> None:
    rest = rest_for(None)
    pairs = await rest.public(f"{F}/market/trading_pairs")
    assert {p["symbol"] for p in pairs} == {"BTCUSDT", "ETHUSDT", "SOLUSDT"}
    batch = await rest.public(f"{F}/market/funding_rate/batch")
    btc = next(r for r in batch if r["symbol"] == "BTCUSDT")
    assert float(btc["markPrice"]) == pytest.approx(sim.ledger.marks["BTCUSDT"])


async def test_the_account_is_an_object_and_positions_carry_the_exchange_figures(
    sim: SimExchange, rest_for: Callable[..., BitunixRest]
) -> None:
    rest = rest_for("main")
    account = await rest.read(f"{F}/account", {"marginCoin": "USDT"})
    assert isinstance(account, dict) and account["positionMode"] == "ONE_WAY"
    rows = await rest.read(f"{F}/position/get_pending_positions")
    by_symbol = {r["symbol"]: r for r in rows}
    sol = by_symbol["SOLUSDT"]
    assert sol["marginMode"] == "ISOLATION" and sol["side"] == "LONG"
    ledger = sim.ledger
    leg = ledger.leg_risk("main", "SOLUSDT", "BOTH")
    assert float(sol["liqPrice"]) == pytest.approx(leg.liquidation_price, abs=0.01)
    # Bitunix's rule: maintenance on the entry price, so the isolated liquidation price is fixed
    sim.set_mark("SOLUSDT", 140.0)
    again = {r["symbol"]: r for r in await rest.read(f"{F}/position/get_pending_positions")}
    assert again["SOLUSDT"]["liqPrice"] == sol["liqPrice"]
    # available + margin - isolated margin = the cross wallet
    iso = sum(float(r["margin"]) for r in rows if r["marginMode"] == "ISOLATION")
    cross_wallet = float(account["available"]) + float(account["frozen"]) + float(account["margin"]) - iso
    assert cross_wallet == pytest.approx(ledger.account("main").cross_wallet, abs=1e-6)


async def test_a_wrong_signature_is_code_10007_in_an_http_200(
    sim: SimExchange, rest_for: Callable[..., BitunixRest]
) -> None:
    with pytest.raises(errors.AuthenticationRefused, match="10007"):
        await rest_for("main", secret="x" * 32).read(f"{F}/account", {"marginCoin": "USDT"})


async def test_an_unknown_path_is_code_404(rest_for: Callable[..., BitunixRest]) -> None:
    with pytest.raises(errors.Refused, match="404"):
        await rest_for("main").read(f"{F}/nowhere")


async def test_one_way_reduce_only_and_its_refusals(
    sim: SimExchange, rest_for: Callable[..., BitunixRest]
) -> None:
    rest = rest_for("main")
    place = f"{F}/trade/place_order"
    base = {"symbol": "SOLUSDT", "orderType": "MARKET", "reduceOnly": True}
    with pytest.raises(errors.OrderRejected, match="30019") as same:
        await rest.order(place, {**base, "qty": "1", "side": "BUY", "clientId": "a1"})
    assert same.value.reason is errors.RejectReason.REDUCE_ONLY_REJECTED
    reply = await rest.order(place, {**base, "qty": "1", "side": "SELL", "clientId": "a2"})
    assert reply["clientId"] == "a2"
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].amount == pytest.approx(99.0)
    detail = await rest.read(f"{F}/trade/get_order_detail", {"clientId": "a2"})
    assert detail["status"] == "FILLED" and float(detail["tradeQty"]) == 1.0
    assert await rest.read(f"{F}/trade/get_order_detail", {"clientId": "never"}) is None
    with pytest.raises(errors.VenueUnavailable, match="30042"):
        await rest.order(place, {**base, "qty": "1", "side": "SELL", "clientId": "a2"})
    with pytest.raises(errors.OrderRejected, match="30018"):
        await rest_for("trader").order(place, {**base, "qty": "1", "side": "SELL"})


async def test_hedge_close_names_the_position_side_and_its_id(
    sim: SimExchange, rest_for: Callable[..., BitunixRest]
) -> None:
    rest = rest_for("hedge")
    rows = await rest.read(f"{F}/position/get_pending_positions", {"symbol": "BTCUSDT"})
    long_id = next(r["positionId"] for r in rows if r["side"] == "LONG")
    place = f"{F}/trade/place_order"
    close = {"symbol": "BTCUSDT", "orderType": "MARKET", "qty": "0.05", "side": "BUY", "tradeSide": "CLOSE"}
    with pytest.raises(errors.OrderRejected, match="30004"):
        await rest.order(place, {**close, "positionId": "1"})
    await rest.order(place, {**close, "positionId": long_id})
    assert sim.ledger.account("hedge").legs["BTCUSDT", "LONG"].amount == pytest.approx(0.15)
    assert sim.ledger.account("hedge").legs["BTCUSDT", "SHORT"].amount == pytest.approx(-0.1)


async def test_adjust_position_margin_moves_margin_into_the_isolated_leg(
    sim: SimExchange, rest_for: Callable[..., BitunixRest]
) -> None:
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    data = await rest_for("main").margin(
        f"{F}/account/adjust_position_margin", {"symbol": "SOLUSDT", "marginCoin": "USDT", "amount": "12.5"}
    )
    assert data == ""
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(before + 12.5)


async def test_past_ten_requests_a_second_is_code_10006(sim: SimExchange) -> None:
    keys = sim.accounts["main"]
    client = BitunixRest(
        sim.http_url,
        account=VenueAccount("main", keys.api_key, keys.secret),
        gate=RestGate(),
        market_pacer=Pacer(10**6),
    )
    client.pacers.orders = Pacer(10**6)  # our own pacing off: the venue's limit is what is tested
    answers: list[str] = []
    try:
        with pytest.raises(errors.RateLimited, match="10006"):
            for _ in range(30):  # orders, which the client never sends twice; each one is invalid
                try:
                    await client.order(f"{F}/trade/place_order", {"symbol": "BTCUSDT"})
                except errors.OrderRejected as exc:
                    answers.append(str(exc))
    finally:
        await client.close()
    assert len(answers) == 10 and all("10008" in a for a in answers)


# ---- WebSocket -------------------------------------------------------------------------------


async def test_price_pushes_follow_a_silent_subscribe(sim: SimExchange) -> None:
    frames: list[dict[str, Any]] = []
    sock = BitunixSocket(f"{sim.ws_url}/public/", frames.append)
    await sock.set_channels([("price", "BTCUSDT"), ("price", "NOPEUSDT")])
    task = asyncio.create_task(sock.run())
    try:
        await asyncio.wait_for(sim.wait_market_subscribers(), 10)
        sim.set_mark("BTCUSDT", 61_234.5)
        await sim.publish_marks()
        await until(lambda: any(f.get("ch") == "price" for f in frames))
    finally:
        await cancel_and_wait([task])
    push = next(f for f in frames if f.get("ch") == "price")
    assert push["symbol"] == "BTCUSDT" and float(push["data"]["mp"]) == 61_234.5
    assert not any(f.get("symbol") == "NOPEUSDT" for f in frames)


async def test_private_pushes_after_login(sim: SimExchange, rest_for: Callable[..., BitunixRest]) -> None:
    frames: list[dict[str, Any]] = []
    sock = BitunixSocket(f"{sim.ws_url}/private/", frames.append, account=venue_account(sim, "main"))
    await sock.set_channels([("position", None), ("balance", None), ("order", None)])
    task = asyncio.create_task(sock.run())
    try:
        await asyncio.wait_for(sim.wait_user_connections("main"), 10)
        await rest_for("main").order(
            f"{F}/trade/place_order",
            {"symbol": "SOLUSDT", "qty": "100", "side": "SELL", "orderType": "MARKET", "reduceOnly": True},
        )
        await until(lambda: {"position", "balance", "order"} <= {f.get("ch") for f in frames})
    finally:
        await cancel_and_wait([task])
    position = next(f for f in frames if f.get("ch") == "position")
    assert isinstance(position["data"], dict) and position["data"]["event"] == "CLOSE"
    assert "liqPrice" not in position["data"] and "marginRate" not in position["data"]
    order = next(f for f in frames if f.get("ch") == "order")
    assert order["data"]["side"] == "Sell"


async def test_a_login_with_a_wrong_secret_is_refused(sim: SimExchange) -> None:
    keys = sim.accounts["main"]
    sock = BitunixSocket(
        f"{sim.ws_url}/private/", lambda f: None, account=VenueAccount("main", keys.api_key, "y" * 32)
    )
    with pytest.raises(errors.AuthenticationRefused):
        await asyncio.wait_for(sock.run(), 10)


async def test_the_server_speaks_first_and_answers_json_pings(sim: SimExchange) -> None:
    async with connect(f"{sim.ws_url}/public/", ping_interval=None) as ws:
        assert json.loads(await ws.recv()) == {"op": "connect", "data": {"result": True}}
        await ws.send(json.dumps({"op": "ping", "ping": 1790126498}))
        reply = json.loads(await ws.recv())
        assert reply["op"] == "ping" and reply["pong"] == 1790126498 and isinstance(reply["ping"], int)


async def test_a_protocol_ping_before_any_json_frame_closes_the_socket(sim: SimExchange) -> None:
    async with connect(f"{sim.ws_url}/public/", ping_interval=None) as ws:
        await ws.recv()
        await ws.ping()
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1008


async def test_six_messages_in_a_second_close_the_socket(sim: SimExchange) -> None:
    async with connect(f"{sim.ws_url}/public/", ping_interval=None) as ws:
        await ws.recv()
        for i in range(6):
            await ws.send(json.dumps({"op": "subscribe", "args": [{"symbol": f"S{i}USDT", "ch": "price"}]}))
        await asyncio.wait_for(ws.wait_closed(), 10)
        assert ws.close_code == 1008


async def test_past_300_channels_the_venue_refuses_the_rest(sim: SimExchange) -> None:
    async with connect(f"{sim.ws_url}/public/", ping_interval=None) as ws:
        await ws.recv()
        args = [{"symbol": f"S{i}USDT", "ch": "price"} for i in range(301)]
        await ws.send(json.dumps({"op": "subscribe", "args": args}))
        reply = json.loads(await ws.recv())
        assert reply == {
            "op": "subscribe",
            "data": {"msg": "subscribe channel > 300", "nonce": "", "result": False},
        }
