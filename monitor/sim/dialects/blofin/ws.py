"""BloFin's WebSocket over the simulator's stream hub: ``/ws/public`` and ``/ws/private``.

- Keepalive: the client sends the text ``ping`` and gets the text ``pong`` (not JSON); a connection
  the client leaves silent for ``IDLE_S`` (30 s, BloFin's) is closed (``BlofinRestApi.idle_s``).
- Subscribe: ``{"op": "subscribe", "args": [{"channel", "instId"}]}``, one
  ``{"event": "subscribe", "arg": ...}`` per argument; a bad request is
  ``{"event": "error", "code": "60012", "msg": "Invalid request: <the request>"}``.
- Public: ``mark-price-candle1m`` per instrument, the only public stream with the mark (tickers have
  none); a push per published mark. The monitor polls REST ``/api/v1/market/mark-price`` instead.
- Private: ``login`` with ``sign`` = base64(hex HMAC-SHA256(secret, "/users/self/verify" + "GET" +
  timestamp + nonce)), timestamp in ms within 60 s and a nonce the key did not use within 60 s (the
  REST nonces' rule); failure is 60009. Then ``positions``, ``orders`` and ``account`` (whose ``data``
  is an object). The hub sends this socket a marker per ledger event (``Blofin.user_frame``); the
  socket expands it into the channels subscribed, from the ledger as it stands: an order push for a
  fill, and for a balance or position change the account's open legs (plus a ``positions`` "0" row
  for each leg closed since its last push) and the balance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import WSMessage, WSMsgType, web

from monitor.sim.dialects.blofin import wire
from monitor.sim.dialects.blofin.errors import passphrase_of
from monitor.sim.dialects.blofin.rest import WINDOW_MS, position_rows
from monitor.sim.ledger import Account
from monitor.sim.streams import MarketConn, UserConn

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

MARKER = "blofin.user"
PRIVATE_CHANNELS = ("positions", "orders", "orders-algo", "account")
MARK_CHANNEL = "mark-price-candle1m"
IDLE_S = 30.0


async def messages(ws: web.WebSocketResponse, idle_s: float) -> AsyncIterator[WSMessage]:
    """The client's messages until it closes, or until it stays silent ``idle_s``: BloFin drops such
    a connection (ccxt pings every 25 s)."""
    while True:
        try:
            msg = await ws.receive(timeout=idle_s)
        except TimeoutError:
            await ws.close(code=4000, message=b"idle")
            return
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return
        yield msg


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (``streams.publish_marks``)."""
    return f"{symbol.lower()}@markprice@1s"


def login_sign(timestamp: str, nonce: str, secret: str) -> str:
    prehash = "/users/self/verify" + "GET" + timestamp + nonce
    digest = hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def _invalid(text: str) -> str:
    return json.dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text[:512]}"})


class BlofinSocket(web.WebSocketResponse):
    """One client connection. Private sockets expand the hub's event markers into BloFin pushes."""

    def __init__(self, sim: SimExchange, heartbeat: float | None) -> None:
        super().__init__(heartbeat=heartbeat, autoping=True, max_msg_size=1 << 20)
        self.sim = sim
        self.account: Account | None = None
        self.channels: set[str] = set()
        self.pushed_legs: dict[tuple[str, str], Any] = {}  # leg -> its margin mode, last pushed open

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
        kind = marker[MARKER]
        if kind == "order" and "orders" in self.channels:
            order = acct.orders.get(int(marker["orderId"]))
            if order is not None:
                return [wire.push("orders", [order_row(self.sim, acct, order)], action="update")]
        if kind == "account":
            return self.snapshots(self.sim.now_ms())
        return []

    def snapshots(self, now: int, only: str | None = None) -> list[wire.JSON]:
        acct = self.account
        assert acct is not None
        frames: list[wire.JSON] = []
        if "positions" in self.channels and only in (None, "positions"):
            frames.append(wire.positions_push(self.position_rows(now)))
        if "account" in self.channels and only in (None, "account"):
            body = wire.balance(self.sim.ledger.risk(acct), now, with_pnl=True)
            frames.append(wire.push("account", body))
        return frames

    def position_rows(self, now: int) -> list[wire.JSON]:
        """The open legs, and a flat row for each leg open at the last push and closed since."""
        acct = self.account
        assert acct is not None
        ledger = self.sim.ledger
        rows = position_rows(self.sim, acct)
        open_now = {leg.key: acct.config(leg.symbol).margin_mode for leg in acct.open_legs()}
        for key, mode in self.pushed_legs.items():
            if key not in open_now:
                rows.append(wire.flat_position(ledger.specs[key[0]], key[1], mode, now))
        self.pushed_legs = open_now
        return rows


