"""The OKX dialect under the real ccxt / ccxt.pro ``okx`` client, over loopback.

What the adapter relies on: the swaps with their contract value, positions in contracts with their
margin mode, OKX's ratio and liquidation price, the balance in Futures mode, the account's mode,
tiers counted in contracts, the ``mark-price`` channel, reduce-only orders that must name the
position's margin mode (51169 otherwise, 51170 in the position's own direction), isolated margin,
the passphrase check, and the WebSocket rules: login, text ping, the 30 s silence cut, ``64008``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.okx import Okx
from monitor.sim.exchange import SimExchange

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Okx()) as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(sim: SimExchange, account: str, clients: list[Any], **overrides: Any) -> Any:
    ex = ccxt.pro.okx({**sim.ccxt_config(account), "enableRateLimit": False, **overrides})
    ex.timeout_on_exit = 0
    clients.append(ex)
    return ex


async def test_markets_positions_balance_and_tiers_as_ccxt_reads_them(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    markets = await ex.load_markets()
    assert markets[BTC]["contractSize"] == 0.01  # OKX's BTC-USDT-SWAP ctVal
    positions = {p["symbol"]: p for p in await ex.fetch_positions()}
    btc_leg = sim.ledger.account("main").legs["BTCUSDT", "BOTH"]
    assert positions[BTC]["contracts"] == pytest.approx(btc_leg.amount / 0.01)
    assert positions[SOL]["marginMode"] == "isolated"
    risk = sim.ledger.risk("main")
    sol = next(leg for leg in risk.legs if leg.symbol == "SOLUSDT")
    info = positions[SOL]["info"]
    # OKX's direction: equity over maintenance with the fee to close; its mmr leaves the fee out
    assert float(info["mgnRatio"]) == pytest.approx((sol.isolated_wallet + sol.unrealized) / sol.maint_margin)
    assert float(info["mmr"]) == pytest.approx(sol.maint_margin - abs(sol.notional) * 0.0005)
    assert float(info["liqPx"]) == pytest.approx(sol.liquidation_price)
    assert info["imr"] == "" and float(info["margin"]) == pytest.approx(sol.isolated_wallet)
    balance = (await ex.private_get_account_balance())["data"][0]
    assert balance["mgnRatio"] == "" and balance["adjEq"] == ""  # Futures mode: per currency
    usdt = balance["details"][0]
    assert float(usdt["cashBal"]) == pytest.approx(risk.cross.wallet)
    assert float(usdt["mgnRatio"]) == pytest.approx(risk.cross.equity / risk.cross.maint_margin)
    config = (await ex.private_get_account_config())["data"][0]
    assert (config["acctLv"], config["posMode"]) == ("2", "net_mode")
    tiers = await ex.public_get_public_position_tiers(
        {"instType": "SWAP", "tdMode": "cross", "instFamily": "BTC-USDT"}
    )
    rows = tiers["data"]
    # contracts, each tier one contract above the last maximum, the rate without the fee
    assert rows[1]["minSz"] == str(int(rows[0]["maxSz"]) + 1)
    assert float(rows[0]["mmr"]) == pytest.approx(sim.ledger.specs["BTCUSDT"].tiers[0].mmr)


async def test_the_ledger_charges_the_whole_value_at_the_tier_of_the_contracts(sim: SimExchange) -> None:
    """OKX's rule in the ledger: a price move changes the value, never the tier."""
    leg = sim.ledger.account("main").legs["BTCUSDT", "BOTH"]
    ct_val, tiers = sim.ledger.contract_tiers["BTCUSDT"]
    contracts = abs(leg.amount) / ct_val
    rate = next(t.mmr for t in tiers if t.floor <= contracts < t.cap)
    for price in (30_000.0, 60_000.0, 600_000.0):
        sim.set_mark("BTCUSDT", price)
        assert sim.ledger.maint_margin(leg) == pytest.approx(abs(leg.amount) * price * rate)


async def test_mark_price_channel(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    first = await asyncio.wait_for(ex.watch_mark_prices([BTC]), 10)
    assert first[BTC]["markPrice"] == pytest.approx(sim.ledger.marks["BTCUSDT"])
    pushed = asyncio.ensure_future(ex.watch_mark_prices([BTC]))
    sim.set_mark("BTCUSDT", 61_234.5)
    await sim.publish_marks()
    assert (await asyncio.wait_for(pushed, 10))[BTC]["markPrice"] == 61_234.5


async def test_reduce_only_must_name_the_positions_margin_mode(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].amount
    with pytest.raises(ccxt.ExchangeError, match="51169"):  # ccxt's default tdMode is cross
        await ex.create_order(SOL, "market", "sell", 1, None, {"reduceOnly": True})
    await ex.create_order(SOL, "market", "sell", 1, None, {"reduceOnly": True, "marginMode": "isolated"})
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].amount == pytest.approx(before - 1)
    with pytest.raises(ccxt.ExchangeError, match="51170"):
        await ex.create_order(BTC, "market", "buy", 1, None, {"reduceOnly": True})


