"""What the contract suite needs to know about each simulator dialect, as freqtrade's ``EXCHANGES``
dict does for its online suite: where the dialect's ``small`` book holds what the tests move, and
where its REST routes live. A new dialect is added here and must pass the same tests
(``tests/conftest.py``'s ``dialect`` fixture refuses a dialect without a case)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange


@dataclass(frozen=True)
class Held:
    """A leg of the ``small`` book: its account, the exchange's symbol id and ccxt's symbol."""

    account: str
    symbol: str
    unified: str


@dataclass(frozen=True)
class VenueCase:
    """What the contract suite needs to know about one dialect's ``small`` book and routes."""

    venue: str
    cross: Held  # a one-way cross long
    isolated: Held  # a one-way isolated long
    hedge: Held  # a hedge-mode account's symbol (LONG and SHORT legs)
    rest: str  # the REST prefix faults are aimed at
    lot: float  # a small order the venue accepts, in its amount unit (base units or contracts)
    transfer: float  # a margin transfer to the isolated leg, in its margin asset
    # another cross symbol in the same pool as ``cross`` (a short), where the book has one
    cross_other: Held | None = None
    # the user stream hangs on a listen key taken over REST (Binance); Bitget logs in on the socket
    listen_keys: bool = True
    # the margin-transfer route under ``rest``, and how the venue refuses an order that is not
    # reduce-only (ccxt's exception class, and the venue's code in its text)
    margin_path: str = "/positionMargin"
    not_reduce_only: tuple[str, str] = ("InvalidOrder", "-2022")
    # whether the adapter reports the exchange's liquidation itself (a LIQUIDATION alert); Bitget's
    # reads no orders channel yet, so its liquidated leg is said as a close: a known gap, named here
    reports_liquidations: bool = True
    # the adapter polls the marks over REST (BloFin streams none): no market socket to wait for or
    # to send frames on; the marks stream is up once the daemon says so
    marks_polled: bool = False


CASES: dict[str, VenueCase] = {
    "binanceusdm": VenueCase(
        "binanceusdm",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/fapi/v1",
        lot=0.002,  # 120 USDT at 60,000: above the 100 USDT minimum notional
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
    ),
    "binancecoinm": VenueCase(
        "binancecoinm",
        cross=Held("main", "BTCUSD_PERP", "BTC/USD:BTC"),
        isolated=Held("iso", "ETHUSD_PERP", "ETH/USD:ETH"),
        hedge=Held("hedge", "BTCUSD_PERP", "BTC/USD:BTC"),
        rest="/dapi/v1",
        lot=1,
        transfer=0.0123,
    ),
    "bitget": VenueCase(
        "bitget",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/api/v2/mix",
        lot=0.002,
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="/account/set-margin",
        # Bitget's "No position to close", which ccxt does not map: a bare ExchangeError
        not_reduce_only=("ExchangeError", "22002"),
        reports_liquidations=False,
    ),
    "blofin": VenueCase(
        "blofin",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/api/v1",
        lot=2,  # contracts of 0.001 BTC
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="",  # BloFin's API has no margin transfer
        # "no position to reduce", refused inside data[0]
        not_reduce_only=("InvalidOrder", "102022"),
        marks_polled=True,
    ),
    "bybit": VenueCase(
        "bybit",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/v5",
        lot=0.002,
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="/position/add-margin",
        not_reduce_only=("InvalidOrder", "110017"),
    ),
}


async def wait_marks_source(
    sim: SimExchange, connected: Callable[[], Collection[str]], seconds: float = 10
) -> None:
    """Wait until the daemon's marks can move: a market subscription on the simulator, or, for a
    venue whose marks are polled, the daemon's marks stream declared up (``connected()``)."""
    case = CASES[sim.dialect.name]
    if not case.marks_polled:
        await asyncio.wait_for(sim.wait_market_subscribers(), seconds)
        return
    stream = f"{case.venue}:marks"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while stream not in connected():
        if loop.time() > deadline:
            raise TimeoutError(f"{stream} not up within {seconds} s")
        await asyncio.sleep(0.01)
