"""Hyperliquid's WebSocket (``/ws``) over the simulator's stream hub.

On connect the server sends the plain-text frame ``Websocket connection established.`` (not JSON).
``{"method": "ping"}`` is answered ``{"channel": "pong"}``. ``{"method": "subscribe"|"unsubscribe",
"subscription": {...}}`` is echoed on ``subscriptionResponse``; a duplicate gets ``{"channel":
"error", "data": "Already subscribed: ..."}``, an unknown type ``Invalid subscription``, and a user
beyond the tenth followed from this IP (every loopback socket of the simulator) ``Cannot track more
than 10 total users.``; the socket stays open. A socket silent for ``IDLE_S`` is closed, as the
exchange closes one it has not heard from in 60 s.

Channels: ``activeAssetCtx {coin}`` (the coin's context with its mark, at once and with each mark the
simulator publishes), ``allMids`` (mids, at once), and per user ``clearinghouseState`` (a full
snapshot at once and after every change), ``userFills`` (a snapshot flagged ``isSnapshot``, then each
fill), ``userEvents`` (channel ``user``: fills and liquidations, no snapshot) and ``orderUpdates``.
"""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from monitor.sim.dialects.hyperliquid import signing, wire
from monitor.sim.streams import MarketConn, UserConn, normalise_stream

if TYPE_CHECKING:
    from monitor.sim.dialects.hyperliquid.rest import HyperliquidRestApi
    from monitor.sim.exchange import SimExchange

BANNER = "Websocket connection established."
IDLE_S = 60.0
MAX_USERS = 10
USER_CHANNELS = {"clearinghouseState", "userFills", "userEvents", "orderUpdates"}
# the channel a subscription's pushes arrive on (userEvents' is "user")
CHANNEL_OF = {"userEvents": "user"}
_ids = itertools.count(1)


def mark_stream(symbol: str) -> str:
    """The hub's name for a symbol's mark stream (what ``publish_marks`` matches)."""
    return normalise_stream(f"{symbol}@markPrice@1s")


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))


def _error(text: str) -> str:
    return _dumps({"channel": "error", "data": text})


