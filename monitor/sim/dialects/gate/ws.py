"""Gate's futures WebSocket v4 over the simulator's stream hub: one route, ``/v4/ws/futures/usdt``.

One socket serves public and private channels, as Gate's ``wss://fx-ws.gateio.ws/v4/ws/usdt`` does
(the path keeps ``/ws/futures/``: ccxt.pro's gate tells a futures socket from a spot one by its URL).

- Requests: ``{"time", "id"?, "channel", "event": "subscribe"|"unsubscribe", "payload", "auth"?}``; an
  ack echoes the ``id`` with ``"result": {"status": "success"}``; an error is ``{"error": {"code",
  "message"}}`` (1 bad structure, 2 invalid argument). ``futures.ping`` answers ``futures.pong``; the
  server also pings at the protocol level.
- Public: ``futures.tickers`` with a list of contracts (``mark_price`` inside), one push on subscribe
  and one per published mark: the socket joins the hub as a market connection on the per-symbol mark
  streams, so the core's fan-out reaches it unchanged.
- Private (``futures.positions``, ``balances``, ``liquidates``, ``orders``, ``autoorders``,
  ``usertrades``, ``position_closes``, ``auto_deleverages``, ``reduce_risk_limits``): every subscribe
  is signed on its own, ``auth.SIGN`` = hex(HMAC-SHA512(secret, "channel=<c>&event=<e>&time=<t>")),
  and its payload starts with the account's numeric user id; a wrong id is refused. A bad signature
  is answered as Gate did in the one capture: error code 2 with the REST auth error inside and
  ``"result": {"status": "failed"}``. The hub sends this socket a marker per ledger event
  (``Gate.user_frames``); the socket expands it into the channels subscribed: the changed legs on
  ``futures.positions`` (numbers; size 0 when closed), the new ``total`` on ``futures.balances``, a
  liquidation on ``futures.liquidates``, ``futures.orders`` (``is_liq``, ``text`` ``liq-...``) and
  ``futures.position_closes``. The simulator has no price-triggered orders: ``futures.autoorders``
  is acknowledged and stays silent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.gate import wire
from monitor.sim.dialects.gate.errors import uid_of
from monitor.sim.dialects.gate.rest import order_text
from monitor.sim.ledger import Account
from monitor.sim.streams import MarketConn, UserConn

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

MARKER = "gate.user"
SIGN_WINDOW_S = 60
PATH = "/v4/ws/futures/usdt"
PRIVATE_CHANNELS = frozenset(
    {
        "futures.positions",
        "futures.balances",
        "futures.liquidates",
        "futures.orders",
        "futures.autoorders",
        "futures.usertrades",
        "futures.position_closes",
        "futures.auto_deleverages",
        "futures.reduce_risk_limits",
    }
)


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (``streams.publish_marks``)."""
    return f"{symbol.lower()}@markprice@1s"


def subscribe_sign(channel: str, event: str, time: int, secret: str) -> str:
    payload = f"channel={channel}&event={event}&time={time}"
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


def marker(kind: str, **fields: Any) -> wire.JSON:
    return {MARKER: kind, **fields}


