"""The Bitget dialect under the real ccxt / ccxt.pro ``bitget`` client, over loopback.

What the daemon relies on: the classic markets, positions (REST and the ``positions`` snapshots),
the account, the tier table, the ``ticker`` channel's ``markPrice``, one-way reduce-only and hedge
closes with Bitget's side convention and error codes, isolated margin, and the passphrase check.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.bitget import Bitget
from monitor.sim.exchange import SimExchange
from monitor.venues.loopback import point_at

BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"
USDT_FUTURES = {"productType": "USDT-FUTURES"}


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False, dialect=Bitget()) as exchange:
        yield exchange


@pytest.fixture
async def clients() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for client in made:
        await client.close()


def client_for(sim: SimExchange, account: str, clients: list[Any], **overrides: Any) -> Any:
    ex = ccxt.pro.bitget({**sim.ccxt_config(account), "enableRateLimit": False, **overrides})
    ex.timeout_on_exit = 0
    point_at(ex, sim.http_url, sim.ws_url)
    clients.append(ex)
    return ex


def legs(positions: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    return {(p["symbol"], p["side"]): p["contracts"] for p in positions}


async def test_markets_positions_balance_and_tiers_as_ccxt_reads_them(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    markets = await ex.load_markets()
    assert {BTC, SOL} <= set(markets)
    positions = await ex.fetch_positions(None, USDT_FUTURES)
    assert legs(positions) == {(BTC, "long"): 0.5, ("ETH/USDT:USDT", "short"): 5.0, (SOL, "long"): 100.0}
    ledger = sim.ledger.risk("main")
    sol = next(p for p in positions if p["symbol"] == SOL)
    assert sol["marginMode"] == "isolated"
    sol_leg = next(leg for leg in ledger.legs if leg.symbol == "SOLUSDT")
    assert sol["liquidationPrice"] == pytest.approx(sol_leg.liquidation_price, rel=1e-9)
    info = sol["info"]
    # the position margin ratio: MM incl. the fee over margin + uPnL
    assert float(info["marginRatio"]) == pytest.approx(
        sol_leg.maint_margin / (sol_leg.isolated_wallet + sol_leg.unrealized), rel=1e-9
    )
    balance = await ex.fetch_balance({"type": "swap"})
    assert balance["USDT"]["total"] == pytest.approx(ledger.wallet_balance + ledger.total_unrealized)
    tiers = await ex.fetch_market_leverage_tiers(BTC)
    # published without the fee, which the simulator's own tiers include
    spec = sim.ledger.specs["BTCUSDT"]
    assert tiers[0]["maintenanceMarginRate"] == pytest.approx(spec.tiers[0].mmr - 0.0006)


async def test_the_ticker_channel_carries_the_mark_in_info(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    first = await ex.watch_ticker(BTC)
    assert float(first["info"]["markPrice"]) == sim.ledger.marks["BTCUSDT"]
    sim.set_mark("BTCUSDT", 61_234.5)
    await sim.publish_marks()
    pushed = await asyncio.wait_for(ex.watch_ticker(BTC), 10)
    assert float(pushed["info"]["markPrice"]) == 61_234.5


async def test_unknown_channel_and_symbol_are_refused_like_bitget(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    url = ex.urls["api"]["ws"]["public"]
    request = {
        "op": "subscribe",
        "args": [{"instType": "USDT-FUTURES", "channel": "markPrice", "instId": "BTCUSDT"}],
    }
    with pytest.raises(ccxt.BadRequest, match="30016"):
        await asyncio.wait_for(ex.watch(url, "mark:BTCUSDT", request, "mark:BTCUSDT"), 10)


async def test_one_way_reduce_only_closes_and_never_opens(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    params = {"reduceOnly": True, "marginMode": "cross", "clientOid": "close-btc-1"}
    order = await ex.create_order(BTC, "market", "sell", 0.1, None, params)
    assert order["clientOrderId"] == "close-btc-1"
    assert sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount == pytest.approx(0.4)
    detail = await ex.fetch_order(order["id"], BTC)
    assert (detail["status"], detail["filled"], detail["side"], detail["reduceOnly"]) == (
        "closed",
        0.1,
        "sell",
        True,
    )
    # the same side again would increase a long: 22002, nothing filled
    with pytest.raises(ccxt.ExchangeError, match="22002"):
        await ex.create_order(BTC, "market", "buy", 0.1, None, {**params, "clientOid": "close-btc-2"})
    # a hedge-shaped order on a one-way account: 40774
    with pytest.raises(ccxt.InvalidOrder, match="40774"):
        await ex.create_order(BTC, "market", "sell", 0.1, None, {**params, "hedged": True, "clientOid": "x3"})
    assert sim.ledger.account("main").legs["BTCUSDT", "BOTH"].amount == pytest.approx(0.4)


async def test_hedge_close_names_the_position_side(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "hedge", clients)
    await ex.load_markets()
    # ccxt with hedged=True sends tradeSide "Close" and flips the side: sell closes the long
    params = {"reduceOnly": True, "hedged": True, "marginMode": "cross", "clientOid": "hedge-close-1"}
    await ex.create_order(BTC, "market", "sell", 0.05, None, params)
    acct = sim.ledger.account("hedge")
    assert acct.legs["BTCUSDT", "LONG"].amount == pytest.approx(0.15)
    assert acct.legs["BTCUSDT", "SHORT"].amount == pytest.approx(-0.1)
    # a one-way shaped reduce-only order on a hedge account: 40774
    with pytest.raises(ccxt.InvalidOrder, match="40774"):
        await ex.create_order(BTC, "market", "sell", 0.05, None, {"reduceOnly": True, "marginMode": "cross"})


async def test_private_positions_are_full_snapshots(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    first = await asyncio.wait_for(ex.watch_positions(), 10)
    assert len(first) == 3
    pushed = asyncio.ensure_future(ex.watch_positions())
    await asyncio.sleep(0)
    await ex.create_order(
        BTC, "market", "sell", 0.5, None, {"reduceOnly": True, "marginMode": "cross", "clientOid": "all"}
    )
    after = await asyncio.wait_for(pushed, 10)
    # the closed position is gone from the snapshot, the others are all there
    assert {p["symbol"] for p in after if p["contracts"]} == {"ETH/USDT:USDT", SOL}


async def test_add_isolated_margin(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    result = await ex.add_margin(SOL, 12, {"holdSide": "long"})
    assert result["status"] == "ok"
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(before + 12)


@pytest.mark.parametrize("field", ["password", "secret"])
async def test_a_wrong_passphrase_or_secret_is_an_authentication_error(
    sim: SimExchange, clients: list[Any], field: str
) -> None:
    ex = client_for(sim, "main", clients, **{field: "wrong"})
    await ex.load_markets()
    with pytest.raises(ccxt.AuthenticationError):
        await ex.fetch_positions(None, USDT_FUTURES)
    with pytest.raises(ccxt.AuthenticationError):
        await asyncio.wait_for(ex.watch_positions(), 10)
