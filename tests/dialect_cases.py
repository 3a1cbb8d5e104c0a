"""What the contract suite needs to know about each simulator dialect, as freqtrade's ``EXCHANGES``
dict does for its online suite: where the dialect's ``small`` book holds what the tests move, and
where its REST routes live. A new dialect is added here and must pass the same tests
(``tests/conftest.py``'s ``dialect`` fixture refuses a dialect without a case)."""

from __future__ import annotations

from dataclasses import dataclass


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
    # the venue's error code for an order refused as not reduce-only
    reduce_only_code: str = "-2022"
    # the REST path of a margin transfer into an isolated leg (default: ``rest`` + /positionMargin)
    transfer_path: str = ""
    # whether the venue's user stream hangs on a listen key (Binance) rather than a signed login
    listen_keys: bool = True


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
    "bybit": VenueCase(
        "bybit",
        cross=Held("main", "BTCUSDT", "BTC/USDT:USDT"),
        isolated=Held("main", "SOLUSDT", "SOL/USDT:USDT"),
        hedge=Held("hedge", "BTCUSDT", "BTC/USDT:USDT"),
        rest="/v5",
        lot=0.002,
        transfer=123.45,
        cross_other=Held("main", "ETHUSDT", "ETH/USDT:USDT"),
        reduce_only_code="110017",
        transfer_path="/v5/position/add-margin",
        listen_keys=False,
    ),
}
