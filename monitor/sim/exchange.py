"""``SimExchange``: a simulated exchange on a loopback port, speaking one venue's dialect.

One aiohttp server serves the dialect's REST and WebSocket routes on the same port (Binance USD-M by
default: ``/fapi/...``, ``/market/...``, ``/private/...``; see ``monitor.sim.dialects``). A clock
ticks every ``tick_seconds`` of sim time (``speed`` sim seconds per real second): each tick the
scenario moves the market, the ledger revalues and runs its liquidation engine, the marks are
published and the user-stream events are pushed. Tests can pause the clock and drive everything by
hand (``set_mark`` + ``publish_marks``, or ``step``), and switch faults on directly (``faults``,
``drop_connections``, ``send_raw_market``, ``expire_listen_key``).

Typical use::

    async with SimExchange("small", speed=50) as sim:
        ex = ccxt.pro.binanceusdm(sim.ccxt_config("main"))
        point_at(ex, sim.http_url, sim.ws_url)
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from monitor.sim.book import Book, build_ledger
from monitor.sim.dialects import Dialect, dialect_named
from monitor.sim.faults import Faults
from monitor.sim.ledger import Ledger, LedgerEvent, LiquidationRecord
from monitor.sim.listenkeys import DEFAULT_TTL_MS, ListenKeys
from monitor.sim.market import Market
from monitor.sim.scenarios import (
    Action,
    DropConnections,
    ExpireListenKey,
    Note,
    Scenario,
    SendRawMarket,
    StallMarks,
    TickContext,
)
from monitor.sim.streams import StreamHub

log = logging.getLogger("monitor.sim")


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """Simulator credentials of one account (not secrets of any user)."""

    api_key: str
    secret: str
    passphrase: str = ""  # only for venues that ask for one (Bitget)
    address: str = ""  # only for venues that know an account by its address (Hyperliquid)


def wall_ms() -> int:
    return int(time.time() * 1000)


class SimExchange:
    def __init__(
        self,
        book: Book | str = "small",
        scenario: Scenario | str | None = None,
        *,
        speed: float = 1.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        tick_seconds: float = 1.0,
        clock: bool = True,
        ping_interval: float = 180.0,
        listen_key_ttl: float = DEFAULT_TTL_MS / 1000,
        dialect: Dialect | str = "binanceusdm",
    ) -> None:
        """``book``: a ``Book`` or a name (``demo``, ``small``, ``synthetic``). ``scenario``: a
        ``Scenario``, a name from ``scenarios.SCENARIOS``, or None for a calm random walk. ``clock=False``
        starts paused (ticks only through ``step``). ``ping_interval`` and ``listen_key_ttl`` are in
        real seconds. ``dialect``: the venue spoken, a ``Dialect`` or a venue name from
        ``monitor.sim.dialects.DIALECTS``; a book named by a string is that venue's."""
        if speed <= 0 or tick_seconds <= 0:
            raise ValueError("speed and tick_seconds must be positive")
        self.dialect = dialect_named(dialect) if isinstance(dialect, str) else dialect
        self.book = self.dialect.make_book(book) if isinstance(book, str) else book
        self.scenario = (
            self.dialect.make_scenario(scenario)
            if isinstance(scenario, str)
            else scenario
            if scenario
            else Scenario()
        )
        self.speed = speed
        self.seed = seed
        self.host = host
        self.tick_seconds = tick_seconds
        self.now_ms: Callable[[], int] = wall_ms
        self._ledger = build_ledger(self.book, seed=seed, now_ms=self.now_ms())
        self._market = Market(self.book.specs, seed)
        for symbol, price in self._ledger.marks.items():
            self._market.set_mark(symbol, price)
        # When the current marks were valued: the time REST reports them with (premiumIndex ``time``),
        # as the stream stamps them ``E``. Not the time of the request: a mark is as old as its value.
        self.marks_ms = self.now_ms()
        self._rng = random.Random(seed + 1)
        self._requested_port = port
        self._port: int | None = None
        self._runner: web.AppRunner | None = None
        self._clock_task: asyncio.Task[None] | None = None
        self._paused = not clock
        self._lock = asyncio.Lock()
        self._ticked = asyncio.Condition()
        self.sim_time = 0.0
        self.tick_index = 0
        self.notes: list[tuple[float, str]] = []
        self.on_note: Callable[[float, str], None] | None = None
        self.finished = asyncio.Event()
        self.faults = Faults(lambda: self.sim_time)
        self.listen_keys = ListenKeys(ttl_ms=int(listen_key_ttl * 1000), seed=seed)
        self.streams = StreamHub(ping_interval)
        self.rest = self.dialect.rest_api(self)
        # The last user-stream frames sent, per account name, for tests and the demo report.
        self.user_frames: deque[tuple[str, dict[str, Any]]] = deque(maxlen=10_000)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> SimExchange:
        if self._runner is not None:
            return self
        app = web.Application()
        self.dialect.install(app, self)
        runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self._requested_port)
        await site.start()
        self._port = int(runner.addresses[0][1]) if runner.addresses else self._requested_port
        self._runner = runner
        self._clock_task = asyncio.create_task(self._clock(), name="sim-clock")
        log.debug(
            "simulated exchange on %s (%d accounts, %d symbols)",
            self.http_url,
            len(self._ledger.accounts),
            len(self._ledger.specs),
        )
        return self

    async def stop(self) -> None:
        if self._clock_task is not None:
            self._clock_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock_task
            self._clock_task = None
        if self._runner is not None:
            await self.streams.drop_all()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimExchange:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ---- addresses and credentials ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator is not started")
        return self._port

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def accounts(self) -> dict[str, AccountKeys]:
        d = self.dialect
        return {
            name: AccountKeys(a.api_key, a.secret, d.passphrase(a), d.address(a))
            for name, a in self._ledger.accounts.items()
        }

    def ccxt_config(self, account: str, **options: Any) -> dict[str, Any]:
        """Constructor config for the dialect's ccxt class (``ccxt.pro.binanceusdm`` by default):
        credentials and URLs on this server. Still call ``monitor.venues.binance.urls.point_at`` on
        the instance for ccxt's exception classes (see there)."""
        return self.dialect.ccxt_config(self, account, **options)

    # ---- state --------------------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    @property
    def market(self) -> Market:
        return self._market

    @property
    def liquidations(self) -> list[LiquidationRecord]:
        return self._ledger.liquidations

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        """Stop the automatic clock (``step`` and ``publish_marks`` still work)."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def listen_key(self, account: str) -> str | None:
        return self.listen_keys.active(account)

    # ---- deterministic control ----------------------------------------------------------------

    def set_mark(self, symbol: str, price: float) -> None:
        """Set a mark in the market and the ledger; nothing is published until ``publish_marks``."""
        self._market.set_mark(symbol, price)
        self._ledger.set_mark(symbol, self._market.mark(symbol))
        self.marks_ms = self.now_ms()

    async def set_asset_balance(self, account: str, asset: str, amount: float) -> None:
        """Multi-Assets mode: set the balance of a margin asset other than USDT (a deposit or a
        withdrawal) and push the ACCOUNT_UPDATE that reports it."""
        async with self._lock:
            update = self._ledger.set_asset_balance(account, asset, amount, now_ms=self.now_ms())
        await self.emit([update])

    async def publish_marks(self) -> None:
        """Run the liquidation engine at the current marks, push the mark frames on every
        mark-price stream (unless the feed is stalled) and the resulting user events."""
        async with self._lock:
            now = self.now_ms()
            events = self._ledger.check_liquidations(
                now_ms=now, sim_time=self.sim_time, tick_index=self.tick_index
            )
            await self._publish_market(now, three_second=True)
            await self.emit(events)

    async def step(self, ticks: int = 1) -> None:
        """Run ``ticks`` clock ticks now, paused or not."""
        for _ in range(ticks):
            await self._tick()

    async def wait_ticks(self, ticks: int = 1) -> None:
        """Wait until the clock has made ``ticks`` more ticks (wrap in ``asyncio.timeout``)."""
        target = self.tick_index + ticks
        async with self._ticked:
            await self._ticked.wait_for(lambda: self.tick_index >= target)

    async def wait_market_subscribers(self, stream: str | None = None, count: int = 1) -> None:
        """Wait until ``count`` market connections subscribe to ``stream`` (any stream when None),
        e.g. before ``publish_marks`` in a test (wrap in ``asyncio.timeout``)."""
        await self.streams.wait_until(lambda: self.streams.subscribers(stream) >= count)

    async def wait_user_connections(self, account: str, count: int = 1) -> None:
        """Wait until ``account`` has ``count`` open (not expired) user-stream connections."""
        await self.streams.wait_until(lambda: self.streams.user_connections(account) >= count)

    # ---- faults -------------------------------------------------------------------------------

    async def drop_connections(self, *, abrupt: bool = False) -> int:
        """Close every WebSocket (market and user); returns how many were open."""
        return await self.streams.drop_all(abrupt=abrupt)

    async def send_raw_market(self, text: str) -> int:
        """Send ``text`` verbatim to every market-stream connection."""
        return await self.streams.send_raw_market(text)

    async def send_raw_user(self, account: str, text: str) -> int:
        return await self.streams.send_user(account, [text])

    async def expire_listen_key(self, account: str) -> str | None:
        """Expire the account's listen key now: ``listenKeyExpired`` on its streams, which then stay
        open and silent; keepalive answers -1125 and a new key must be created."""
        key = self.listen_keys.expire(account)
        if key is not None:
            await self._announce_expired(key, self.now_ms())
        return key

    async def _announce_expired(self, key: str, now_ms: int) -> None:
        await self.streams.expire(key, json.dumps(self.dialect.listen_key_expired(key, now_ms)))

    # ---- the clock ----------------------------------------------------------------------------

    async def _clock(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.tick_seconds / self.speed
        deadline = loop.time()
        while True:
            deadline += interval
            delay = deadline - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                deadline = loop.time()
                await asyncio.sleep(0)
            if self._paused:
                continue
            try:
                await self._tick()
            except Exception:
                log.exception("simulator tick %d failed", self.tick_index)

    async def _tick(self) -> None:
        async with self._lock:
            self.tick_index += 1
            self.sim_time = round(self.sim_time + self.tick_seconds, 9)
            now = self.now_ms()
            scenario = self.scenario
            if scenario.duration is not None and self.sim_time > scenario.duration:
                self.finished.set()
                scenario = _AFTER
            ctx = TickContext(
                self.tick_index, self.sim_time, self.tick_seconds, now, self._market, self._ledger, self._rng
            )
            actions = scenario.on_tick(ctx)
            self._ledger.set_marks(self._market.marks)
            self.marks_ms = now
            events = self._ledger.check_liquidations(
                now_ms=now, sim_time=self.sim_time, tick_index=self.tick_index
            )
            for action in actions:
                if isinstance(action, StallMarks):
                    self.faults.stall_marks(action.seconds)
                elif isinstance(action, Note):
                    self._note(action.text)
            period = 3.0
            three = int(self.sim_time // period) != int((self.sim_time - self.tick_seconds) // period)
            await self._publish_market(now, three_second=three)
            await self.emit(events)
            await self._run_actions(actions)
            for gone in self.listen_keys.due(now):
                await self._announce_expired(gone.key, now)
            if scenario.duration is not None and self.sim_time >= scenario.duration:
                self.finished.set()
        async with self._ticked:
            self._ticked.notify_all()

    async def _run_actions(self, actions: Iterable[Action]) -> None:
        for action in actions:
            if isinstance(action, DropConnections):
                await self.streams.drop_all(abrupt=action.abrupt)
            elif isinstance(action, SendRawMarket):
                await self.streams.send_raw_market(action.text)
            elif isinstance(action, ExpireListenKey):
                key = self.listen_keys.expire(action.account)
                if key is not None:
                    await self._announce_expired(key, self.now_ms())

    def _note(self, text: str) -> None:
        self.notes.append((self.sim_time, text))
        if self.on_note is not None:
            self.on_note(self.sim_time, text)

    async def _publish_market(self, now: int, *, three_second: bool) -> None:
        if self.faults.marks_stalled:
            return
        self.dialect.marks_published(self, now)
        if not self.streams.subscribers():
            return
        mark_update = self.dialect.mark_update
        updates = {s: mark_update(s, p, now) for s, p in self._ledger.marks.items()}
        await self.streams.publish_marks(updates, three_second=three_second)

    async def emit(self, events: Iterable[LedgerEvent]) -> None:
        """Push ledger events to their account's user streams, in order."""
        specs = self._ledger.specs
        for event in events:
            for body in self.dialect.user_frames(event, specs, self):
                self.user_frames.append((event.account, body))
                await self.streams.send_user(event.account, [json.dumps(body, separators=(",", ":"))])


_AFTER = Scenario(vol_scale=0.3)
