"""ccxt.pro's Binance clients with two additions the monitor needs.

1. A raw tap: every decoded frame is handed to ``on_frame`` before ccxt handles it. ccxt has no handler
   for MARGIN_CALL or listenKeyExpired and its parsed positions drop ``isolatedWallet``; the monitor reads
   every field it trusts from the raw frame through its own validating parser.
2. Mark frames skip ccxt's own handling. ccxt turns each of the ~500 elements of an all-market frame
   into a unified ticker (about 30 ms a frame) that the monitor never reads: it takes the mark from the
   raw frame. ``watch_mark_prices`` then serves only to open the subscription and to raise when the
   connection fails, which is all the stream loop asks of it.
3. Per-frame isolation: a frame ccxt cannot decode (truncated JSON) or whose handler raises is reported
   to ``on_bad_frame`` and skipped. Without this, one hostile frame tears the socket down.

Connection management, subscriptions, pings, listenKey creation and keep-alive stay ccxt's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ccxt.pro as ccxtpro

FrameHandler = Callable[[str, Any], None]
BadFrameHandler = Callable[[str, Any, BaseException], None]


class _Tapped:
    on_frame: FrameHandler | None = None
    on_bad_frame: BadFrameHandler | None = None

    def client(self, url: str) -> Any:
        client = super().client(url)  # type: ignore[misc]
        if not getattr(client, "_monitor_guarded", False):
            decode = client.handle_text_or_binary_message

            def guarded(data: Any) -> None:
                try:
                    decode(data)
                except Exception as exc:  # a bad frame must not take the connection with it
                    if self.on_bad_frame is not None:
                        self.on_bad_frame(url, data, exc)

            client.handle_text_or_binary_message = guarded
            client._monitor_guarded = True
        return client

    def handle_message(self, client: Any, message: Any) -> Any:
        if self.on_frame is not None:
            self.on_frame(getattr(client, "url", ""), message)
            if _is_mark_frame(message):
                return None
        try:
            return super().handle_message(client, message)  # type: ignore[misc]
        except Exception as exc:
            if self.on_bad_frame is not None:
                self.on_bad_frame(getattr(client, "url", ""), message, exc)
            return None

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


class TappedBinanceUsdm(_Tapped, ccxtpro.binanceusdm):  # type: ignore[misc]
    pass


class TappedBinanceCoinm(_Tapped, ccxtpro.binancecoinm):  # type: ignore[misc]
    pass
