"""Bitget's v2 WebSocket over the simulator's stream hub: ``/v2/ws/public`` and ``/v2/ws/private``.

- Keepalive: the client sends the text ``ping`` and gets the text ``pong`` (not JSON).
- Subscribe: ``{"op": "subscribe", "args": [{"instType", "channel", "instId"}]}``, one
  ``{"event": "subscribe", "arg": ...}`` per argument; an unknown channel is 30016 "Param error", an
  unknown symbol 30001 (``{"event": "error", "code": <number>, ...}``).
- Public: the ``ticker`` channel (``markPrice`` inside), a snapshot on subscribe then one push per
  published mark. The connection joins the hub as a market connection whose stream names are the
  hub's per-symbol mark streams, so the core's mark fan-out reaches it unchanged.
- Private: ``login`` with ``sign`` = base64(HMAC-SHA256(secret, timestamp + "GET" + "/user/verify")),
  timestamp in seconds within 30 s; then ``positions`` (a full snapshot of every open position on every
  push), ``account``, ``orders`` and ``fill``. The hub sends this socket a marker per ledger event
  (``Bitget.user_frame``); the socket expands it into the channels subscribed, from the ledger as it
  stands, which is what makes the positions pushes full snapshots.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.bitget import wire
from monitor.sim.dialects.bitget.errors import passphrase_of
from monitor.sim.dialects.bitget.rest import position_rows
from monitor.sim.ledger import Account
from monitor.sim.streams import MarketConn, UserConn

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

MARKER = "bitget.user"
LOGIN_WINDOW_S = 30
PRIVATE_CHANNELS = ("positions", "account", "orders", "fill")


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (``streams.publish_marks``)."""
    return f"{symbol.lower()}@markprice@1s"


def login_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), (timestamp + "GET/user/verify").encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _error(code: int, msg: str, arg: Any = None, op: str = "subscribe") -> str:
    body: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "op": op}
    if arg is not None:
        body["arg"] = arg
    return json.dumps(body)


class BitgetSocket(web.WebSocketResponse):
    """One client connection. Private sockets expand the hub's event markers into Bitget pushes."""

    def __init__(self, sim: SimExchange, heartbeat: float | None) -> None:
        super().__init__(heartbeat=heartbeat, autoping=True, max_msg_size=1 << 20)
        self.sim = sim
        self.account: Account | None = None
        self.channels: set[str] = set()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if not data.startswith('{"' + MARKER):
            await super().send_str(data, compress)
            return
        for frame in self.expand(json.loads(data)):
            await super().send_str(json.dumps(frame, separators=(",", ":")), compress)

    def expand(self, marker: dict[str, Any]) -> list[wire.JSON]:
        """The pushes one ledger event makes on the channels this socket subscribed to."""
        acct = self.account
        if acct is None:
            return []
        now = self.sim.now_ms()
        kind = marker[MARKER]
        frames: list[wire.JSON] = []
        if kind == "trade":
            order = acct.orders.get(int(marker["orderId"]))
            if order is not None:
                if "orders" in self.channels:
                    frames.append(wire.push("orders", [order_row(self.sim, acct, order)], now))
                trade = next((t for t in acct.trades if t.trade_id == marker["tradeId"]), None)
                if trade is not None and "fill" in self.channels:
                    frames.append(wire.push("fill", [wire.ws_fill(trade, order, hedge=acct.hedge_mode)], now))
        elif kind == "account":
            frames.extend(self.snapshots(now))
        return frames

    def snapshots(self, now: int, only: str | None = None) -> list[wire.JSON]:
        acct = self.account
        assert acct is not None
        frames: list[wire.JSON] = []
        if "positions" in self.channels and only in (None, "positions"):
            rows = [wire.ws_position(row) for row in position_rows(self.sim, acct)]
            frames.append(wire.push("positions", rows, now))
        if "account" in self.channels and only in (None, "account"):
            row = wire.account(self.sim.ledger.risk(acct), hedge=acct.hedge_mode)
            frames.append(wire.push("account", [wire.ws_account(row)], now))
        return frames


def order_row(sim: SimExchange, acct: Account, order: Any) -> wire.JSON:
    cfg = acct.config(order.symbol)
    spec = sim.ledger.specs[order.symbol]
    return wire.ws_order(order, spec, hedge=acct.hedge_mode, mode=cfg.margin_mode, leverage=cfg.leverage)


async def serve_public(request: web.Request, sim: SimExchange) -> web.StreamResponse:
    hub = sim.streams
    ws = BitgetSocket(sim, hub.ping_interval or None)
    await ws.prepare(request)
    conn = MarketConn(ws, request, live=True)
    hub.market.add(conn)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            for reply in _public_control(sim, conn, msg.data):
                await ws.send_str(reply)
            await _notify(sim)
    finally:
        hub.market.discard(conn)
        await _notify(sim)
    return ws


