"""What the Bitget adapter relies on in ccxt's ``bitget``, pinned against the real ccxt / ccxt.pro
client and the simulator over loopback, and against Bitget's captured frames. Each check names the
behaviour and the code that depends on it, so a ccxt upgrade that changes one fails here.

- ``venues/bitget/parse.marks_from_tickers``: ccxt.pro's ticker leaves ``markPrice`` in ``info`` (its
  unified ``markPrice`` stays empty), and ``venue._changed_tickers`` reads the ticker cache
  ``Exchange.tickers`` because one watch returns one push.
- ``venues/bitget/parse``: ccxt.pro's WS position maps ``collateral`` from ``available``, a size in base
  coin; the adapter reads ``info``.
- ``venues/bitget/venue.add_isolated_margin`` calls set-margin directly: ``add_margin`` truncates the
  amount to the contract's size precision.
- ``venues/bitget/venue._balance_loop``: ccxt.pro's balance keeps the push's ``equity`` as USDT ``total``.
- ``venues/bitget/errors``: 22002 is not in ccxt's table (a bare ``ExchangeError``), 40085 is
  ``PermissionDenied``; both are recognised by their code in the text.
- ``venues/loopback.py``: ccxt's bitget URL table is ``api`` groups plus ``ws`` public/private.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import ccxt
import ccxt.pro
import pytest

from monitor.sim.dialects.bitget import Bitget
from monitor.sim.exchange import SimExchange
from monitor.venues.loopback import point_at

FIXTURES = Path(__file__).parents[1] / "venues" / "fixtures" / "bitget"
BTC = "BTC/USDT:USDT"
SOL = "SOL/USDT:USDT"


def fixture(name: str) -> dict[str, Any]:
    body = json.loads((FIXTURES / name).read_text())
    assert isinstance(body, dict)
    return body


@pytest.fixture
async def client() -> AsyncIterator[tuple[SimExchange, Any]]:
    async with SimExchange("small", clock=False, dialect=Bitget()) as sim:
        ex = ccxt.pro.bitget({**sim.ccxt_config("main"), "enableRateLimit": False})
        ex.timeout_on_exit = 0
        point_at(ex, sim.http_url, sim.ws_url)
        try:
            await ex.load_markets()
            yield sim, ex
        finally:
            await ex.close()


async def test_the_ws_ticker_leaves_the_mark_in_info(client: tuple[SimExchange, Any]) -> None:
    sim, ex = client
    ticker = await asyncio.wait_for(ex.watch_ticker(BTC), 10)
    assert ticker.get("markPrice") is None, "ccxt now maps markPrice: parse.marks_from_tickers may use it"
    assert float(ticker["info"]["markPrice"]) == sim.ledger.marks["BTCUSDT"]


def test_the_ws_position_collateral_is_a_size() -> None:
    ex = ccxt.pro.bitget()
    row = fixture("ws.positions.observed.json")["data"][0]
    position = ex.parse_ws_position(row, None)
    assert position["collateral"] == float(row["available"]), "ccxt changed collateral: parse reads info"


async def test_a_watch_returns_one_push_and_the_cache_holds_them_all(client: tuple[SimExchange, Any]) -> None:
    sim, ex = client
    await ex.watch_tickers([BTC, SOL])  # the snapshots on subscribe
    await asyncio.wait_for(sim.wait_market_subscribers("solusdt@markprice@1s"), 10)
    sim.set_mark("BTCUSDT", 61_000.0)
    sim.set_mark("SOLUSDT", 151.0)
    await sim.publish_marks()
    got = await asyncio.wait_for(ex.watch_tickers([BTC, SOL]), 10)
    await asyncio.sleep(0.1)
    assert float(ex.tickers[SOL]["info"]["markPrice"]) == 151.0
    assert float(ex.tickers[BTC]["info"]["markPrice"]) == 61_000.0
    assert len(got) <= 2  # one push, or both: the adapter reads the cache either way


async def test_add_margin_truncates_to_the_size_precision(client: tuple[SimExchange, Any]) -> None:
    sim, ex = client
    before = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    await ex.add_margin(SOL, 12.5, {"holdSide": "long"})
    after = sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet
    assert after - before == pytest.approx(12.0), "add_margin no longer truncates: the adapter's detour"


async def test_the_balance_total_is_the_pushed_equity(client: tuple[SimExchange, Any]) -> None:
    sim, ex = client
    balance = await asyncio.wait_for(ex.watch_balance(), 10)
    risk = sim.ledger.risk("main")
    assert float(balance["USDT"]["total"]) == pytest.approx(risk.wallet_balance + risk.total_unrealized)


async def test_no_position_to_close_is_a_bare_exchange_error(client: tuple[SimExchange, Any]) -> None:
    _, ex = client
    with pytest.raises(ccxt.ExchangeError) as info:
        await ex.create_order(BTC, "market", "buy", 0.01, None, {"reduceOnly": True, "clientOid": "c1"})
    assert type(info.value) is ccxt.ExchangeError and '"22002"' in str(info.value)


def test_a_unified_account_key_is_permission_denied() -> None:
    ex = ccxt.bitget()
    body = json.dumps(fixture("rest.error.40085.observed.json"))
    with pytest.raises(ccxt.PermissionDenied) as info:
        ex.handle_errors(400, "", "", "GET", {}, body, json.loads(body), {}, None)
    assert '"40085"' in str(info.value)
