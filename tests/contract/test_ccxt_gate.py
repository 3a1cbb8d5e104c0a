"""What the Gate adapter relies on in ccxt, pinned against the real ccxt / ccxt.pro ``gate`` client and
the simulator's Gate dialect over loopback. Each check names the behaviour and the code that depends
on it, so a ccxt upgrade that changes one fails here, not silently in production.

- ``venues/gate/venue.py`` calls raw endpoints through the implicit API and reads Gate's bodies as
  sent; it reads the contract's default taker rate from ``market['info']['taker_fee_rate']`` because
  ccxt's ``market['taker']`` is a fixed 0.05 %.
- ``venues/gate/urls.py`` keeps the perpetuals' sockets under ``/ws/futures/``: ccxt.pro's gate tells a
  futures socket by its URL (``get_market_type_by_url``) and its handlers key their caches by it.
- ``venues/gate/client.py`` overrides ``Exchange.client(url)`` and ``Exchange.handle_message``;
  ``subscribe_private`` refuses without ``uid`` and puts it first in every private payload.
- ccxt sends sizes as integers of contracts (``amount`` signed into ``size``), market orders as price
  "0" with tif "ioc", the ``X-Gate-Size-Decimal: 1`` header, query-string margin POSTs, and signs with
  HMAC-SHA512 over a sorted query (checked by the dialect).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.pro
import pytest
from ccxt.async_support.base.ws.client import Client
from ccxt.base import errors as ccxt_errors

from monitor.sim.dialects.gate import Gate
from monitor.sim.exchange import SimExchange
from monitor.venues.gate.client import TappedGate
from monitor.venues.gate.urls import loopback_urls

# every raw endpoint venue.py calls
IMPLICIT_CALLS = (
    "publicSpotGetTime",
    "publicFuturesGetSettleTickers",
    "publicFuturesGetSettleRiskLimitTiers",
    "privateFuturesGetSettleAccounts",
    "privateFuturesGetSettlePositions",
    "privateFuturesGetSettlePositionsContract",
    "privateFuturesGetSettleDualCompPositionsContract",
    "privateFuturesPostSettleOrders",
    "privateFuturesGetSettleOrdersOrderId",
    "privateFuturesPostSettlePositionsContractMargin",
    "privateFuturesPostSettleDualCompPositionsContractMargin",
)


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


def client_for(sim: SimExchange, account: str, clients: list[Any], cls: Any = ccxt.pro.gate) -> Any:
    ex = cls({**sim.ccxt_config(account), "enableRateLimit": False})
    ex.timeout_on_exit = 0
    clients.append(ex)
    return ex


def test_the_implicit_endpoints_exist() -> None:
    ex = ccxt.pro.gate()
    missing = [name for name in IMPLICIT_CALLS if not callable(getattr(ex, name, None))]
    assert not missing, f"ccxt's gate lost implicit methods venue.py calls: {missing}"


def test_a_futures_socket_is_told_by_its_url() -> None:
    ex = ccxt.pro.gate()
    assert ex.get_market_type_by_url(ex.urls["api"]["swap"]["usdt"]) == "swap"
    rebased = loopback_urls("http://127.0.0.1:9", "ws://127.0.0.1:9")
    assert rebased["swap"]["usdt"] == "ws://127.0.0.1:9/v4/ws/futures/usdt"
    assert ex.get_market_type_by_url(rebased["swap"]["usdt"]) == "swap"
    # a plain rebase loses the futures marker: the positions handler would look up a 'spot' cache
    assert ex.get_market_type_by_url("ws://127.0.0.1:9/v4/ws/usdt") == "spot"
    assert rebased["private"]["futures"] == "http://127.0.0.1:9/api/v4"


def test_the_hooks_the_tap_overrides_exist() -> None:
    assert callable(getattr(ccxt.pro.gate, "handle_message", None)), "Exchange.handle_message is gone"
    assert callable(getattr(ccxt.pro.gate, "client", None)), "Exchange.client(url) is gone"
    assert callable(getattr(Client, "handle_text_or_binary_message", None))


@pytest.mark.parametrize(
    ("label", "cls"),
    [
        ("INVALID_SIGNATURE", ccxt_errors.AuthenticationError),
        ("REQUEST_EXPIRED", ccxt_errors.AuthenticationError),
        ("INCREASE_POSITION", ccxt_errors.InvalidOrder),
        ("POSITION_EMPTY", ccxt_errors.InvalidOrder),
        ("INSUFFICIENT_AVAILABLE", ccxt_errors.InsufficientFunds),
        ("ORDER_NOT_FOUND", ccxt_errors.OrderNotFound),
        ("TOO_MANY_REQUESTS", ccxt_errors.RateLimitExceeded),
        ("SERVER_ERROR", ccxt_errors.ExchangeNotAvailable),
        # no entry in ccxt 4.5.90: a bare ExchangeError, which errors.py reads by label
        ("REDUCE_EXCEEDED", ccxt_errors.ExchangeError),
        ("POSITION_DUAL_MODE", ccxt_errors.ExchangeError),
    ],
)
def test_labels_map_to_the_classes_errors_py_expects(label: str, cls: type[Exception]) -> None:
    ex = ccxt.pro.gate()
    body = f'{{"label":"{label}"}}'  # the label alone, as some endpoints answer
    with pytest.raises(cls) as raised:
        ex.handle_errors(400, "Bad Request", "u", "GET", {}, body, {"label": label}, {}, None)
    assert type(raised.value) is cls


async def test_markets_carry_the_contract_and_its_default_taker_rate(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    markets = await ex.load_markets()
    btc = markets["BTC/USDT:USDT"]
    assert btc["contractSize"] == 0.001 and btc["precision"]["amount"] == 1
    assert btc["taker"] == 0.0005  # ccxt's fixed figure, not the contract's
    assert float(btc["info"]["taker_fee_rate"]) == 0.00075


async def test_orders_go_out_as_gate_wants_them(sim: SimExchange, clients: list[Any]) -> None:
    """Integer contracts, price 0 with tif ioc, the size header; the reply's id above 2^53 survives
    ccxt's parsing as a string."""
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    order = await ex.create_order("BTC/USDT:USDT", "market", "sell", 3, None, {"reduceOnly": True})
    assert order["id"] == str(int(order["id"])) and int(order["id"]) > 2**53
    assert order["info"]["size"] == "-3" and order["info"]["tif"] == "ioc"


async def test_private_subscribes_need_the_uid(sim: SimExchange, clients: list[Any]) -> None:
    ex = client_for(sim, "main", clients, TappedGate)
    ex.uid = None
    await ex.load_markets()
    with pytest.raises(ccxt_errors.ArgumentsRequired, match="uid"):
        await ex.watch_balance()


async def test_add_margin_sends_change_in_the_query_and_keeps_precision(
    sim: SimExchange, clients: list[Any]
) -> None:
    ex = client_for(sim, "main", clients)
    await ex.load_markets()
    await ex.privateFuturesPostSettlePositionsContractMargin(
        {"settle": "usdt", "contract": "SOL_USDT", "change": "12.345678"}
    )
    assert sim.ledger.account("main").legs["SOLUSDT", "BOTH"].isolated_wallet == pytest.approx(1_512.345678)
