"""ccxt.pro's bitget with the guards every ccxt adapter shares (``venues/ccxt_client.py``): per-frame
isolation (a frame ccxt cannot decode, or whose handler raises, is reported to ``on_bad_frame`` and
skipped instead of tearing the socket down) and the venue's shared REST gate (a 418/429 closes it
for its ``Retry-After``). The raw tap stays unused: the adapter reads ccxt's parsed rows' ``info``."""

from __future__ import annotations

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient


class TappedBitget(TappedClient, ccxtpro.bitget):  # type: ignore[misc]
    pass
