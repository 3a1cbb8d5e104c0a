"""ccxt.pro's hyperliquid with the guards every ccxt adapter shares (``venues/ccxt_client.py``): the raw
tap, per-frame isolation and the venue's shared REST gate.

The tap reads every data channel itself (``activeAssetCtx``, ``clearinghouseState``, ``userFills``)
and refuses what is none of them: ccxt's position cache never drops a closed position and its trade
cache is not used, so those frames skip ccxt. ccxt keeps what it does well: the socket, its pings
(``{"method": "ping"}`` every 20 s, ``pong`` read by ccxt), subscription bookkeeping, signing and the
REST transport. The connect banner (plain text, not JSON) is the tap's to ignore.
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient

BANNER = "Websocket connection established."
# what ccxt still reads: its keepalive's answer and the subscriptions' acknowledgements. Everything
# else is the tap's, "error" included: ccxt rejects every pending watch of the socket on one (a
# refused subscription would take the others with it); the tap reports it instead
CCXT_CHANNELS = frozenset({"pong", "subscriptionResponse", "post"})


class TappedHyperliquid(TappedClient, ccxtpro.hyperliquid):  # type: ignore[misc]
    def skips_ccxt(self, message: Any) -> bool:
        return not (isinstance(message, dict) and message.get("channel") in CCXT_CHANNELS)
