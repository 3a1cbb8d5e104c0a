"""The Bitunix socket against a loopback server that speaks as Bitunix does: it speaks first
(``connect``), answers JSON pings, logs in by the double hash, acknowledges no subscribe and may
ignore one. Then the reconnect loop (``venues/reconnect.py``) over it: resubscribe, then resync."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from monitor.events import Event, StreamHealth, StreamState
from monitor.tasks import cancel_and_wait
from monitor.venues.base import RestGate, VenueAccount, now_ms
from monitor.venues.bitunix import signing
from monitor.venues.bitunix.ws import MAX_CHANNELS, BitunixSocket, TooManyChannels
from monitor.venues.errors import AuthenticationRefused
from monitor.venues.reconnect import StreamKeeper, keep_subscribed

ACCOUNT = VenueAccount("main", "k" * 32, "s" * 32)


async def until(cond: Callable[[], bool], within: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


@dataclass
class FakeBitunix:
    """What the server was sent, per session, and how it behaves."""

    url: str = ""
    sessions: list[list[dict[str, Any]]] = field(default_factory=list)
    ignore_first_subscribes: int = 0  # silent subscribes: the venue drops them without a word
    drop_after_subscribe: int = 0  # sessions to close right after their first subscribe
    push_price: bool = True
    ignored: int = 0

    def sent(self, op: str) -> list[dict[str, Any]]:
        return [m for s in self.sessions for m in s if m.get("op") == op]

    async def handle(self, ws: ServerConnection) -> None:
        seen: list[dict[str, Any]] = []
        self.sessions.append(seen)
        await ws.send(json.dumps({"op": "connect", "data": {"result": True}}))
        pushing: set[str] = set()
        pusher = asyncio.create_task(self._push(ws, pushing))
        try:
            async for message in ws:
                frame = json.loads(message)
                seen.append(frame)
                op = frame.get("op")
                if op == "ping":
                    await ws.send(json.dumps({"op": "ping", "pong": frame["ping"], "ping": 1790126491}))
                elif op == "login":
                    (arg,) = frame["args"]
                    parts = (arg["nonce"], str(arg["timestamp"]), arg["apiKey"])
                    expected = signing.double_hash(ACCOUNT.secret, *parts)
                    ok = arg["apiKey"] == ACCOUNT.api_key and arg["sign"] == expected
                    await ws.send(json.dumps({"op": "login", "data": {"result": ok}}))
                elif op == "subscribe":
                    if self.ignored < self.ignore_first_subscribes:
                        self.ignored += 1
                        continue
                    pushing.update(a["symbol"] for a in frame["args"] if a["ch"] == "price")
                    if self.drop_after_subscribe > 0:
                        self.drop_after_subscribe -= 1
                        await ws.close()
                        return
        finally:
            pusher.cancel()

    async def _push(self, ws: ServerConnection, pushing: set[str]) -> None:
        while True:
            await asyncio.sleep(0.02)
            for symbol in sorted(pushing) if self.push_price else ():
                data = {"ip": "1", "mp": "86688.3", "fr": "0.01", "ft": "x", "nft": "y"}
                push = {"ch": "price", "symbol": symbol, "ts": 1790126515695, "data": data}
                await ws.send(json.dumps(push))


@pytest.fixture
async def fake() -> AsyncIterator[FakeBitunix]:
    state = FakeBitunix()
    async with serve(state.handle, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        state.url = f"ws://127.0.0.1:{port}/public/"
        yield state


async def test_the_server_speaks_first_and_keepalive_is_a_json_ping(fake: FakeBitunix) -> None:
    frames: list[dict[str, Any]] = []
    sock = BitunixSocket(fake.url, frames.append, ping_every_s=0.05)
    await sock.set_channels([("price", "BTCUSDT")])
    task = asyncio.create_task(sock.run())
    try:
        await until(lambda: sock.pongs >= 2 and len(frames) >= 1)
    finally:
        await cancel_and_wait([task])
    first = fake.sessions[0]
    assert first[0] == {"op": "subscribe", "args": [{"symbol": "BTCUSDT", "ch": "price"}]}
    assert all(isinstance(m["ping"], int) for m in first if m["op"] == "ping")
    assert frames[0]["ch"] == "price"


async def test_the_private_socket_logs_in_before_it_subscribes(fake: FakeBitunix) -> None:
    sock = BitunixSocket(fake.url, lambda f: None, account=ACCOUNT)
    await sock.set_channels([("position", None), ("balance", None), ("order", None)])
    task = asyncio.create_task(sock.run())
    try:
        await until(lambda: len(fake.sent("subscribe")) == 1)
    finally:
        await cancel_and_wait([task])
    ops = [m["op"] for m in fake.sessions[0]]
    assert ops[:2] == ["login", "subscribe"]
    assert fake.sessions[0][1]["args"] == [{"ch": "position"}, {"ch": "balance"}, {"ch": "order"}]


async def test_a_refused_login_is_an_authentication_refusal(fake: FakeBitunix) -> None:
    wrong = VenueAccount("main", ACCOUNT.api_key, "not the secret")
    sock = BitunixSocket(fake.url, lambda f: None, account=wrong)
    with pytest.raises(AuthenticationRefused, match="login"):
        await asyncio.wait_for(sock.run(), 10)


async def test_a_silent_subscribe_is_sent_again_until_data_arrives(fake: FakeBitunix) -> None:
    fake.ignore_first_subscribes = 1
    frames: list[dict[str, Any]] = []
    sock = BitunixSocket(fake.url, frames.append, verify_after_s=0.1)
    await sock.set_channels([("price", "BTCUSDT")])
    task = asyncio.create_task(sock.run())
    try:
        await until(lambda: len(frames) >= 1)
    finally:
        await cancel_and_wait([task])
    assert len(fake.sent("subscribe")) == 2


async def test_channels_added_and_dropped_while_open(fake: FakeBitunix) -> None:
    sock = BitunixSocket(fake.url, lambda f: None)
    await sock.set_channels([("price", "BTCUSDT")])
    task = asyncio.create_task(sock.run())
    try:
        await until(sock.opened.is_set)
        await sock.set_channels([("price", "ETHUSDT")])
        await until(lambda: len(fake.sent("unsubscribe")) == 1 and len(fake.sent("subscribe")) == 2)
    finally:
        await cancel_and_wait([task])
    assert fake.sent("unsubscribe")[0]["args"] == [{"symbol": "BTCUSDT", "ch": "price"}]
    assert fake.sent("subscribe")[1]["args"] == [{"symbol": "ETHUSDT", "ch": "price"}]


async def test_more_channels_than_one_connection_carries_are_refused_before_sending() -> None:
    sock = BitunixSocket("ws://127.0.0.1:9/public/", lambda f: None)
    with pytest.raises(TooManyChannels, match=str(MAX_CHANNELS)):
        await sock.set_channels([("price", f"S{i}USDT") for i in range(MAX_CHANNELS + 1)])


def test_a_ping_interval_past_the_venues_20_s_is_refused() -> None:
    with pytest.raises(ValueError, match="ping_every_s"):
        BitunixSocket("ws://127.0.0.1:9/public/", lambda f: None, ping_every_s=25)


async def test_a_frame_its_reader_rejects_costs_that_frame_only(fake: FakeBitunix) -> None:
    bad: list[str] = []
    good: list[dict[str, Any]] = []

    def reader(frame: dict[str, Any]) -> None:
        if len(good) == 0 and not bad:
            raise ValueError("unreadable")
        good.append(frame)

    sock = BitunixSocket(fake.url, reader, on_bad_frame=lambda text, exc: bad.append(text))
    await sock.set_channels([("price", "BTCUSDT")])
    task = asyncio.create_task(sock.run())
    try:
        await until(lambda: len(good) >= 2)
    finally:
        await cancel_and_wait([task])
    assert len(bad) == 1 and sock.sessions == 1


async def test_a_dropped_socket_reconnects_resubscribes_then_resyncs(fake: FakeBitunix) -> None:
    fake.drop_after_subscribe = 1
    events: list[Event] = []
    sock = BitunixSocket(fake.url, lambda f: None, account=ACCOUNT)
    await sock.set_channels([("position", None)])
    at_resync: list[tuple[int, bool]] = []

    async def resync() -> None:
        # which session, and whether its channels had been asked for (``opened``: sent)
        at_resync.append((sock.sessions, sock.opened.is_set()))

    async def ping() -> None:
        return None

    async def opened(watch: asyncio.Future[Any]) -> bool:
        while not sock.opened.is_set():
            if watch.done():
                return False
            await asyncio.sleep(0.01)
        return True

    keeper = StreamKeeper(events.append, now_ms, RestGate(), ping)
    stream = "bitunix:main:user"
    loop = asyncio.create_task(keep_subscribed(keeper, stream, sock.run, opened=opened, resync=resync))
    try:
        await until(lambda: keeper.is_live(stream) and len(fake.sent("subscribe")) == 2)
    finally:
        await cancel_and_wait([loop])
    # each session logged in and subscribed again; the resync came after the live session's subscribe
    assert [[m["op"] for m in s] for s in fake.sessions] == [["login", "subscribe"], ["login", "subscribe"]]
    assert at_resync[-1] == (2, True)
    states = [e.state for e in events if isinstance(e, StreamHealth)]
    assert states[-2:] == [StreamState.DISCONNECTED, StreamState.CONNECTED]
