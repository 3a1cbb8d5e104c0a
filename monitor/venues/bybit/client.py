"""ccxt.pro's ``bybit`` with a raw tap: every WebSocket frame goes to ``on_frame`` before ccxt sees
it, a frame that breaks ccxt's handler costs that frame only, and REST waits while the venue's gate
is closed (a rate limit shared by every account of this host)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ccxt.pro as ccxtpro
from ccxt.base.errors import DDoSProtection

from monitor.venues.base import RestGate, hhmmss

FrameHandler = Callable[[str, Any], None]
BadFrameHandler = Callable[[str, Any, BaseException], None]


class TappedBybit(ccxtpro.bybit):  # type: ignore[misc]
    on_frame: FrameHandler | None = None
    on_bad_frame: BadFrameHandler | None = None
    rest_gate: RestGate | None = None

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        gate = self.rest_gate
        if gate is not None:
            until = gate.closed_until()
            if until is not None:
                raise DDoSProtection(f"bybit REST paused: rate limited until {hhmmss(until)} UTC")
        return await super().fetch(url, method, headers, body)

    def client(self, url: str) -> Any:
        client = super().client(url)
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
            if _is_ticker(message):
                return None  # the tap has read the mark; ccxt's ticker cache is not used
        try:
            return super().handle_message(client, message)
        except Exception as exc:
            if self.on_bad_frame is not None:
                self.on_bad_frame(getattr(client, "url", ""), message, exc)
            return None

    def forget_dial_backoff(self) -> None:
        self.ws_dial_backoff: dict[str, Any] = {}


def _is_ticker(message: Any) -> bool:
    return isinstance(message, dict) and str(message.get("topic", "")).startswith("tickers.")