class _Filtered:
    """A socket as one user's stream sees it: only the channels subscribed for that user pass."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.channels: set[str] = set()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def close(self, **kwargs: Any) -> bool:
        return await self.ws.close(**kwargs)

    async def send_str(self, text: str) -> None:
        channel = json.loads(text).get("channel")
        if channel in self.channels:
            await self.ws.send_str(text)


async def serve(request: web.Request, sim: SimExchange) -> web.WebSocketResponse:
    api: HyperliquidRestApi = sim.rest
    hub = sim.streams
    ws = web.WebSocketResponse(receive_timeout=IDLE_S, max_msg_size=1 << 20)
    await ws.prepare(request)
    sid = next(_ids)
    market = MarketConn(ws, request, live=True)
    users: dict[str, tuple[UserConn, _Filtered]] = {}
    subscribed: set[str] = set()
    api.ws_users[sid] = set()
    hub.market.add(market)
    await hub._notify()
    await ws.send_str(BANNER)
    try:
        while True:
            try:
                msg = await ws.receive()
            except TimeoutError:
                await ws.close(code=1000, message=b"idle")
                break
            if msg.type != WSMsgType.TEXT:
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                    break
                continue
            try:
                req = json.loads(msg.data)
            except ValueError:
                await ws.send_str(
                    _error(f"Error parsing JSON into valid websocket request: {msg.data[:100]}")
                )
                continue
            method = req.get("method") if isinstance(req, dict) else None
            if method == "ping":
                await ws.send_str(_dumps({"channel": "pong"}))
            elif method in ("subscribe", "unsubscribe"):
                await _subscription(sim, api, sid, req, market, users, subscribed)
            elif method == "post":
                await ws.send_str(_error("The simulator takes actions over REST only"))
            else:
                await ws.send_str(
                    _error(f"Error parsing JSON into valid websocket request: {msg.data[:100]}")
                )
    finally:
        hub.market.discard(market)
        for conn, _ in users.values():
            hub.user.discard(conn)
        api.ws_users.pop(sid, None)
        await hub._notify()
    return ws


async def _subscription(
    sim: SimExchange,
    api: HyperliquidRestApi,
    sid: int,
    req: dict[str, Any],
    market: MarketConn,
    users: dict[str, tuple[UserConn, _Filtered]],
    subscribed: set[str],
) -> None:
    ws = market.ws
    sub = req.get("subscription")
    method = req["method"]
    kind = sub.get("type") if isinstance(sub, dict) else None
    if not isinstance(sub, dict) or kind not in {"allMids", "activeAssetCtx", *USER_CHANNELS}:
        await ws.send_str(_error(f"Invalid subscription {_dumps(sub)}"))
        return
    if kind in USER_CHANNELS:
        sub = {**sub, "user": str(sub.get("user", "")).lower()}
        if kind == "clearinghouseState":
            sub.setdefault("dex", "")
    key = _dumps(dict(sorted(sub.items())))
    if method == "subscribe" and key in subscribed:
        await ws.send_str(_error(f"Already subscribed: {_dumps(sub)}"))
        return
    if method == "unsubscribe" and key not in subscribed:
        await ws.send_str(_error(f"Already unsubscribed: {_dumps(sub)}"))
        return
    spec = None
    acct = None
    if kind == "activeAssetCtx":
        spec = api.spec_of_coin(sub.get("coin"))
        if spec is None:
            await ws.send_str(_error(f"Invalid subscription {_dumps(sub)}"))
            return
    elif kind in USER_CHANNELS:
        user = sub["user"]
        if not signing.is_address(user):
            await ws.send_str(_error(f"Invalid subscription {_dumps(sub)}"))
            return
        followed = set().union(*api.ws_users.values())
        if method == "subscribe" and user not in followed and len(followed) >= MAX_USERS:
            await ws.send_str(_error(f"Cannot track more than {MAX_USERS} total users."))
            return
        acct = api.by_address(user)
    if method == "subscribe":
        subscribed.add(key)
    else:
        subscribed.discard(key)
    await ws.send_str(
        _dumps({"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}})
    )
    now = sim.now_ms()
    ledger = sim.ledger
    if kind == "activeAssetCtx" and spec is not None:
        if method == "subscribe":
            market.streams.add(mark_stream(spec.symbol))
            ctx = wire.asset_ctx(ledger.marks[spec.symbol])
            await ws.send_str(_dumps({"channel": "activeAssetCtx", "data": {"coin": spec.base, "ctx": ctx}}))
        else:
            market.streams.discard(mark_stream(spec.symbol))
    elif kind == "allMids" and method == "subscribe":
        await ws.send_str(
            _dumps({"channel": "allMids", "data": {"mids": wire.mids(ledger.specs, ledger.marks)}})
        )
    elif kind in USER_CHANNELS:
        user = sub["user"]
        channel = CHANNEL_OF.get(str(kind), str(kind))
        entry = users.get(user)
        if method == "subscribe":
            api.ws_users[sid].add(user)
            if entry is None and acct is not None:
                filtered = _Filtered(ws)
                conn = UserConn(filtered, market.request, acct.name, f"hyperliquid-{sid}-{user}")  # type: ignore[arg-type]
                entry = users[user] = (conn, filtered)
                sim.streams.user.add(conn)
            if entry is not None:
                entry[1].channels.add(channel)
            if kind == "clearinghouseState":
                state = (
                    wire.clearinghouse_state(ledger.risk(acct), ledger.specs, now)
                    if acct is not None
                    else None
                )
                if state is not None:
                    body = {"dex": "", "user": user, "clearinghouseState": state}
                    await ws.send_str(_dumps({"channel": "clearinghouseState", "data": body}))
            elif kind == "userFills":
                fills = api.fills_of(acct) if acct is not None else []
                await ws.send_str(
                    _dumps(
                        {"channel": "userFills", "data": {"isSnapshot": True, "user": user, "fills": fills}}
                    )
                )
        else:
            if entry is not None:
                entry[1].channels.discard(channel)
            if not any(k for k in subscribed if f'"user":"{user}"' in k):
                api.ws_users[sid].discard(user)
                if entry is not None:
                    sim.streams.user.discard(entry[0])
                    users.pop(user, None)
    await sim.streams._notify()
