"""OKX v5 WebSockets over the simulator's stream hub: ``/ws/v5/public`` and ``/ws/v5/private``.

- Keepalive: the client sends the text ``ping`` and gets the text ``pong``. A connection that
  received nothing and was sent nothing for ``idle_cut_s`` (30 s on OKX) is closed, as OKX cuts a
  connection "if the subscription is not established or data has not been pushed for more than 30
  seconds". A close the server decides (the hub dropping its sockets) is announced by the ``64008``
  notice first.
- Subscribe: ``{"op": "subscribe", "args": [{"channel", ...}], "id"?}``, one
  ``{"event": "subscribe", "arg", "connId"}`` per argument; an unknown channel or instrument is
  ``{"event": "error", "code": "60018", ...}``, a private channel before login ``60011``.
- Public: ``mark-price`` per ``instId``; the current mark is pushed on subscribe, then every published
  mark. The connection joins the hub as a market connection on the hub's per-symbol mark streams.
- Private: ``login`` with ``sign`` = base64(HMAC-SHA256(secret, timestamp + "GET" +
  "/users/self/verify")), timestamp in seconds within 30 s, and the passphrase; failure ``60009``. Then
  ``positions`` (a snapshot on subscribe, ``event_update``s with the changed positions, a closed one
  with ``pos`` "0", and a snapshot of the open ones every ``snapshot_s``), ``account`` (likewise) and
  ``orders``. The hub sends this socket a marker per ledger event (``Okx.user_frame``); the socket
  expands it into the channels subscribed, from the ledger as it stands.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.okx import wire
from monitor.sim.dialects.okx.errors import passphrase_of
from monitor.sim.ledger import Account
from monitor.sim.streams import MarketConn, UserConn

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

MARKER = "okx.user"
LOGIN_WINDOW_S = 30
PRIVATE_CHANNELS = ("positions", "account", "orders")
NOTICE_64008 = {
    "event": "notice",
    "code": "64008",
    "msg": "The connection will soon be closed for a service upgrade. Please reconnect.",
}

_conn_ids = itertools.count(1)


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (``streams.publish_marks``)."""
    return f"{symbol.lower()}@markprice@1s"


def login_sign(timestamp: str, secret: str) -> str:
    prehash = timestamp + "GET" + "/users/self/verify"
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def marker(kind: str, **fields: Any) -> wire.JSON:
    return {MARKER: kind, **fields}


