"""The simulator's dialects, one per venue, keyed by the venue's name (as the config and the venue
registry spell it). Adding a venue to the simulator is a module here and a line in ``DIALECTS``."""

from __future__ import annotations

from monitor.sim.dialects.base import Dialect
from monitor.sim.dialects.binance_coinm import BinanceCoinm
from monitor.sim.dialects.binance_usdm import BinanceUsdm
from monitor.sim.dialects.bitget import Bitget
from monitor.sim.dialects.bitunix import Bitunix
from monitor.sim.dialects.blofin import Blofin
from monitor.sim.dialects.bybit import Bybit
from monitor.sim.dialects.gate import Gate
from monitor.sim.dialects.hyperliquid import Hyperliquid
from monitor.sim.dialects.okx import Okx

DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        BinanceUsdm(),
        BinanceCoinm(),
        Bitget(),
        Blofin(),
        Bitunix(),
        Bybit(),
        Gate(),
        Hyperliquid(),
        Okx(),
    )
}


def dialect_named(name: str) -> Dialect:
    """The dialect of venue ``name``; a ``ValueError`` lists the known ones otherwise."""
    dialect = DIALECTS.get(name)
    if dialect is None:
        raise ValueError(f"unknown simulator venue {name!r}; choose one of {', '.join(DIALECTS)}")
    return dialect


__all__ = ["DIALECTS", "Dialect", "dialect_named"]
