"""Bitunix's WebSockets over the simulator's stream hub, as the venue behaves (research note 3.3):

- The server speaks first: ``{"op":"connect","data":{"result":true}}``.
- ``{"op":"ping","ping":<s>}`` is answered ``{"op":"ping","pong":<echo>,"ping":<second the socket
  opened>}``. A protocol-level ping before any JSON frame gets the socket closed; a socket that sends
  nothing for ``IDLE_CLOSE_S`` is closed; more than 5 client messages in a second (pings included)
  gets it closed too.
- Subscribes are never acknowledged and an unknown symbol is ignored without a word; past 300
  channels on one connection the venue answers ``"subscribe channel > 300"`` and keeps the first 300.
  Unsubscribes are answered ``{"op":"unsubscribe","ts","data":"success"}``.
- ``/public/``: the ``price`` channel of a known symbol joins the hub's mark stream of that symbol.
- ``/private/``: ``{"op":"login","args":[{"apiKey","timestamp","nonce","sign"}]}``, the timestamp in
  seconds and the sign the double hash of nonce + timestamp + key; the reply's shape was never
  published, so ``{"op":"login","data":{"result":true|false,"msg"}}`` is this simulator's. After it
  every frame of the account (``position``, ``balance``, ``order`` pushes) reaches the socket.
"""

from __future__ import annotations

import asyncio
import collections
import hmac
import itertools
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.bitunix.rest import signature
from monitor.sim.streams import MarketConn, UserConn, normalise_stream

if TYPE_CHECKING:
    from monitor.sim.exchange import SimExchange

MAX_CHANNELS = 300
MAX_MESSAGES_PER_S = 5
IDLE_CLOSE_S = 60.0
_conn_ids = itertools.count(1)


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's per-second mark stream (what ``publish_marks`` matches)."""
    return normalise_stream(f"{symbol}@markPrice@1s")


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


class _Session:
    """What one socket has said: its channels, whether it sent JSON yet, its message rate."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.opened_s = sim.now_ms() // 1000
        self.channels: set[tuple[str, str]] = set()
        self.json_seen = False
        self.sent: collections.deque[float] = collections.deque()

    def too_fast(self) -> bool:
        now = asyncio.get_running_loop().time()
        while self.sent and now - self.sent[0] >= 1.0:
            self.sent.popleft()
        self.sent.append(now)
        return len(self.sent) > MAX_MESSAGES_PER_S


async def _serve(request: web.Request, sim: SimExchange, *, private: bool) -> web.WebSocketResponse:
    hub = sim.streams
    ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    session = _Session(sim)
    market = MarketConn(ws, request, live=True) if not private else None
    user: UserConn | None = None
    if market is not None:
        hub.market.add(market)
        await hub._notify()
    await ws.send_str(_dumps({"op": "connect", "data": {"result": True}}))
    try:
        while not ws.closed:
            try:
                msg = await ws.receive(timeout=IDLE_CLOSE_S)
            except TimeoutError:
                await ws.close(code=1000, message=b"idle")
                break
            if msg.type == WSMsgType.PING:
                if not session.json_seen:
                    await ws.close(code=1008, message=b"ping before any JSON frame")
                    break
                await ws.pong(msg.data)
                continue
            if msg.type != WSMsgType.TEXT:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                continue
            if session.too_fast():
                await ws.close(code=1008, message=b"too many messages")
                break
            session.json_seen = True
            try:
                req = json.loads(msg.data)
            except ValueError:
                continue
            if not isinstance(req, dict):
                continue
            op = req.get("op")
            if op == "ping":
                await ws.send_str(_dumps({"op": "ping", "pong": req.get("ping"), "ping": session.opened_s}))
            elif op == "login" and private:
                name = _login(sim, req)
                reply: dict[str, Any] = {"result": name is not None}
                if name is None:
                    reply["msg"] = "Sign signature error"
                await ws.send_str(_dumps({"op": "login", "data": reply}))
                if name is not None and user is None:
                    user = UserConn(ws, request, name, f"bitunix-{next(_conn_ids)}")
                    hub.user.add(user)
                    await hub._notify()
            elif op == "subscribe":
                refused = _subscribe(session, market, req.get("args"), sim)
                if refused:
                    await ws.send_str(
                        _dumps(
                            {
                                "op": "subscribe",
                                "data": {
                                    "msg": f"subscribe channel > {MAX_CHANNELS}",
                                    "nonce": "",
                                    "result": False,
                                },
                            }
                        )
                    )
                await hub._notify()
            elif op == "unsubscribe":
                for ch, symbol in _channels(req.get("args")):
                    session.channels.discard((ch, symbol))
                    if market is not None and ch == "price":
                        market.streams.discard(mark_stream(symbol))
                await ws.send_str(_dumps({"op": "unsubscribe", "ts": sim.now_ms(), "data": "success"}))
                await hub._notify()
    finally:
        if market is not None:
            hub.market.discard(market)
        if user is not None:
            hub.user.discard(user)
        await hub._notify()
    return ws


def _channels(args: Any) -> list[tuple[str, str]]:
    if not isinstance(args, list):
        return []
    out = []
    for a in args:
        if isinstance(a, dict) and isinstance(a.get("ch"), str):
            symbol = a.get("symbol")
            out.append((a["ch"], symbol if isinstance(symbol, str) else ""))
    return out


def _subscribe(session: _Session, market: MarketConn | None, args: Any, sim: SimExchange) -> bool:
    """Take the channels in silence, up to the cap; True when some were refused for it."""
    refused = False
    for ch, symbol in _channels(args):
        if (ch, symbol) in session.channels:
            continue
        if len(session.channels) >= MAX_CHANNELS:
            refused = True
            continue
        session.channels.add((ch, symbol))
        if market is not None and ch == "price" and symbol in sim.ledger.specs:
            market.streams.add(mark_stream(symbol))
    return refused


def _login(sim: SimExchange, req: dict[str, Any]) -> str | None:
    """The account a login names, when its signature holds; None otherwise."""
    args = req.get("args")
    if not isinstance(args, list) or len(args) != 1 or not isinstance(args[0], dict):
        return None
    a = args[0]
    key, stamp, nonce, sign = a.get("apiKey"), a.get("timestamp"), a.get("nonce"), a.get("sign")
    if not (isinstance(key, str) and isinstance(nonce, str) and isinstance(sign, str)):
        return None
    if not isinstance(stamp, int) or isinstance(stamp, bool) or stamp > 10**11:  # seconds, not ms
        return None
    acct = sim.ledger.account_by_key(key)
    if acct is None or not hmac.compare_digest(sign.lower(), signature(acct.secret, nonce, str(stamp), key)):
        return None
    return acct.name


async def serve_public(request: web.Request, sim: SimExchange) -> web.WebSocketResponse:
    return await _serve(request, sim, private=False)


async def serve_private(request: web.Request, sim: SimExchange) -> web.WebSocketResponse:
    return await _serve(request, sim, private=True)