def order_row(sim: SimExchange, acct: Account, order: Any) -> wire.JSON:
    cfg = acct.config(order.symbol)
    spec = sim.ledger.specs[order.symbol]
    return wire.order(order, spec, hedge=acct.hedge_mode, mode=cfg.margin_mode, leverage=cfg.leverage)


async def serve_public(request: web.Request, sim: SimExchange) -> web.StreamResponse:
    hub = sim.streams
    ws = BlofinSocket(sim, hub.ping_interval or None)
    await ws.prepare(request)
    conn = MarketConn(ws, request, live=True)
    hub.market.add(conn)
    try:
        async for msg in messages(ws, sim.rest.idle_s):
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


def _by_inst(sim: SimExchange, inst: str) -> str | None:
    symbol = inst.upper().replace("-", "")
    spec = sim.ledger.specs.get(symbol)
    return symbol if spec is not None and wire.inst_id(spec) == inst.upper() else None


def _public_control(sim: SimExchange, conn: MarketConn, text: str) -> list[str]:
    req = _parse(text)
    op = req.get("op") if req else None
    args = req.get("args") if req else None
    if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
        return [_invalid(text)]
    replies = []
    for arg in args:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        symbol = _by_inst(sim, str(arg.get("instId", ""))) if isinstance(arg, dict) else None
        if channel != MARK_CHANNEL or symbol is None:
            replies.append(_invalid(text))
            continue
        replies.append(json.dumps({"event": op, "arg": arg}))
        if op == "subscribe":
            conn.streams.add(mark_stream(symbol))
        else:
            conn.streams.discard(mark_stream(symbol))
    return replies


async def serve_private(request: web.Request, sim: SimExchange) -> web.StreamResponse:
    hub = sim.streams
    ws = BlofinSocket(sim, hub.ping_interval or None)
    await ws.prepare(request)
    conn: UserConn | None = None
    try:
        async for msg in messages(ws, sim.rest.idle_s):
            if msg.type != WSMsgType.TEXT:
                continue
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            req = _parse(msg.data)
            op = req.get("op") if req else None
            raw_args = req.get("args") if req else None
            args: list[Any] = raw_args if isinstance(raw_args, list) else []
            if op == "login":
                reply, acct = _login(sim, args)
                await ws.send_str(reply)
                if acct is not None and conn is None:
                    ws.account = acct
                    conn = UserConn(ws, request, acct.name, listen_key=f"blofin:{id(ws)}")
                    hub.user.add(conn)
                    await _notify(sim)
                continue
            if op not in ("subscribe", "unsubscribe") or not args:
                await ws.send_str(_invalid(msg.data))
                continue
            if ws.account is None:
                await ws.send_str(json.dumps({"event": "error", "code": "60011", "msg": "Please log in"}))
                continue
            for arg in args:
                channel = arg.get("channel") if isinstance(arg, dict) else None
                if channel not in PRIVATE_CHANNELS:
                    await ws.send_str(_invalid(msg.data))
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
    failed = json.dumps({"event": "error", "code": "60009", "msg": "Login failed."})
    arg = args[0] if args and isinstance(args[0], dict) else {}
    acct = sim.ledger.account_by_key(str(arg.get("apiKey", "")))
    if acct is None or not hmac.compare_digest(str(arg.get("passphrase", "")), passphrase_of(acct)):
        return failed, None
    ts, nonce = str(arg.get("timestamp", "")), str(arg.get("nonce", ""))
    now = sim.now_ms()
    if not ts.isdigit() or abs(now - int(ts)) > WINDOW_MS or not nonce:
        return failed, None
    if not hmac.compare_digest(str(arg.get("sign", "")), login_sign(ts, nonce, acct.secret)):
        return failed, None
    if not sim.rest.nonces.fresh(acct.api_key, nonce, now):
        return failed, None
    return json.dumps({"event": "login", "code": "0", "msg": ""}), acct


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
