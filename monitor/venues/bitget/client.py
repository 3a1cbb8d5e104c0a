"""ccxt.pro's bitget with the Binance client's guards (``venues/binance/client.py``): per-frame
isolation (a frame ccxt cannot decode, or whose handler raises, is reported to ``on_bad_frame`` and
skipped instead of tearing the socket down) and the venue's shared REST gate (a 418/429 closes it
for its ``Retry-After``). The raw tap stays unused: the adapter reads ccxt's parsed rows' ``info``."""

from __future__ import annotations

import ccxt.pro as ccxtpro

from monitor.venues.binance.client import _Tapped


class TappedBitget(_Tapped, ccxtpro.bitget):  # type: ignore[misc]
    pass
