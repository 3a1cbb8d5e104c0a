"""ccxt.pro's ``okx`` with the guards every ccxt adapter shares (``venues/ccxt_client.py``): the raw
tap, per-frame isolation and the venue's shared REST gate. The ``mark-price``, ``positions``,
``account`` and ``orders`` pushes are read by the tap alone (``parse``): ccxt's caches are not used
(its ``positions`` cache never drops a closed position, its mark prices share the tickers' cache),
so ccxt need not parse them."""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient

TAPPED_CHANNELS = frozenset({"mark-price", "positions", "account", "orders"})


class TappedOkx(TappedClient, ccxtpro.okx):  # type: ignore[misc]
    def skips_ccxt(self, message: Any) -> bool:
        if not isinstance(message, dict) or "event" in message:
            return False
        arg = message.get("arg")
        return isinstance(arg, dict) and arg.get("channel") in TAPPED_CHANNELS
