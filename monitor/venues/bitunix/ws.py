"""Bitunix's WebSocket on ``websockets``: one connection's life, as the venue wants it spoken.

What the venue does and how this answers it (research note section 3.3, shared fixtures):

- The server speaks first, ``{"op":"connect","data":{"result":true}}``: a session is not open before
  that frame.
- Keepalive is a JSON ``{"op":"ping","ping":<unix s>}`` at most every 20 s (a silent socket is
  closed after about a minute). A protocol-level ping before the first JSON frame gets the socket
  closed, so ``websockets``' own pings are switched off.
- The private socket logs in with the double hash (``signing.login_frame``) before subscribing.
- A subscribe gets no acknowledgement, and an unknown symbol no error: a channel that pushes
  regularly (``price``, about twice a second) is verified by its data arriving and subscribed again
  when none came; the private channels are silent while nothing trades and cannot be verified so.
- At most 300 channels on one connection (more are refused with ``"subscribe channel > 300"``) and
  at most 5 client messages a second, pings included (more gets the socket closed): at most 4 leave
  in any second (``pacing.Pacer``), and a subscription past the cap is refused here, before it leaves.

A ``BitunixSocket.run`` call is one session: it returns or raises when the connection ends. Keeping
the stream up (backoff, resubscribe, then resync) is ``venues/reconnect.keep_subscribed``'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from monitor.logs import get_logger
from monitor.venues.base import VenueAccount
from monitor.venues.bitunix import signing
from monitor.venues.bitunix.pacing import Pacer
from monitor.venues.errors import AuthenticationRefused, BadResponse

log = get_logger(__name__)

PING_EVERY_S = 15.0
"""Under the venue's 20 s, so one late ping still keeps the socket."""
MAX_PING_EVERY_S = 20.0
MAX_CHANNELS = 300
SENDS_PER_SECOND = 4
"""One under the venue's five a second (pings included)."""
OPEN_TIMEOUT_S = 10.0
VERIFY_AFTER_S = 5.0
"""A pushing channel that sent nothing this long after its subscribe is subscribed again."""
VERIFY_TRIES = 3
PUSHING_CHANNELS = frozenset({"price", "ticker", "tickers", "trade"})
"""Channels that push while the market moves, whatever the account does: verifiable by data."""
MAX_FRAME_BYTES = 4 * 1024 * 1024

Channel = tuple[str, str | None]
"""``(ch, symbol)``; the private channels have no symbol."""

FrameHandler = Callable[[dict[str, Any]], None]
BadFrameHandler = Callable[[str, BaseException], None]


class TooManyChannels(ValueError):
    """More channels than one Bitunix connection carries."""


def subscribe_frame(channels: Iterable[Channel], op: str = "subscribe") -> dict[str, Any]:
    args = [{"ch": ch} if symbol is None else {"symbol": symbol, "ch": ch} for ch, symbol in channels]
    return {"op": op, "args": args}


def ping_frame(now_s: int) -> dict[str, Any]:
    return {"op": "ping", "ping": now_s}


def channel_of(frame: dict[str, Any]) -> Channel | None:
    """The channel a data push belongs to; None for control replies (``op``)."""
    ch = frame.get("ch")
    if not isinstance(ch, str):
        return None
    symbol = frame.get("symbol")
    return (ch, symbol if isinstance(symbol, str) else None)


