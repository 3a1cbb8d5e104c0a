"""The WebSocket side of the simulator: market streams and user-data streams.

Routes follow Binance's 2026 split, which ccxt.pro uses (its ``get_ws_url`` turns the configured
``.../ws`` into ``.../market/ws`` and ``.../private/ws?listenKey=``):

- ``/market/ws`` and ``/market/ws/<anything>``: raw streams; subscribe with a ``SUBSCRIBE`` frame
  (``{"method": "SUBSCRIBE", "params": [...], "id": N}`` -> ``{"result": null, "id": N}``) or name the
  stream in the path (``/market/ws/btcusdt@markPrice``). ccxt appends a stream index (``/market/ws/0``).
- ``/market/stream?streams=a/b``: combined streams, each payload wrapped as ``{"stream", "data"}``.
- ``/private/ws?listenKey=K`` and ``/private/ws/K``: one account's user data.
- ``/public/...``, and the legacy ``/ws`` and ``/stream``: subscriptions are acknowledged and nothing is
  ever delivered, as Binance does for mark prices on the wrong route.

Mark-price streams served: ``!markPrice@arr@1s``, ``!markPrice@arr`` (every 3 s), ``<symbol>@markPrice@1s``
and ``<symbol>@markPrice`` (every 3 s). The server pings every ``ping_interval`` seconds and drops a
connection whose pong does not come back, like Binance (3 minutes by default).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger("monitor.sim")

ARR_1S = "!markprice@arr@1s"
ARR_3S = "!markprice@arr"


@dataclass(eq=False)
class MarketConn:
    ws: web.WebSocketResponse
    request: web.Request
    live: bool
    combined: bool = False
    streams: set[str] = field(default_factory=set)


@dataclass(eq=False)
class UserConn:
    ws: web.WebSocketResponse
    request: web.Request
    account: str
    listen_key: str
    silenced: bool = False


def normalise_stream(name: str) -> str:
    """Binance stream names are case-insensitive for our purposes (``!markPrice@arr`` vs symbols in
    lower case)."""
    return name.strip().lower()


class StreamHub:
    """Every open market and user connection, and how frames reach them."""

    def __init__(self, ping_interval: float = 180.0) -> None:
        self.ping_interval = ping_interval
        self.market: set[MarketConn] = set()
        self.user: set[UserConn] = set()
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        """Notified whenever a connection opens, closes or changes its subscriptions."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        async with self.changed:
            await self.changed.wait_for(predicate)

    # ---- connection handlers ------------------------------------------------------------------

    async def serve_market(
        self, request: web.Request, *, live: bool, combined: bool = False
    ) -> web.WebSocketResponse:
        ws = self._response()
        await ws.prepare(request)
        conn = MarketConn(ws, request, live, combined)
        tail = request.match_info.get("tail", "")
        for name in tail.split("/"):
            if "@" in name:
                conn.streams.add(normalise_stream(name))
        for name in request.query.get("streams", "").split("/"):
            if name:
                conn.streams.add(normalise_stream(name))
        self.market.add(conn)
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._control(conn.streams, msg.data)
                    if reply is not None:
                        await ws.send_str(reply)
                    await self._notify()
        finally:
            self.market.discard(conn)
            await self._notify()
        return ws

    async def serve_user(
        self, request: web.Request, account: str | None, listen_key: str
    ) -> web.WebSocketResponse:
        ws = self._response()
        await ws.prepare(request)
        if account is None:
            await ws.close(code=1008, message=b"invalid listenKey")
            return ws
        conn = UserConn(ws, request, account, listen_key)
        self.user.add(conn)
        await self._notify()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._control(set(), msg.data)
                    if reply is not None:
                        await ws.send_str(reply)
        finally:
            self.user.discard(conn)
            await self._notify()
        return ws

    def _response(self) -> web.WebSocketResponse:
        return web.WebSocketResponse(
            heartbeat=self.ping_interval if self.ping_interval > 0 else None,
            autoping=True,
            max_msg_size=1 << 20,
        )

    @staticmethod
    def _control(streams: set[str], text: str) -> str | None:
        """Answer a live-subscription request the way Binance does."""
        try:
            req = json.loads(text)
        except ValueError:
            return json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
        if not isinstance(req, dict):
            return json.dumps({"error": {"code": 2, "msg": "Invalid request"}, "id": None})
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return json.dumps({"error": {"code": 2, "msg": "Invalid request: invalid params"}, "id": rid})
            for p in params:
                if method == "SUBSCRIBE":
                    streams.add(normalise_stream(p))
                else:
                    streams.discard(normalise_stream(p))
            return json.dumps({"result": None, "id": rid})
        if method == "LIST_SUBSCRIPTIONS":
            return json.dumps({"result": sorted(streams), "id": rid})
        if method == "SET_PROPERTY":
            return json.dumps({"result": None, "id": rid})
        if method == "GET_PROPERTY":
            return json.dumps({"result": False, "id": rid})
        return json.dumps({"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": rid})

    def subscribers(self, stream: str | None = None) -> int:
        """Live market connections subscribed to ``stream`` (any stream when None)."""
        want = normalise_stream(stream) if stream else None
        return sum(1 for c in self.market if c.live and c.streams and (want is None or want in c.streams))

    def user_connections(self, account: str) -> int:
        return sum(1 for c in self.user if c.account == account and not c.silenced)

    # ---- sending ------------------------------------------------------------------------------

    async def publish_marks(
        self,
        every_second: dict[str, dict[str, Any]],
        *,
        three_second: bool,
    ) -> int:
        """Send the mark updates (symbol -> markPriceUpdate) to every subscriber; returns frames sent."""
        if not self.market:
            return 0
        arr_text: str | None = None
        sends: list[tuple[web.WebSocketResponse, str]] = []
        for conn in list(self.market):
            if not conn.live or not conn.streams:
                continue
            for stream in conn.streams:
                payload: Any = None
                if stream == ARR_1S or (three_second and stream == ARR_3S):
                    if arr_text is None:
                        arr_text = json.dumps(list(every_second.values()), separators=(",", ":"))
                    if not conn.combined:
                        sends.append((conn.ws, arr_text))
                        continue
                    payload = list(every_second.values())
                elif stream.endswith("@markprice@1s") or (three_second and stream.endswith("@markprice")):
                    symbol = stream.split("@", 1)[0].upper()
                    payload = every_second.get(symbol)
                if payload is None:
                    continue
                body = {"stream": stream, "data": payload} if conn.combined else payload
                sends.append((conn.ws, json.dumps(body, separators=(",", ":"))))
        await self._send_all(sends)
        return len(sends)

    async def send_raw_market(self, text: str) -> int:
        sends = [(conn.ws, text) for conn in list(self.market) if conn.live]
        await self._send_all(sends)
        return len(sends)

    async def send_user(self, account: str, texts: Iterable[str]) -> int:
        conns = [c for c in list(self.user) if c.account == account and not c.silenced]
        sent = 0
        for text in texts:
            await self._send_all([(c.ws, text) for c in conns])
            sent += len(conns)
        return sent

    async def expire(self, listen_key: str, text: str) -> None:
        """Send ``listenKeyExpired`` on the key's connections and leave them open and silent."""
        conns = [c for c in list(self.user) if c.listen_key == listen_key and not c.silenced]
        await self._send_all([(c.ws, text) for c in conns])
        for c in conns:
            c.silenced = True

    async def close_user(self, listen_key: str) -> None:
        for c in [c for c in list(self.user) if c.listen_key == listen_key]:
            await c.ws.close()

    async def drop_all(self, *, abrupt: bool = False) -> int:
        """Close every socket: a close handshake (code 1001 going away), or a TCP reset."""
        conns: list[MarketConn | UserConn] = [*self.market, *self.user]
        for conn in conns:
            if abrupt and conn.request.transport is not None:
                conn.request.transport.abort()
        await asyncio.gather(
            *(conn.ws.close(code=1001, message=b"going away") for conn in conns), return_exceptions=True
        )
        return len(conns)

    @staticmethod
    async def _send_all(sends: list[tuple[web.WebSocketResponse, str]]) -> None:
        if not sends:
            return
        results = await asyncio.gather(
            *(ws.send_str(text) for ws, text in sends if not ws.closed), return_exceptions=True
        )
        for r in results:
            if isinstance(r, Exception) and not isinstance(r, ConnectionError):
                log.debug("stream send failed: %r", r)
