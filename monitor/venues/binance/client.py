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
4. A REST gate (``rest_gate``, shared by every client of a venue): a 418 or 429 reply closes it for its
   ``Retry-After`` (or the "banned until" time in Binance's -1003 message, whichever is later), and
   while it is closed every request, listenKey calls included, is refused with ccxt's
   ``DDoSProtection`` before it leaves. ccxt itself raises ``DDoSProtection`` for both statuses
   (binance ``handle_errors``) and keeps the reply's headers only as its ``last_response_headers``,
   which concurrent calls overwrite: the gate reads them where ccxt hands them over.

Connection management, subscriptions, pings, listenKey creation and keep-alive stay ccxt's.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any

import ccxt.pro as ccxtpro
from ccxt.base.errors import DDoSProtection

from monitor.venues.base import RestGate, hhmmss

FrameHandler = Callable[[str, Any], None]
BadFrameHandler = Callable[[str, Any, BaseException], None]


_BANNED_UNTIL = re.compile(r"banned until (\d{13})")


def ban_until_ms(now_ms: int, headers: Mapping[str, Any] | None, body: str | None) -> int:
    """When a 418/429 reply lets requests go again: ``Retry-After`` seconds from now, or the
    "banned until <ms>" of Binance's -1003 message, whichever is later; a minute when neither is
    given."""
    until = 0
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            with contextlib.suppress(ValueError):
                until = now_ms + int(float(str(value)) * 1000)
    found = _BANNED_UNTIL.search(body or "")
    if found:
        until = max(until, int(found.group(1)))
    return until or now_ms + RestGate.DEFAULT_RETRY_AFTER_S * 1000


class _Tapped:
    on_frame: FrameHandler | None = None
    on_bad_frame: BadFrameHandler | None = None
    rest_gate: RestGate | None = None

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        gate = self.rest_gate
        if gate is not None:
            until = gate.closed_until()
            if until is not None:
                name = getattr(self, "id", "exchange")
                raise DDoSProtection(f"{name} REST paused: banned by the exchange until {hhmmss(until)} UTC")
        return await super().fetch(url, method, headers, body)  # type: ignore[misc]

    def handle_errors(
        self,
        code: int,
        reason: str,
        url: str,
        method: str,
        headers: Any,
        body: Any,
        response: Any,
        request_headers: Any,
        request_body: Any,
    ) -> Any:
        if code in (418, 429) and self.rest_gate is not None:
            gate = self.rest_gate
            detail = f"HTTP {code} {str(body or '')[:120]}"
            gate.close(
                ban_until_ms(gate.clock(), headers, body if isinstance(body, str) else None), code, detail
            )
        return super().handle_errors(  # type: ignore[misc]
            code, reason, url, method, headers, body, response, request_headers, request_body
        )

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

    def forget_dial_backoff(self) -> None:
        """Drop ccxt's per-URL WebSocket dial backoff (``ws_dial_backoff``: 0.1 s doubling to 30 s
        with each failed dial), once the venue is known to answer again."""
        self.ws_dial_backoff: dict[str, Any] = {}

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
