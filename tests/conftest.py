"""Shared fixtures: a running simulated Binance USD-M exchange, and real ccxt clients pointed at it.

- ``sim``: a started ``SimExchange`` on the ``small`` book (BTC, ETH, SOL; accounts ``main``,
  ``hedge``, ``trader``; see ``monitor.sim.book.small_book``) with its clock **paused**: move prices
  with ``sim.set_mark(...)`` and push them with ``await sim.publish_marks()``, or ``await sim.step()``.
- ``make_sim(book=..., scenario=..., **kwargs)``: start another one (stopped at teardown).
- ``dialect``: each simulator dialect in turn (``tests/dialect_cases.CASES``), and ``venue_sim``: the
  ``small`` book on its simulator, clock paused: the contract suite runs over these.
- ``make_ccxt_for(sim, account)``: a ``ccxt.pro`` client of the dialect ``sim`` speaks, logged in
  as ``account`` and pointed at it; closed at teardown.
- ``make_ccxt(sim, account, rest_only=False, rate_limit=False, **options)``: a ``ccxt.pro.binanceusdm``
  (or, with ``rest_only``, ``ccxt.async_support.binanceusdm``) logged in as ``account`` on ``sim`` and
  pointed at it with ``point_at``; ccxt's client-side rate limiter is off unless asked for (Binance's
  weights would make a test wait seconds); closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from monitor.sim.dialects import DIALECTS
from monitor.sim.exchange import SimExchange
from monitor.venues.binance.urls import point_at
from monitor.venues.loopback import point_at as point_at_bitget
from tests.dialect_cases import CASES, VenueCase

SimFactory = Callable[..., Awaitable[SimExchange]]
CcxtFactory = Callable[..., Any]


@pytest.fixture
async def sim() -> AsyncIterator[SimExchange]:
    async with SimExchange("small", clock=False) as exchange:
        yield exchange


@pytest.fixture(params=sorted(DIALECTS))
def dialect(request: pytest.FixtureRequest) -> VenueCase:
    """Each simulator dialect in turn (a dialect without a case fails here, not silently)."""
    name: str = request.param
    assert name in CASES, f"the contract suite has no case for the {name} dialect"
    return CASES[name]


@pytest.fixture
async def venue_sim(dialect: VenueCase) -> AsyncIterator[SimExchange]:
    """The ``small`` book on ``dialect``'s simulator, clock paused."""
    async with SimExchange("small", clock=False, dialect=dialect.venue) as exchange:
        yield exchange


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    started: list[SimExchange] = []

    async def factory(book: Any = "small", scenario: Any = None, **kwargs: Any) -> SimExchange:
        exchange = SimExchange(book, scenario, **kwargs)
        await exchange.start()
        started.append(exchange)
        return exchange

    yield factory
    for exchange in started:
        await exchange.stop()


@pytest.fixture
async def make_ccxt() -> AsyncIterator[CcxtFactory]:
    import ccxt.async_support
    import ccxt.pro

    clients: list[Any] = []

    def factory(
        sim: SimExchange, account: str, *, rest_only: bool = False, rate_limit: bool = False, **options: Any
    ) -> Any:
        cls = ccxt.async_support.binanceusdm if rest_only else ccxt.pro.binanceusdm
        client = cls({**sim.ccxt_config(account, **options), "enableRateLimit": rate_limit})
        client.timeout_on_exit = 0  # ccxt sleeps 250 ms on close by default; nothing to drain on loopback
        if sim.dialect.ccxt_id.startswith("binance"):  # Bybit's URLs are all in its ccxt_config
            point_at(client, sim.http_url, sim.ws_url)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


def as_ccxt_app_key(sim: SimExchange, account: str, client: Any) -> None:
    """A BloFin key created for ccxt's application, which takes the broker id ccxt puts on every
    order (a plain key refuses it, 152011); and a clock that never repeats a millisecond, which ccxt
    signs with as the nonce (BloFin refuses a nonce its key used within 60 s, 152407)."""
    sim.rest.broker_keys[sim.ledger.account(account).api_key] = client.options["brokerId"]
    last = [0]

    def strictly_increasing_ms() -> int:
        last[0] = max(last[0] + 1, sim.now_ms())
        return last[0]

    client.milliseconds = strictly_increasing_ms


@pytest.fixture
async def make_ccxt_for() -> AsyncIterator[CcxtFactory]:
    import ccxt.pro

    clients: list[Any] = []

    def factory(sim: SimExchange, account: str) -> Any:
        cls = getattr(ccxt.pro, sim.dialect.ccxt_id)
        client = cls({**sim.ccxt_config(account), "enableRateLimit": False})
        client.timeout_on_exit = 0
        if sim.dialect.ccxt_id == "bitget":
            point_at_bitget(client, sim.http_url, sim.ws_url)
        elif sim.dialect.ccxt_id.startswith("binance"):  # Bybit's URLs are all in its ccxt_config
            point_at(client, sim.http_url, sim.ws_url)
        elif sim.dialect.ccxt_id == "blofin":
            as_ccxt_app_key(sim, account, client)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()
