"""ccxt.pro's ``bybit`` with the guards every ccxt adapter shares (``venues/ccxt_client.py``): the raw
tap, per-frame isolation and the venue's shared REST gate. The ticker topic is read by the tap alone
(``parse.merge_ticker``): ccxt's ticker cache is not used, so ccxt need not parse it."""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient


class TappedBybit(TappedClient, ccxtpro.bybit):  # type: ignore[misc]
    def skips_ccxt(self, message: Any) -> bool:
        return isinstance(message, dict) and str(message.get("topic", "")).startswith("tickers.")
