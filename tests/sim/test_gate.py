"""The Gate dialect under the real ccxt / ccxt.pro ``gate`` client, over loopback.

What the daemon relies on: the USDT perpetuals (contracts of ``quanto_multiplier``), positions and the
futures account over REST, risk-limit tiers, ``futures.tickers`` marks, the uid-checked private
channels, one-way ``close`` and hedge ``auto_size`` closes, the refusals' labels in both body forms,
large order ids and order lookup by ``text``, and Gate's SHA-512 signing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.gate import Gate
from monitor.sim.dialects.gate.errors import uid_of
from monitor.sim.dialects.gate.wire import CONTRACT_TAKER_FEE
from monitor.sim.dialects.gate.ws import subscribe_sign
from monitor.sim.exchange import SimExchange
from monitor.sim.ledger import BOTH, LONG, SHORT

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Gate()) as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(
    sim: SimExchange,
    account: str,
    clients: list[Any],
    options: dict[str, Any] | None = None,
    **overrides: Any,
) -> Any:
    config = {**sim.ccxt_config(account, **(options or {})), "enableRateLimit": False, **overrides}
    ex = ccxt.pro.gate(config)
    ex.timeout_on_exit = 0
    clients.append(ex)
    return ex


def legs(positions: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(p["symbol"], p["side"]): p["contracts"] for p in positions}


async def test_markets_positions_account_and_tiers_as_ccxt_reads_them(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    markets = await ex.load_markets()
    assert {BTC, SOL} <= set(markets)
    assert markets[BTC]["contractSize"] == 0.001
    positions = await ex.fetch_positions()
    # contracts: BTC 0.5 = 500 x 0.001, ETH 5 = 5000 x 0.001, SOL 100 = 100 x 1
    assert legs(positions) == {(BTC, "long"): 500, ("ETH/USDT:USDT", "short"): 5000, (SOL, "long"): 100}
    sol = next(p for p in positions if p["symbol"] == SOL)
    assert sol["info"]["pos_margin_mode"] == "isolated"
    ledger = sim.ledger.risk("main")
    sol_leg = next(leg for leg in ledger.legs if leg.symbol == "SOLUSDT")
    assert sol_leg.liquidation_price is not None
    assert float(sol["info"]["liq_price"]) == pytest.approx(sol_leg.liquidation_price, abs=0.005)
    assert isinstance(sol["info"]["size"], str)  # ccxt sends X-Gate-Size-Decimal: 1
    account = await ex.privateFuturesGetSettleAccounts({"settle": "usdt"})
    assert account["user"] == uid_of(sim.ledger.account("main"))
    isolated = sol_leg.isolated_wallet
    assert float(account["total"]) == pytest.approx(ledger.wallet_balance)
    assert float(account["isolated_position_margin"]) == pytest.approx(isolated)
    tiers = await ex.fetch_market_leverage_tiers(BTC)
    spec = sim.ledger.specs["BTCUSDT"]
    assert tiers[0]["maintenanceMarginRate"] == pytest.approx(spec.tiers[0].mmr - CONTRACT_TAKER_FEE)


async def test_tickers_carry_the_mark(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    first = await ex.watch_tickers([BTC])
    assert first[BTC]["markPrice"] == pytest.approx(sim.ledger.marks["BTCUSDT"])
    sim.set_mark("BTCUSDT", 61_000.0)
    await sim.publish_marks()
    pushed = await asyncio.wait_for(ex.watch_tickers([BTC]), 10)
    assert pushed[BTC]["markPrice"] == pytest.approx(61_000.0)


async def test_private_channels_need_the_uid_and_push_numbers(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients, options={"watchPositions": {"fetchPositionsSnapshot": False}})
    await ex.load_markets()
    watch = asyncio.ensure_future(ex.watch_positions())
    await sim.streams.wait_until(lambda: sim.streams.user_connections("main") > 0)
    trader = client_for(sim, "main", clients)
    await trader.load_markets()
    await trader.create_order(BTC, "market", "sell", 100, None, {"reduceOnly": True})
    positions = await asyncio.wait_for(watch, 5)
    assert legs(positions) == {(BTC, "long"): 400}
    row = positions[0]["info"]  # the channel's raw row: numbers, no mark, sizes as decimal strings
    assert isinstance(row["entry_price"], int | float) and row["size"] == "400"
    assert "mark_price" not in row and row["user"] == str(uid_of(sim.ledger.account("main")))

    wrong = client_for(sim, "main", clients)
    wrong.uid = "12345678"
    await wrong.load_markets()
    with pytest.raises(ccxt.BadRequest, match="user id"):
        await asyncio.wait_for(wrong.watch_balance(), 5)

    no_uid = client_for(sim, "main", clients)
    no_uid.uid = ""
    await no_uid.load_markets()
    with pytest.raises(ccxt.ArgumentsRequired, match="uid"):
        await no_uid.watch_balance()


async def test_a_badly_signed_subscribe_is_refused_as_gate_did(sim: SimExchange) -> None:
    acct = sim.ledger.account("main")
    now = sim.now_ms() // 1000
    request = {
        "time": now,
        "channel": "futures.positions",
        "event": "subscribe",
        "payload": [str(uid_of(acct)), "!all"],
        "auth": {
            "method": "api_key",
            "KEY": acct.api_key,
            "SIGN": subscribe_sign("x", "y", now, acct.secret),
        },
    }
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{sim.ws_url}/v4/ws/futures/usdt") as ws,
    ):
        await ws.send_str(json.dumps(request))
        reply = json.loads((await ws.receive()).data)
    assert reply["error"]["code"] == 2
    assert "INVALID_SIGNATURE" in reply["error"]["message"]
    assert reply["result"] == {"status": "failed"}


async def test_one_way_close_and_reduce_only_refusal(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="INCREASE_POSITION"):
        await ex.create_order(BTC, "market", "buy", 2, None, {"reduceOnly": True})
    order = await ex.create_order(BTC, "market", "sell", 0, None, {"close": True, "text": "t-closeall"})
    assert int(order["id"]) > 2**53
    assert sim.ledger.account("main").legs["BTCUSDT", BOTH].amount == 0
    again = await ex.fetch_order(order["id"], BTC)
    assert again["id"] == order["id"]
    assert again["status"] == "closed"
    by_text = await ex.privateFuturesGetSettleOrdersOrderId({"settle": "usdt", "order_id": "t-closeall"})
    assert str(by_text["id"]) == order["id"]
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("t-nothing", BTC)


async def test_hedge_close_with_auto_size_and_the_dual_mode_refusals(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "hedge", clients)
    await ex.load_markets()
    with pytest.raises(ccxt.ExchangeError, match="POSITION_DUAL_MODE"):
        await ex.create_order(BTC, "market", "sell", 0, None, {"close": True})
    with pytest.raises(ccxt.ExchangeError, match="REDUCE_EXCEEDED"):
        await ex.create_order(BTC, "market", "buy", 101, None, {"reduceOnly": True})
    # ccxt's create_order signs ``amount`` into ``size``: a hedge close (size 0) goes through the endpoint
    close = {"contract": "BTC_USDT", "size": 0, "price": "0", "tif": "ioc", "reduce_only": True}
    await ex.privateFuturesPostSettleOrders({"settle": "usdt", **close, "auto_size": "close_short"})
    account = sim.ledger.account("hedge")
    assert account.legs["BTCUSDT", SHORT].amount == 0
    assert account.legs["BTCUSDT", LONG].amount == pytest.approx(0.2)


async def test_isolated_margin_and_both_error_body_forms(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    leg = sim.ledger.account("main").legs["SOLUSDT", BOTH]
    before = leg.isolated_wallet
    await ex.add_margin(SOL, 12.5)
    assert leg.isolated_wallet == pytest.approx(before + 12.5)
    with pytest.raises(ccxt.InsufficientFunds) as refused:
        await ex.add_margin(SOL, 1_000_000)
    assert '{"label":"INSUFFICIENT_AVAILABLE"}' in str(refused.value).replace(" ", "")
    with pytest.raises(ccxt.ExchangeError, match="POSITION_CROSS_MARGIN"):
        await ex.add_margin(BTC, 1)
    bad = client_for(sim, "main", clients, secret="0" * 64)
    with pytest.raises(ccxt.AuthenticationError, match="Signature mismatch"):
        await bad.privateFuturesGetSettleAccounts({"settle": "usdt"})


async def test_sizes_follow_the_size_header(sim: SimExchange) -> None:
    """Decimal strings with ``X-Gate-Size-Decimal: 1`` (what ccxt sends), integers without."""
    url = f"{sim.http_url}/api/v4/futures/usdt/contracts"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"X-Gate-Size-Decimal": "1"}) as reply:
            decimal = await reply.json()
        async with session.get(url) as reply:
            integer = await reply.json()
    assert decimal[0]["order_size_min"] == "1" and integer[0]["order_size_min"] == 1


async def test_a_request_outside_the_time_window_is_refused(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    ex.options["timeDifference"] = -120_000  # our clock two minutes ahead of the exchange's
    with pytest.raises(ccxt.AuthenticationError, match="REQUEST_EXPIRED"):
        await ex.privateFuturesGetSettleAccounts({"settle": "usdt"})


async def test_a_finished_order_answers_to_its_text_for_a_minute(
    sim: SimExchange, clients: list[Any]
) -> None:
    from dataclasses import replace

    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    order = await ex.create_order(
        "BTC/USDT:USDT", "market", "sell", 1, None, {"reduceOnly": True, "text": "t-x"}
    )
    account = sim.ledger.account("main")
    oid = account.client_ids["t-x"]
    account.orders[oid] = replace(account.orders[oid], update_time=sim.now_ms() - 61_000)
    with pytest.raises(ccxt.OrderNotFound):
        await ex.fetch_order("t-x", "BTC/USDT:USDT")
    assert (await ex.fetch_order(order["id"], "BTC/USDT:USDT"))["id"] == order["id"]
    finished = await ex.privateFuturesGetSettleOrders(
        {"settle": "usdt", "contract": "BTC_USDT", "status": "finished"}
    )
    assert [o["text"] for o in finished] == ["t-x"]