class GateSocket(web.WebSocketResponse):
    """One client connection; private subscriptions bind it to one account."""

    def __init__(self, sim: SimExchange, request: web.Request) -> None:
        heartbeat = sim.streams.ping_interval or None
        super().__init__(heartbeat=heartbeat, autoping=True, max_msg_size=1 << 20)
        self.sim = sim
        self.request = request
        self.decimal = request.headers.get("X-Gate-Size-Decimal") == "1"
        self.account: Account | None = None
        self.channels: set[str] = set()
        self.market: MarketConn | None = None
        self.user: UserConn | None = None
        self.total: float | None = None  # the account's ``total`` last pushed on futures.balances

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if not data.startswith('{"' + MARKER):
            await super().send_str(data, compress)
            return
        for frame in self.expand(json.loads(data)):
            await super().send_str(json.dumps(frame, separators=(",", ":")), compress)

    async def send_json_frame(self, frame: wire.JSON) -> None:
        await super().send_str(json.dumps(frame, separators=(",", ":")))

    # ---- the pushes of one ledger event ---------------------------------------------------------

    def expand(self, mark: dict[str, Any]) -> list[wire.JSON]:
        acct = self.account
        if acct is None:
            return []
        now = self.sim.now_ms()
        kind = mark[MARKER]
        frames: list[wire.JSON] = []
        if kind == "account":
            if "futures.positions" in self.channels and mark["legs"]:
                rows = [self._leg_row(acct, symbol, side, now) for symbol, side in mark["legs"]]
                frames.append(wire.push("futures.positions", rows, now))
            total = self.sim.ledger.risk(acct).wallet_balance
            if "futures.balances" in self.channels and total != self.total:
                # one row per change of ``total`` (a fill's fee and PnL, a liquidation's loss)
                change = total - self.total if self.total is not None else mark["change"]
                row = wire.balance_row(total, change, mark["type"], mark["text"], uid_of(acct), now)
                frames.append(wire.push("futures.balances", [row], now))
            self.total = total
        elif kind in ("liquidation", "order"):
            order = acct.orders.get(int(mark["orderId"]))
            if order is None:
                return frames
            spec = self.sim.ledger.specs[order.symbol]
            uid = uid_of(acct)
            if kind == "liquidation" and "futures.liquidates" in self.channels:
                leverage = acct.config(order.symbol).leverage
                frames.append(
                    wire.push(
                        "futures.liquidates", [wire.liquidate_row(order, spec, uid, leverage, now)], now
                    )
                )
            if "futures.orders" in self.channels:
                rest = self.sim.rest
                key = (acct.name, order.order_id)
                text = rest.texts.get(key) or order_text(order)
                row = wire.order(
                    order, spec, uid=uid, decimal=self.decimal, text=text, is_close=key in rest.closes
                )
                frames.append(wire.push("futures.orders", [row], now))
            if kind == "liquidation" and "futures.position_closes" in self.channels:
                row = wire.position_close_row(order, spec, uid, order_text(order), now)
                frames.append(wire.push("futures.position_closes", [row], now))
        return frames

    def _leg_row(self, acct: Account, symbol: str, side: str, now: int) -> wire.JSON:
        ledger = self.sim.ledger
        spec = ledger.specs[symbol]
        leg = ledger.leg_risk(acct, symbol, side)
        if leg.amount == 0:
            return wire.flat_position(spec, side, uid_of(acct), now, leg.update_time)
        row = wire.position(
            leg,
            spec,
            uid=uid_of(acct),
            taker_fee=wire.CONTRACT_TAKER_FEE,
            decimal=self.decimal,
            update_id=leg.update_time,
        )
        return wire.ws_position(row, now)


async def serve(request: web.Request, sim: SimExchange) -> web.StreamResponse:
    ws = GateSocket(sim, request)
    await ws.prepare(request)
    hub = sim.streams
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            for reply in await _control(sim, ws, msg.data):
                await ws.send_json_frame(reply)
            await _notify(sim)
    finally:
        if ws.market is not None:
            hub.market.discard(ws.market)
        if ws.user is not None:
            hub.user.discard(ws.user)
        await _notify(sim)
    return ws


def _error(req: wire.JSON, code: int, message: str, *, failed: bool = False) -> wire.JSON:
    now = req.get("_now", 0)
    body: wire.JSON = {
        "time": now // 1000,
        "time_ms": now,
        "channel": req.get("channel", ""),
        "event": req.get("event", ""),
        "error": {"code": code, "message": message},
        "result": {"status": "failed"} if failed else None,
    }
    if "id" in req:
        body["id"] = req["id"]
    return body


def _ack(req: wire.JSON) -> wire.JSON:
    now = req["_now"]
    body: wire.JSON = {
        "time": now // 1000,
        "time_ms": now,
        "channel": req["channel"],
        "event": req["event"],
        "result": {"status": "success"},
    }
    if "id" in req:
        body["id"] = req["id"]
    return body


