"""ccxt.pro's ``gate`` with the guards every ccxt adapter shares (``venues/ccxt_client.py``): the raw
tap, per-frame isolation and the venue's shared REST gate. The ``update`` pushes of the channels the
adapter reads (tickers, positions, balances, liquidates) are read by the tap alone, raw: ccxt's
parsers are not needed for them (its position handler guesses a side for a row it cannot place).
Acks and errors still go to ccxt, which resolves or fails its subscriptions with them."""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient

TAPPED_CHANNELS = frozenset(
    {"futures.tickers", "futures.positions", "futures.balances", "futures.liquidates"}
)


class TappedGate(TappedClient, ccxtpro.gate):  # type: ignore[misc]
    def skips_ccxt(self, message: Any) -> bool:
        return (
            isinstance(message, dict)
            and message.get("event") == "update"
            and message.get("channel") in TAPPED_CHANNELS
        )