class OkxSocket(web.WebSocketResponse):
    """One client connection: its idle watchdog, and (private) the expansion of the hub's markers."""

    def __init__(self, sim: SimExchange, *, idle_cut_s: float, snapshot_s: float) -> None:
        super().__init__(autoping=True, max_msg_size=1 << 20)
        self.sim = sim
        self.conn_id = f"{next(_conn_ids):08x}"
        self.idle_cut_s = idle_cut_s
        self.snapshot_s = snapshot_s
        self.account: Account | None = None
        self.channels: dict[str, wire.JSON] = {}  # channel -> the arg it was subscribed with
        self.last_activity = asyncio.get_running_loop().time()
        self.closing_by_server = False

    def touch(self) -> None:
        self.last_activity = asyncio.get_running_loop().time()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if data.startswith('{"' + MARKER):
            frames = [_dumps(f) for f in self.expand(json.loads(data))]
        else:
            frames = [data]
        for text in frames:
            self.touch()
            await super().send_str(text, compress)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        """A server going away (the hub's ``drop_all``, code 1001) announces it with OKX's
        ``64008`` notice first; a close the client started does not."""
        if code == 1001 and not self.closed and not self.closing_by_server:
            self.closing_by_server = True
            with contextlib.suppress(Exception):
                await super().send_str(_dumps({**NOTICE_64008, "connId": self.conn_id}))
        return await super().close(code=code, message=message, drain=drain)

    async def watchdog(self) -> None:
        """The 30 s silence cut, and (private, logged in) the periodic snapshots."""
        loop = asyncio.get_running_loop()
        next_snapshot = loop.time() + self.snapshot_s
        while not self.closed:
            now = loop.time()
            if now - self.last_activity >= self.idle_cut_s:
                self.closing_by_server = True  # a cut, not an upgrade: no notice
                await super().close(code=4004, message=b"No data received in 30s.")
                return
            if self.account is not None and now >= next_snapshot:
                next_snapshot = now + self.snapshot_s
                for frame in self.snapshots():
                    with contextlib.suppress(Exception):
                        await self.send_str(_dumps(frame))
            wake = min(self.last_activity + self.idle_cut_s, next_snapshot)
            await asyncio.sleep(max(0.01, wake - loop.time()))

    # ---- private pushes -----------------------------------------------------------------------

    def _push(self, channel: str, data: list[wire.JSON], event_type: str | None = None) -> wire.JSON:
        arg = dict(self.channels[channel])
        arg["uid"] = self.uid
        frame: wire.JSON = {"arg": arg}
        if event_type is not None:
            frame.update({"eventType": event_type, "curPage": 1, "lastPage": True})
        frame["data"] = data
        return frame

    @property
    def uid(self) -> str:
        assert self.account is not None
        return str(int(hashlib.sha256(self.account.api_key.encode()).hexdigest()[:15], 16))

    def expand(self, mark: dict[str, Any]) -> list[wire.JSON]:
        """The pushes one ledger event makes on the channels this socket subscribed to."""
        acct = self.account
        if acct is None:
            return []
        kind = mark[MARKER]
        ledger = self.sim.ledger
        frames: list[wire.JSON] = []
        if kind == "order" and "orders" in self.channels:
            order = acct.orders.get(int(mark["orderId"]))
            if order is not None:
                spec = ledger.specs[order.symbol]
                cfg = acct.config(order.symbol)
                row = wire.order(
                    order, spec, mode=cfg.margin_mode, leverage=cfg.leverage, hedge=acct.hedge_mode
                )
                if mark["execution"] == "NEW":
                    row.update(state="live", accFillSz="0", fillSz="0", fillPx="", avgPx="", fillTime="")
                else:
                    spec_q = float(mark["lastQty"])
                    row.update(
                        fillSz=wire.num(wire.contracts(spec, spec_q)),
                        fillPx=wire.num(float(mark["lastPrice"])),
                        tradeId=str(mark["tradeId"]),
                        fillPnl=wire.num(float(mark["realized"])),
                        fillFee=wire.num(-float(mark["commission"])),
                    )
                frames.append(self._push("orders", [row]))
        elif kind == "account":
            symbols = mark["symbols"]
            if "positions" in self.channels:
                rows = self.position_rows([tuple(s) for s in symbols], include_flat=True)
                if rows:
                    frames.append(self._push("positions", rows, "event_update"))
            if "account" in self.channels:
                frames.append(self._push("account", [self.balance_row()], "event_update"))
        return frames

    def position_rows(self, legs: list[tuple[str, str]] | None, *, include_flat: bool) -> list[wire.JSON]:
        acct = self.account
        assert acct is not None
        ledger = self.sim.ledger
        now = self.sim.now_ms()
        risk = ledger.risk(acct)
        ratio = wire.okx_ratio(risk.cross.maint_margin, risk.cross.equity)
        if legs is None:
            chosen = list(risk.legs)
        else:
            pool = ledger.cross_pool(acct)
            chosen = [ledger.leg_risk(acct, symbol, ps, pool) for symbol, ps in legs]
        return [
            wire.position(
                leg, ledger.specs[leg.symbol], taker_fee=acct.taker_fee, cross_okx_ratio=ratio, now_ms=now
            )
            for leg in chosen
            if include_flat or leg.amount != 0
        ]

    def balance_row(self) -> wire.JSON:
        acct = self.account
        assert acct is not None
        return wire.balance(self.sim.ledger.risk(acct), acct.taker_fee, self.sim.now_ms())

    def snapshots(self, only: str | None = None) -> list[wire.JSON]:
        frames: list[wire.JSON] = []
        if "positions" in self.channels and only in (None, "positions"):
            frames.append(self._push("positions", self.position_rows(None, include_flat=False), "snapshot"))
        if "account" in self.channels and only in (None, "account"):
            frames.append(self._push("account", [self.balance_row()], "snapshot"))
        return frames


def _error(code: str, msg: str, conn_id: str, req_id: Any = None) -> str:
    body: dict[str, Any] = {"event": "error", "code": code, "msg": msg, "connId": conn_id}
    if req_id is not None:
        body["id"] = req_id
    return _dumps(body)


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


async def serve_public(request: web.Request, sim: SimExchange, idle_cut_s: float) -> web.StreamResponse:
    hub = sim.streams
    ws = OkxSocket(sim, idle_cut_s=idle_cut_s, snapshot_s=float("inf"))
    await ws.prepare(request)
    conn = MarketConn(ws, request, live=True)
    hub.market.add(conn)
    watchdog = asyncio.create_task(ws.watchdog())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ws.touch()
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            for reply in _public_control(sim, ws, conn, msg.data):
                await ws.send_str(reply)
            await _notify(sim)
    finally:
        watchdog.cancel()
        hub.market.discard(conn)
        await _notify(sim)
    return ws


