"""What the contract suite needs to know about each simulator dialect, as freqtrade's ``EXCHANGES``
dict does for its online suite: where the dialect's ``small`` book holds what the tests move, and
where its REST routes live. A new dialect is added here and must pass the same tests
(``tests/conftest.py``'s ``dialect`` fixture refuses a dialect without a case)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
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
    hedge: Held  # a hedge-mode account's symbol (LONG and SHORT legs; one-way where ``hedge_mode`` is off)
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
    # the simulator's ledger units in one of the venue's amount units, by the ledger's symbol, where
    # they differ (OKX's contracts are ctVal base units, Gate's quanto_multiplier ones; the ledger keeps
    # base units)
    ledger_units: Mapping[str, float] = field(default_factory=dict)
    # whether the adapter reports the exchange's liquidation itself (a LIQUIDATION alert); Bitget's
    # reads no orders channel yet, so its liquidated leg is said as a close: a known gap, named here
    reports_liquidations: bool = True
    # whether the venue has a hedge mode (Hyperliquid has none: its book's ``hedge`` account is one-way)
    hedge_mode: bool = True
    # whether ccxt's market orders need a reference price (Hyperliquid's are IOC limits around it)
    market_needs_price: bool = False
    # whether a ccxt class speaks the venue (Bitunix's adapter is on a client of the project's own)
    ccxt: bool = True
    # whether the private pushes alone bring positions and balances; Bitunix's carry no liquidation
    # price, so each one is a trigger for a REST read of the account
    pushes_carry_positions: bool = True
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
    "okx": VenueCase(
        "okx",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/api/v5",
        lot=0.2,  # contracts of 0.01 BTC: 120 USDT at 60,000
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="/account/position/margin-balance",
        # OKX's "can't be the same trading direction", which ccxt does not map: a bare ExchangeError
        not_reduce_only=("ExchangeError", "51170"),
        ledger_units={"BTCUSDT": 0.01, "ETHUSDT": 0.1},  # OKX's ctVal; SOL's is one coin
    ),
    "bitunix": VenueCase(
        "bitunix",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/api/v1/futures",
        lot=0.002,
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="/account/adjust_position_margin",
        # "A [Reduce-only] order can not be in the same direction as the open position"
        not_reduce_only=("OrderRejected", "30019"),
        reports_liquidations=False,
        ccxt=False,
        pushes_carry_positions=False,
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
        # a BloFin contract of the simulator's books is one lot step (sim/dialects/blofin)
        ledger_units={"BTCUSDT": 0.001, "ETHUSDT": 0.001, "SOLUSDT": 1.0},
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
    "hyperliquid": VenueCase(
        "hyperliquid",
        cross=Held("main", "BTCUSDT", "BTC/USDC:USDC"),
        isolated=Held("main", "SOLUSDT", "SOL/USDC:USDC"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDC:USDC"),
        rest="/exchange",
        lot=0.002,
        transfer=123.0,  # a margin transfer is a whole number of USDC
        cross_other=Held("main", "ETHUSDT", "ETH/USDC:USDC"),
        listen_keys=False,
        margin_path="#updateIsolatedMargin",
        not_reduce_only=("InvalidOrder", "Reduce only order would increase position"),
        hedge_mode=False,
        market_needs_price=True,
    ),
    "gate": VenueCase(
        "gate",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/api/v4/futures/usdt",
        lot=2,  # contracts of 0.001 BTC
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        listen_keys=False,
        margin_path="/positions/SOL_USDT/margin",
        not_reduce_only=("InvalidOrder", "INCREASE_POSITION"),
        # a Gate contract of the simulator's books is one lot step (sim/dialects/gate)
        ledger_units={"BTCUSDT": 0.001, "ETHUSDT": 0.001, "SOLUSDT": 1.0},
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