def _public_control(sim: SimExchange, conn: MarketConn, text: str) -> list[str]:
    req = _parse(text)
    if req is None:
        return [_error(30002, "illegal request", op="")]
    op = req.get("op")
    args = req.get("args")
    if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
        return [_error(30003, "invalid op", op=str(op))]
    replies = []
    for arg in args:
        if not isinstance(arg, dict):
            replies.append(_error(30016, "Param error", arg, str(op)))
            continue
        channel, inst, symbol = arg.get("channel"), arg.get("instType"), str(arg.get("instId", "")).upper()
        if channel != "ticker":
            replies.append(_error(30016, "Param error", arg, str(op)))
            continue
        if inst != wire.PRODUCT or symbol not in sim.ledger.specs:
            msg = f"instType:{inst},channel:{channel},instId:{symbol} doesn't exist"
            replies.append(_error(30001, msg, arg, str(op)))
            continue
        replies.append(json.dumps({"event": op, "arg": arg}))
        if op == "subscribe":
            conn.streams.add(mark_stream(symbol))
            if not sim.faults.marks_stalled:
                replies.append(json.dumps(wire.ticker_push(symbol, sim.ledger.marks[symbol], sim.marks_ms)))
        else:
            conn.streams.discard(mark_stream(symbol))
    return replies


async def serve_private(request: web.Request, sim: SimExchange) -> web.StreamResponse:
    hub = sim.streams
    ws = BitgetSocket(sim, hub.ping_interval or None)
    await ws.prepare(request)
    conn: UserConn | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            req = _parse(msg.data)
            if req is None:
                await ws.send_str(_error(30002, "illegal request", op=""))
                continue
            op = req.get("op")
            raw_args = req.get("args")
            args: list[Any] = raw_args if isinstance(raw_args, list) else []
            if op == "login":
                reply, acct = _login(sim, args)
                await ws.send_str(reply)
                if acct is not None and conn is None:
                    ws.account = acct
                    conn = UserConn(ws, request, acct.name, listen_key=f"bitget:{id(ws)}")
                    hub.user.add(conn)
                    await _notify(sim)
                continue
            if op not in ("subscribe", "unsubscribe"):
                await ws.send_str(_error(30003, "invalid op", op=str(op)))
                continue
            if ws.account is None:
                await ws.send_str(_error(30004, "User not logged in", op=str(op)))
                continue
            for arg in args:
                channel = arg.get("channel") if isinstance(arg, dict) else None
                if channel not in PRIVATE_CHANNELS or arg.get("instType") != wire.PRODUCT:
                    await ws.send_str(_error(30016, "Param error", arg, str(op)))
                    continue
                await ws.send_str(json.dumps({"event": op, "arg": arg}))
                if op == "unsubscribe":
                    ws.channels.discard(channel)
                    continue
                ws.channels.add(channel)
                for frame in ws.snapshots(sim.now_ms(), only=channel):
                    await ws.send_str(json.dumps(frame, separators=(",", ":")))
    finally:
        if conn is not None:
            hub.user.discard(conn)
            await _notify(sim)
    return ws


def _login(sim: SimExchange, args: list[Any]) -> tuple[str, Account | None]:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    acct = sim.ledger.account_by_key(str(arg.get("apiKey", "")))
    if acct is None:
        return _error(30011, "Invalid ACCESS_KEY", op="login"), None
    if not hmac.compare_digest(str(arg.get("passphrase", "")), passphrase_of(acct)):
        return _error(30012, "Invalid ACCESS_PASSPHRASE", op="login"), None
    ts = str(arg.get("timestamp", ""))
    if not ts.isdigit() or abs(sim.now_ms() // 1000 - int(ts)) > LOGIN_WINDOW_S:
        return _error(30013, "Invalid ACCESS_TIMESTAMP", op="login"), None
    if not hmac.compare_digest(str(arg.get("sign", "")), login_sign(ts, acct.secret)):
        return _error(30015, "Invalid sign", op="login"), None
    return json.dumps({"event": "login", "code": 0}), acct


def _parse(text: str) -> dict[str, Any] | None:
    try:
        req = json.loads(text)
    except ValueError:
        return None
    return req if isinstance(req, dict) else None


async def _notify(sim: SimExchange) -> None:
    hub = sim.streams
    async with hub.changed:
        hub.changed.notify_all()


def marker(kind: str, **fields: Any) -> wire.JSON:
    return {MARKER: kind, **fields}
