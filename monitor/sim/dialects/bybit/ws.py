"""Bybit v5 WebSockets over the simulator's stream hub.

- ``/v5/public/linear`` (and ``/inverse``): ``{"op": "subscribe", "args": ["tickers.BTCUSDT"]}`` is
  acknowledged (``{"success": true, "ret_msg": "", "op": "subscribe", "conn_id", "req_id"}``), then the
  symbol's ticker ``snapshot`` is sent at once and ``delta`` frames follow with each mark. The hub
  knows a ticker subscription as the symbol's per-second mark stream, so ``publish_marks`` reaches it.
- ``/v5/private``: ``{"op": "auth", "args": [key, expires, sign]}`` with sign = hex HMAC-SHA256 of
  ``"GET/realtime" + expires``; then the account's ``position``, ``wallet``, ``order`` and
  ``execution`` topics are pushed (every frame of the account goes to its authenticated sockets).
- ``{"op": "ping"}`` is answered with ``pong`` on both (public: ``{"success", "ret_msg": "pong"}``;
  private: ``{"op": "pong", "args": [ms]}``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.bybit import wire
from monitor.sim.streams import MarketConn, UserConn, normalise_stream

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

_conn_ids = itertools.count(1)


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (what ``publish_marks`` matches)."""
    return normalise_stream(f"{symbol}@markPrice@1s")


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def _ack(req: dict[str, Any], conn_id: str, *, success: bool = True, msg: str = "") -> str:
    body: dict[str, Any] = {"success": success, "ret_msg": msg, "conn_id": conn_id, "op": req.get("op")}
    if "req_id" in req:
        body["req_id"] = req["req_id"]
    return _dumps(body)


async def serve_public(request: web.Request, sim: SimExchange) -> web.WebSocketResponse:
    hub = sim.streams
    ws = hub._response()
    await ws.prepare(request)
    conn = MarketConn(ws, request, live=True)
    conn_id = f"sim-{next(_conn_ids)}"
    hub.market.add(conn)
    await hub._notify()
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except ValueError:
                await ws.send_str(
                    _dumps({"success": False, "ret_msg": "error:invalid json", "conn_id": conn_id})
                )
                continue
            if not isinstance(req, dict):
                continue
            op = req.get("op")
            if op == "ping":
                await ws.send_str(_ack(req, conn_id, msg="pong"))
            elif op in ("subscribe", "unsubscribe"):
                args = req.get("args")
                if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
                    await ws.send_str(_ack(req, conn_id, success=False, msg="error:args invalid"))
                    continue
                symbols = [a.split(".", 1)[1] for a in args if a.startswith("tickers.")]
                unknown = [s for s in symbols if s not in sim.ledger.specs]
                if unknown or len(symbols) != len(args):
                    await ws.send_str(
                        _ack(req, conn_id, success=False, msg=f"error:handler not found,topic:{args[0]}")
                    )
                    continue
                await ws.send_str(_ack(req, conn_id))
                for s in symbols:
                    if op == "subscribe":
                        conn.streams.add(mark_stream(s))
                        snap = wire.ticker(sim.ledger.specs[s], sim.ledger.marks[s], sim.now_ms())
                        await ws.send_str(_dumps(ticker_frame(s, snap, "snapshot", sim.now_ms())))
                    else:
                        conn.streams.discard(mark_stream(s))
                await hub._notify()
            else:
                await ws.send_str(_ack(req, conn_id, success=False, msg=f"error:unknown op {op}"))
    finally:
        hub.market.discard(conn)
        await hub._notify()
    return ws


def ticker_frame(symbol: str, data: dict[str, Any], kind: str, now_ms: int) -> dict[str, Any]:
    return {"topic": f"tickers.{symbol}", "type": kind, "data": data, "cs": now_ms, "ts": now_ms}


def auth_signature(expires: str, secret: str) -> str:
    return hmac.new(secret.encode(), f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()


async def serve_private(request: web.Request, sim: SimExchange) -> web.WebSocketResponse:
    hub = sim.streams
    ws = hub._response()
    await ws.prepare(request)
    conn_id = f"sim-{next(_conn_ids)}"
    conn: UserConn | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(req, dict):
                continue
            op = req.get("op")
            if op == "ping":
                await ws.send_str(
                    _dumps(
                        {
                            "req_id": req.get("req_id", ""),
                            "op": "pong",
                            "args": [str(sim.now_ms())],
                            "conn_id": conn_id,
                        }
                    )
                )
            elif op == "auth":
                args = req.get("args")
                acct = None
                if isinstance(args, list) and len(args) == 3:
                    key, expires, sign = (str(a) for a in args)
                    candidate = sim.ledger.account_by_key(key)
                    if (
                        candidate is not None
                        and expires.isdigit()
                        and int(expires) > sim.now_ms()
                        and hmac.compare_digest(sign.lower(), auth_signature(expires, candidate.secret))
                    ):
                        acct = candidate
                if acct is None:
                    await ws.send_str(_ack(req, conn_id, success=False, msg="Request not authorized"))
                    continue
                await ws.send_str(_ack(req, conn_id))
                if conn is None:
                    conn = UserConn(ws, request, acct.name, f"bybit-{conn_id}")
                    hub.user.add(conn)
                    await hub._notify()
            elif op in ("subscribe", "unsubscribe"):
                if conn is None:
                    await ws.send_str(_ack(req, conn_id, success=False, msg="Request not authorized"))
                else:
                    await ws.send_str(_ack(req, conn_id))
            else:
                await ws.send_str(_ack(req, conn_id, success=False, msg=f"error:unknown op {op}"))
    finally:
        if conn is not None:
            hub.user.discard(conn)
            await hub._notify()
    return ws
