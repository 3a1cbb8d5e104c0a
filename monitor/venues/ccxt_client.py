"""ccxt.pro clients with what every adapter on ccxt needs: a raw tap (``on_frame``), per-frame isolation
(``on_bad_frame``: a frame ccxt cannot decode, or whose handler raises, costs that frame only) and the
venue's shared REST gate (a 418/429 reply closes it for its ``Retry-After``; while it is closed no
request leaves). ``venues/binance/client.py`` says why each exists."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any

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


class TappedClient:
    """A ccxt.pro client mixin: the raw tap, per-frame isolation and the REST gate
    (``venues/binance/client.py`` says why each). ``skips_ccxt`` names the frames the tap reads
    alone, which ccxt need not parse."""

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
            # a 418/429 is the IP's limit whatever the body's code says (Bybit's may be any retCode)
            raise DDoSProtection(f"{getattr(self, 'id', 'exchange')} {detail}")
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
            if self.skips_ccxt(message):
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

    def skips_ccxt(self, message: Any) -> bool:
        """Whether ccxt's own handling of a tapped frame can be skipped (none by default)."""
        return False