def _public_control(sim: SimExchange, ws: OkxSocket, conn: MarketConn, text: str) -> list[str]:
    req = _parse(text)
    if req is None:
        return [_error("60012", f"Invalid request: {text[:200]}", ws.conn_id)]
    op, args, rid = req.get("op"), req.get("args"), req.get("id")
    if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
        return [_error("60012", f"Invalid request: {text[:200]}", ws.conn_id, rid)]
    by_inst = {wire.inst_id(s): s for s in sim.ledger.specs.values()}
    replies = []
    for arg in args:
        channel = arg.get("channel") if isinstance(arg, dict) else None
        inst = str(arg.get("instId", "")) if isinstance(arg, dict) else ""
        if channel != "mark-price" or inst not in by_inst:
            replies.append(
                _error(
                    "60018", f"Wrong URL or channel:{channel},instId:{inst} doesn't exist", ws.conn_id, rid
                )
            )
            continue
        ack: dict[str, Any] = {"event": op, "arg": arg, "connId": ws.conn_id}
        if rid is not None:
            ack["id"] = rid
        replies.append(_dumps(ack))
        symbol = by_inst[inst].symbol
        if op == "subscribe":
            conn.streams.add(mark_stream(symbol))
            if not sim.faults.marks_stalled:
                replies.append(_dumps(mark_push(inst, sim.ledger.marks[symbol], sim.marks_ms)))
        else:
            conn.streams.discard(mark_stream(symbol))
    return replies


def mark_push(inst: str, mark: float, now_ms: int) -> wire.JSON:
    row = {"instType": "SWAP", "instId": inst, "markPx": wire.num(mark), "ts": str(now_ms)}
    return {"arg": {"channel": "mark-price", "instId": inst}, "data": [row]}


async def serve_private(
    request: web.Request, sim: SimExchange, idle_cut_s: float, snapshot_s: float
) -> web.StreamResponse:
    hub = sim.streams
    ws = OkxSocket(sim, idle_cut_s=idle_cut_s, snapshot_s=snapshot_s)
    await ws.prepare(request)
    conn: UserConn | None = None
    watchdog = asyncio.create_task(ws.watchdog())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            ws.touch()
            if msg.data == "ping":
                await ws.send_str("pong")
                continue
            req = _parse(msg.data)
            if req is None:
                await ws.send_str(_error("60012", f"Invalid request: {msg.data[:200]}", ws.conn_id))
                continue
            op, rid = req.get("op"), req.get("id")
            raw_args = req.get("args")
            args: list[Any] = raw_args if isinstance(raw_args, list) else []
            if op == "login":
                acct = _login(sim, args)
                if acct is None:
                    await ws.send_str(_error("60009", "Login failed.", ws.conn_id, rid))
                    continue
                await ws.send_str(_dumps({"event": "login", "code": "0", "msg": "", "connId": ws.conn_id}))
                if conn is None:
                    ws.account = acct
                    conn = UserConn(ws, request, acct.name, listen_key=f"okx:{ws.conn_id}")
                    hub.user.add(conn)
                    await _notify(sim)
                continue
            if op not in ("subscribe", "unsubscribe"):
                await ws.send_str(_error("60012", f"Invalid request: {msg.data[:200]}", ws.conn_id, rid))
                continue
            if ws.account is None:
                await ws.send_str(_error("60011", "Please log in", ws.conn_id, rid))
                continue
            for arg in args:
                channel = arg.get("channel") if isinstance(arg, dict) else None
                if channel not in PRIVATE_CHANNELS:
                    await ws.send_str(
                        _error("60018", f"Wrong URL or channel:{channel} doesn't exist", ws.conn_id, rid)
                    )
                    continue
                ack: dict[str, Any] = {"event": op, "arg": arg, "connId": ws.conn_id}
                if rid is not None:
                    ack["id"] = rid
                await ws.send_str(_dumps(ack))
                if op == "unsubscribe":
                    ws.channels.pop(channel, None)
                    continue
                ws.channels[channel] = {k: v for k, v in arg.items() if k != "extraParams"}
                for frame in ws.snapshots(only=channel):
                    await ws.send_str(_dumps(frame))
    finally:
        watchdog.cancel()
        if conn is not None:
            hub.user.discard(conn)
            await _notify(sim)
    return ws


def _login(sim: SimExchange, args: list[Any]) -> Account | None:
    arg = args[0] if args and isinstance(args[0], dict) else {}
    acct = sim.ledger.account_by_key(str(arg.get("apiKey", "")))
    if acct is None:
        return None
    if not hmac.compare_digest(str(arg.get("passphrase", "")), passphrase_of(acct)):
        return None
    ts = str(arg.get("timestamp", ""))
    if not ts.isdigit() or abs(sim.now_ms() // 1000 - int(ts)) > LOGIN_WINDOW_S:
        return None
    if not hmac.compare_digest(str(arg.get("sign", "")), login_sign(ts, acct.secret)):
        return None
    return acct