class BitunixSocket:
    """One Bitunix WebSocket (public, or private with ``account``) and the channels it carries."""

    def __init__(
        self,
        url: str,
        on_frame: FrameHandler,
        *,
        account: VenueAccount | None = None,
        on_bad_frame: BadFrameHandler | None = None,
        ping_every_s: float = PING_EVERY_S,
        verify_after_s: float = VERIFY_AFTER_S,
        nonce: Callable[[], str] = signing.new_nonce,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        if not 0 < ping_every_s <= MAX_PING_EVERY_S:
            raise ValueError(f"ping_every_s must be within (0, {MAX_PING_EVERY_S}] s: {ping_every_s}")
        self.url = url
        self.on_frame = on_frame
        self.on_bad_frame = on_bad_frame
        self.account = account
        self.ping_every_s = ping_every_s
        self.verify_after_s = verify_after_s
        self._nonce = nonce
        self._clock_s = clock_s
        self.channels: list[Channel] = []
        self.opened = asyncio.Event()  # the current session is open, logged in and subscribed
        self.sessions = 0
        self.pongs = 0
        self._ws: ClientConnection | None = None
        self._pacer = Pacer(SENDS_PER_SECOND)
        self._seen: dict[Channel, float] = {}  # channel -> when its last push came (loop time)
        self._asked: dict[Channel, tuple[float, int]] = {}  # channel -> (last subscribe, tries)

    # --- what it carries ---------------------------------------------------------------------------
    async def set_channels(self, channels: Iterable[Channel]) -> None:
        """Carry ``channels`` from now on: the new ones subscribed, the dropped ones unsubscribed
        (when a session is open; the next session subscribes them all)."""
        wanted = list(dict.fromkeys(channels))
        if len(wanted) > MAX_CHANNELS:
            raise TooManyChannels(f"bitunix: {len(wanted)} channels, one connection carries {MAX_CHANNELS}")
        added = [c for c in wanted if c not in self.channels]
        dropped = [c for c in self.channels if c not in wanted]
        self.channels = wanted
        if self._ws is None or not self.opened.is_set():
            return
        if dropped:
            await self._send(subscribe_frame(dropped, "unsubscribe"))
            for c in dropped:
                self._asked.pop(c, None)
                self._seen.pop(c, None)
        if added:
            await self._subscribe(added)

    # --- one session -------------------------------------------------------------------------------
    async def run(self) -> None:
        """Open, log in, subscribe, then read until the connection ends: it always raises then, a
        clean close included. ``opened`` is set once the channels are asked for."""
        self.opened.clear()
        self._seen.clear()
        self._asked.clear()
        async with connect(
            self.url, ping_interval=None, max_size=MAX_FRAME_BYTES, open_timeout=OPEN_TIMEOUT_S
        ) as ws:
            self._ws = ws
            self.sessions += 1
            tasks: list[asyncio.Task[None]] = []
            try:
                await asyncio.wait_for(self._expect(ws, "connect"), OPEN_TIMEOUT_S)
                if self.account is not None:
                    await self._login(ws)
                if self.channels:
                    await self._subscribe(self.channels)
                self.opened.set()
                tasks = [asyncio.create_task(self._keepalive()), asyncio.create_task(self._verify())]
                async for message in ws:
                    self._dispatch(message)
                # even a clean close ends the stream: the keeper must see it fail, back off, redial
                raise ConnectionError(f"bitunix socket closed by the venue ({ws.close_code})")
            finally:
                self.opened.clear()
                self._ws = None
                for t in tasks:
                    t.cancel()
                for t in tasks:
                    with contextlib.suppress(BaseException):
                        await t

    async def _expect(self, ws: ClientConnection, op: str) -> dict[str, Any]:
        """Wait for the server's ``op`` reply (``connect``, ``login``), passing anything else on."""
        async for message in ws:
            frame = self._decode(message)
            if frame is None:
                continue
            if frame.get("op") == op:
                data = frame.get("data")
                if isinstance(data, dict) and data.get("result") is False:
                    why = str(data.get("msg", ""))[:100]
                    if op == "login":
                        raise AuthenticationRefused(f"bitunix login refused: {why}")
                    raise BadResponse(f"bitunix {op} refused: {why}")
                return frame
            self._handle(frame)
        raise ConnectionError(f"bitunix socket closed before its {op} frame")

    async def _login(self, ws: ClientConnection) -> None:
        assert self.account is not None
        frame = signing.login_frame(
            self.account.api_key, self.account.secret, self._nonce(), int(self._clock_s())
        )
        await self._send(frame)
        await asyncio.wait_for(self._expect(ws, "login"), OPEN_TIMEOUT_S)

    async def _subscribe(self, channels: list[Channel]) -> None:
        now = asyncio.get_running_loop().time()
        for c in channels:
            tries = self._asked.get(c, (0.0, 0))[1]
            self._asked[c] = (now, tries + 1)
        await self._send(subscribe_frame(channels))

    async def _send(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionError("bitunix socket is not open")
        await self._pacer.wait()
        await ws.send(json.dumps(frame, separators=(",", ":")))

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.ping_every_s)
            await self._send(ping_frame(int(self._clock_s())))

    async def _verify(self) -> None:
        """Subscribe again each pushing channel that has sent nothing since it was asked for: the
        venue neither acknowledges a subscribe nor says when it dropped one."""
        while True:
            await asyncio.sleep(self.verify_after_s / 2)
            now = asyncio.get_running_loop().time()
            silent = [
                c
                for c, (asked, tries) in self._asked.items()
                if c[0] in PUSHING_CHANNELS
                and c in self.channels
                and self._seen.get(c, -1.0) < asked
                and now - asked >= self.verify_after_s
                and tries < VERIFY_TRIES
            ]
            if silent:
                log.warning("bitunix: no data since subscribing, subscribing again", channels=len(silent))
                await self._subscribe(silent)

    # --- frames ------------------------------------------------------------------------------------
    def _decode(self, message: str | bytes) -> dict[str, Any] | None:
        try:
            frame = json.loads(message)
            if not isinstance(frame, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if self.on_bad_frame is not None:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                self.on_bad_frame(text, exc)
            return None
        return frame

    def _dispatch(self, message: str | bytes) -> None:
        frame = self._decode(message)
        if frame is not None:
            self._handle(frame)

    def _handle(self, frame: dict[str, Any]) -> None:
        op = frame.get("op")
        if op == "ping":
            self.pongs += 1
            return
        if op is not None:
            data = frame.get("data")
            if isinstance(data, dict) and data.get("result") is False:
                log.warning("bitunix refused an op", op=str(op)[:20], msg=str(data.get("msg", ""))[:100])
            return
        channel = channel_of(frame)
        if channel is not None:
            self._seen[channel] = asyncio.get_running_loop().time()
        try:
            self.on_frame(frame)
        except Exception as exc:  # a frame that breaks its reader costs that frame only
            if self.on_bad_frame is not None:
                self.on_bad_frame(json.dumps(frame)[:200], exc)