async def test_long_short_mode_closes_by_position_side(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "hedge", clients)
    await ex.load_markets()
    legs = sim.ledger.account("hedge").legs
    long_before = legs["BTCUSDT", "LONG"].amount
    with pytest.raises(ccxt.ExchangeError, match="51000"):  # no posSide in long/short mode
        await ex.create_order(BTC, "market", "sell", 1, None, {"reduceOnly": True})
    await ex.create_order(BTC, "market", "sell", 1, None, {"posSide": "long"})
    assert legs["BTCUSDT", "LONG"].amount == pytest.approx(long_before - 0.01)


async def test_isolated_margin_and_the_order_by_client_id(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    await ex.private_post_account_position_margin_balance(
        {"instId": "SOL-USDT-SWAP", "posSide": "net", "type": "add", "amt": "12.5"}
    )
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(before + 12.5)
    await ex.private_post_trade_order(
        {
            "instId": "SOL-USDT-SWAP",
            "tdMode": "isolated",
            "side": "sell",
            "ordType": "market",
            "sz": "2",
            "reduceOnly": True,
            "clOrdId": "okxclose1",
        }
    )
    row = (await ex.private_get_trade_order({"instId": "SOL-USDT-SWAP", "clOrdId": "okxclose1"}))["data"][0]
    assert (row["state"], row["accFillSz"], row["reduceOnly"]) == ("filled", "2", "true")
    with pytest.raises(ccxt.OrderNotFound):
        await ex.private_get_trade_order({"instId": "SOL-USDT-SWAP", "clOrdId": "nosuchorder"})


async def test_positions_channel_snapshot_then_updates_with_the_closed_position(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    first = await asyncio.wait_for(ex.watch_positions(), 10)
    assert len(first) == 3
    pushed = asyncio.ensure_future(ex.watch_positions())
    await asyncio.sleep(0)
    contracts = abs(sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount) / 0.01
    await ex.create_order(BTC, "market", "sell", contracts, None, {"reduceOnly": True})
    after = await asyncio.wait_for(pushed, 10)
    # ccxt writes a net position's "0" row to both of its sides
    assert {(p["symbol"], p["contracts"]) for p in after} == {(BTC, 0.0)}


@pytest.mark.parametrize("field", ["password", "secret"])
async def test_a_wrong_passphrase_or_secret_is_an_authentication_error(
    sim: SimExchange, clients: list[Any], field: str
) -> None:
    ex = client_for(sim, "main", clients, **{field: "wrong"})
    with pytest.raises(ccxt.AuthenticationError):  # with keys, load_markets asks asset/currencies
        await ex.load_markets()
    good = client_for(sim, "main", clients)
    await good.load_markets()
    ex.set_markets_from_exchange(good)
    with pytest.raises(ccxt.AuthenticationError):
        await ex.fetch_positions()
    with pytest.raises(ccxt.AuthenticationError):
        await asyncio.wait_for(ex.watch_positions(), 10)


async def test_text_ping_silence_cut_and_upgrade_notice() -> None:
    """``ping`` is answered ``pong``; a socket silent both ways for the cut is closed; a server
    going away says 64008 first."""
    async with (
        SimExchange("small", clock=False, dialect=Okx(idle_cut_s=0.3)) as sim,
        aiohttp.ClientSession() as session,
    ):
        async with session.ws_connect(f"{sim.ws_url}/ws/v5/public") as ws:
            await ws.send_str("ping")
            assert (await ws.receive(timeout=5)).data == "pong"
            closed = await ws.receive(timeout=5)  # nothing sent: the cut
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        async with session.ws_connect(f"{sim.ws_url}/ws/v5/public") as ws:
            await sim.streams.wait_until(lambda: len(sim.streams.market) == 1)
            dropping = asyncio.ensure_future(sim.drop_connections())
            notice = await ws.receive_json(timeout=5)
            assert (notice["event"], notice["code"]) == ("notice", "64008")
            await dropping
