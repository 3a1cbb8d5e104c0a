"""ccxt.pro's Binance clients with what the monitor needs (the shared parts in ``venues/ccxt_client.py``).

1. A raw tap: every decoded frame is handed to ``on_frame`` before ccxt handles it. ccxt has no handler
   for MARGIN_CALL or listenKeyExpired and its parsed positions drop ``isolatedWallet``; the monitor reads
   every field it trusts from the raw frame through its own validating parser.
2. Mark frames skip ccxt's own handling. ccxt turns each of the ~500 elements of an all-market frame
   into a unified ticker (about 30 ms a frame) that the monitor never reads: it takes the mark from the
   raw frame. ``watch_mark_prices`` then serves only to open the subscription and to raise when the
   connection fails, which is all the stream loop asks of it.
3. Per-frame isolation: a frame ccxt cannot decode (truncated JSON) or whose handler raises is reported
   to ``on_bad_frame`` and skipped. Without this, one hostile frame tears the socket down.
4. A REST gate (``rest_gate``, shared by every client of a venue): a 418 or 429 reply closes it for its
   ``Retry-After`` (or the "banned until" time in Binance's -1003 message, whichever is later), and
   while it is closed every request, listenKey calls included, is refused with ccxt's
   ``DDoSProtection`` before it leaves. ccxt itself raises ``DDoSProtection`` for both statuses
   (binance ``handle_errors``) and keeps the reply's headers only as its ``last_response_headers``,
   which concurrent calls overwrite: the gate reads them where ccxt hands them over.

Connection management, subscriptions, pings, listenKey creation and keep-alive stay ccxt's.
"""

from __future__ import annotations

from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient


class _BinanceTap(TappedClient):
    def skips_ccxt(self, message: Any) -> bool:
        return _is_mark_frame(message)

    def forget_listen_key(self) -> None:
        """Make the next private subscription create a new listenKey (after listenKeyExpired, ccxt
        would otherwise reuse the dead one until its own refresh time)."""
        options: dict[str, Any] = self.options  # type: ignore[attr-defined]
        for value in options.values():
            if isinstance(value, dict) and "lastAuthenticatedTime" in value:
                value["lastAuthenticatedTime"] = 0


def _is_mark_frame(message: Any) -> bool:
    if isinstance(message, dict) and "stream" in message:
        message = message.get("data")
    if isinstance(message, list):
        return bool(message) and isinstance(message[0], dict) and message[0].get("e") == "markPriceUpdate"
    return isinstance(message, dict) and message.get("e") == "markPriceUpdate"


class TappedBinanceUsdm(_BinanceTap, ccxtpro.binanceusdm):  # type: ignore[misc]
    pass


class TappedBinanceCoinm(_BinanceTap, ccxtpro.binancecoinm):  # type: ignore[misc]
    pass