async def _control(sim: SimExchange, ws: GateSocket, text: str) -> list[wire.JSON]:
    now = sim.now_ms()
    try:
        req = json.loads(text)
    except ValueError:
        req = None
    if not isinstance(req, dict):
        return [_error({"_now": now}, 1, "invalid argument struct")]
    req["_now"] = now
    channel = req.get("channel")
    if channel == "futures.ping":
        return [{"time": now // 1000, "time_ms": now, "channel": "futures.pong", "event": "", "result": None}]
    event = req.get("event")
    if event not in ("subscribe", "unsubscribe"):
        return [_error(req, 1, f"invalid event: {str(event)[:20]}")]
    payload = req.get("payload")
    if not isinstance(payload, list):
        return [_error(req, 2, "invalid argument: payload")]
    if channel == "futures.tickers":
        return _tickers(sim, ws, req, payload)
    if channel not in PRIVATE_CHANNELS:
        return [_error(req, 2, f"unknown channel {str(channel)[:40]}")]
    refusal = _check_private(sim, ws, req, payload)
    if refusal is not None:
        return [refusal]
    if event == "unsubscribe":
        ws.channels.discard(channel)
        return [_ack(req)]
    ws.channels.add(channel)
    if channel == "futures.balances" and ws.account is not None:
        ws.total = sim.ledger.risk(ws.account).wallet_balance
    return [_ack(req)]


def _tickers(sim: SimExchange, ws: GateSocket, req: wire.JSON, payload: list[Any]) -> list[wire.JSON]:
    specs = wire.specs_by_id(sim.ledger.specs)
    unknown = [c for c in payload if str(c) not in specs]
    if unknown or not payload:
        return [_error(req, 2, f"unknown contract {str(unknown[0] if unknown else '')[:40]}")]
    hub = sim.streams
    if ws.market is None:
        ws.market = MarketConn(ws, ws.request, live=True)
        hub.market.add(ws.market)
    replies = [_ack(req)]
    for cid in payload:
        spec = specs[str(cid)]
        if req["event"] == "unsubscribe":
            ws.market.streams.discard(mark_stream(spec.symbol))
            continue
        ws.market.streams.add(mark_stream(spec.symbol))
        if not sim.faults.marks_stalled:
            row = wire.ticker(str(cid), sim.ledger.marks[spec.symbol], ws.decimal)
            replies.append(wire.push("futures.tickers", [row], req["_now"]))
    return replies


def _check_private(sim: SimExchange, ws: GateSocket, req: wire.JSON, payload: list[Any]) -> wire.JSON | None:
    """Gate's checks on a private subscribe: the signature of this very request, then the user id."""
    auth = req.get("auth")
    if not isinstance(auth, dict) or auth.get("method") != "api_key":
        return _error(req, 4, '{"label":"INVALID_KEY","message":"Invalid key provided"}\n', failed=True)
    acct = sim.ledger.account_by_key(str(auth.get("KEY", "")))
    time = req.get("time")
    signed_ok = (
        acct is not None
        and isinstance(time, int)
        and abs(req["_now"] // 1000 - time) <= SIGN_WINDOW_S
        and hmac.compare_digest(
            str(auth.get("SIGN", "")),
            subscribe_sign(str(req["channel"]), str(req["event"]), time, acct.secret),
        )
    )
    if acct is None or not signed_ok:
        label = "INVALID_KEY" if acct is None else "INVALID_SIGNATURE"
        inner = json.dumps({"label": label, "message": "Signature mismatch"}, separators=(",", ":"))
        return _error(
            req,
            2,
            f"http get status code err, status : 400, url : http://127.0.0.1/ws_auth, info : {inner}\n",
            failed=True,
        )
    if not payload or str(payload[0]) != str(uid_of(acct)):
        return _error(req, 2, "invalid argument: user id does not match the key")
    if ws.account is not None and ws.account.name != acct.name:
        return _error(req, 2, "invalid argument: this connection belongs to another user")
    if ws.account is None:
        ws.account = acct
        ws.user = UserConn(ws, ws.request, acct.name, listen_key=f"gate:{id(ws)}")
        sim.streams.user.add(ws.user)
    return None


async def _notify(sim: SimExchange) -> None:
    hub = sim.streams
    async with hub.changed:
        hub.changed.notify_all()
