"""The daemon: venues -> engine -> policy -> notifiers, with state in SQLite.

Every venue adapter hands its events to one queue, drained by one task that applies them to the engine
and runs the policy on whatever changed, so no state is shared between tasks and no lock is needed.
Timers that must run while nothing ticks (staleness, episode repeats) and the slow REST jobs (resync,
tier refresh, on APScheduler with a misfire grace that survives loop stalls) feed the same path.

Freshness is recorded only after an event was validated and applied: a rejected frame never makes a
stream look alive.

Marks are evaluated at most once per window per venue (``DaemonOptions.mark_window_ms``; 0 = each
update alone, as it comes). The ordering rule, which holds with any window:

- a venue's marks that arrive within a window of its last mark evaluation are held and merged
  (``coalesce.HeldMarks``, the newest price of each symbol by the exchange's time) and evaluated
  together when the window ends, a window after that evaluation: never later than one window after
  they arrived, unless the consumer is still busy with what came before them;
- otherwise an event is applied after every event that arrived before it (another venue's marks may
  pass held ones: they share no account);
- the first marks after a quiet window are evaluated at once, not held: a window bounds how often,
  it does not add a wait;
- any other event (positions, balances, orders, liquidations, margin calls, tiers, stream health)
  ends every venue's window: the held marks, which arrived before it, are evaluated first, then it,
  without waiting for the window; marks arriving after it start a new merge behind it. So a fill is
  judged with every mark that arrived before it and none that arrived after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, runtime_checkable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from monitor.alerts import Alert
from monitor.daemon import crashpoints
from monitor.daemon.coalesce import HeldMarks, hold_for_ms
from monitor.daemon.collector import IdleCollector
from monitor.daemon.engine import Engine
from monitor.daemon.idle import IdleStep
from monitor.daemon.store import IdleCheckpoint, open_db, transaction
from monitor.events import (
    AccountSnapshotEvent,
    AccountUpdate,
    Event,
    ListenKeyExpired,
    MarginCall,
    MarkPrices,
    OrderUpdate,
    Rejected,
    StreamHealth,
    StreamState,
    TierTable,
    VenueBanned,
)
from monitor.logs import get_logger
from monitor.model import AccountRisk, Side, Venue
from monitor.policy import episode_store
from monitor.policy.evaluate import PolicyInputs, due_repeats, evaluate
from monitor.policy.exchange_alarms import ExchangeEvent
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.settings import PolicyConfig
from monitor.policy.staleness import Freshness, check_staleness
from monitor.policy.state import PolicyState
from monitor.tasks import cancel_and_wait
from monitor.venues import registry
from monitor.venues.adapter import AdapterFactory, VenueAdapter
from monitor.venues.base import Endpoints, VenueAccount, now_ms

log = get_logger(__name__)


class Notifier(Protocol):
    def enqueue(self, alerts: Sequence[Alert]) -> None: ...


@runtime_checkable
class Stager(Protocol):
    """A notifier whose queue lives in the state file. ``stage`` writes a decision's alerts on ``conn``
    inside the decision's open transaction and returns True; it returns False when its queue is not in
    ``conn``'s database, and then gets the alerts through ``enqueue`` after the commit."""

    def enqueue(self, alerts: Sequence[Alert]) -> None: ...

    def stage(self, conn: sqlite3.Connection, alerts: Sequence[Alert]) -> bool: ...


class Cancellable(Protocol):
    def cancel(self) -> None: ...


# ``call_later(seconds, callback)``, as ``asyncio.AbstractEventLoop.call_later``
CallLater = Callable[[float, Callable[[], None]], Cancellable]


@dataclass
class Stats:
    """Counters for the summary, health and metrics."""

    events: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)
    decisions_us: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))
    started_ms: int = 0


@dataclass(frozen=True)
class DaemonOptions:
    state_file: str
    policy: PolicyConfig
    venues: dict[Venue, tuple[VenueAccount, ...]]
    endpoints: dict[Venue, Endpoints] = field(default_factory=dict)
    resync_seconds: float = 45.0
    tiers_refresh_hours: float = 24.0
    staleness_check_seconds: float = 1.0
    repeat_check_seconds: float = 5.0
    # evaluate a venue's marks at most once per this many ms, merging those in between (0 = off)
    mark_window_ms: int = 50


class Daemon:
    def __init__(
        self,
        options: DaemonOptions,
        notifiers: Sequence[Notifier],
        *,
        clock: Callable[[], int] = now_ms,
        adapter_factory: AdapterFactory | None = None,
        call_later: CallLater | None = None,
    ) -> None:
        self.options = options
        self.notifiers = list(notifiers)
        self.clock = clock
        self.engine = Engine()
        self.stats = Stats()
        self.queue: asyncio.Queue[Event | HeldMarks] = asyncio.Queue()
        self._applying = False
        # mark coalescing (see the module's docstring): per venue, the marks that later ones may
        # still join (waiting for their window's end, or queued), the timers of those waiting, and
        # when (our clock) its marks were last evaluated
        self._window_ms = max(0, options.mark_window_ms)
        self._held: dict[str, HeldMarks] = {}
        self._waiting: dict[str, Cancellable] = {}
        self._marks_evaluated: dict[str, int] = {}
        self._call_later = call_later
        self.freshness: dict[str, int] = {}
        self.connected: set[str] = set()
        self.bans: dict[str, int] = {}  # venue -> end of the exchange's REST ban (our clock)
        self.conn = open_db(options.state_file)
        self.checkpoint = IdleCheckpoint(self.conn)
        episode_store.ensure_schema(self.conn)
        self.policy_state: PolicyState = episode_store.load(self.conn)
        self.adapters: dict[Venue, VenueAdapter] = {}
        factory = adapter_factory or registry.make_adapter
        for venue, accounts in options.venues.items():
            for acct in accounts:
                self.engine.add_account(acct.name, venue, acct.taker_fee)
            self.adapters[venue] = factory(venue, accounts, self._sink, options.endpoints.get(venue))
        self.ready = asyncio.Event()
        self.risk_listeners: list[Callable[[Sequence[AccountRisk]], None]] = []
        self.alert_listeners: list[Callable[[Sequence[Alert]], None]] = []
        self.health_listeners: list[Callable[[StreamHealth], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._scheduler: AsyncIOScheduler | None = None
        self.collector = IdleCollector()
        # what the policy's batch screen keeps between ticks, and the work done between decisions
        self.screen_cache = ScreenCache()
        self.idle = IdleStep(self.engine, self.screen_cache, self.checkpoint, self.collector)

    # --- lifecycle ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.stats.started_ms = self.clock()
        self._tasks.append(asyncio.create_task(self._consume(), name="engine"))
        for venue, adapter in self.adapters.items():
            self._expect_known_positions(venue, adapter)
            await adapter.start()
            self.engine.set_markets(venue.value, adapter.markets)
            for stream in adapter.stream_names():
                self.freshness.setdefault(stream, self.clock())
        await self.drain()
        self._tasks.append(
            asyncio.create_task(
                self._every(self.options.staleness_check_seconds, self.check_staleness), name="staleness"
            )
        )
        self._tasks.append(
            asyncio.create_task(
                self._every(self.options.repeat_check_seconds, self.check_repeats), name="repeats"
            )
        )
        self._scheduler = AsyncIOScheduler(
            timezone="UTC", job_defaults={"misfire_grace_time": 30, "coalesce": True, "max_instances": 1}
        )
        self._scheduler.add_job(self.resync_all, "interval", seconds=self.options.resync_seconds, id="resync")
        self._scheduler.add_job(
            self.refresh_tiers, "interval", hours=self.options.tiers_refresh_hours, id="tiers"
        )
        self._scheduler.start()
        self.collector.start()
        self.ready.set()
        log.info("daemon started", venues=[v.value for v in self.adapters], accounts=list(self.engine.books))

    def _expect_known_positions(self, venue: Venue, adapter: VenueAdapter) -> None:
        """Tell the adapter which legs each account held when the daemon last ran: one that is gone
        at the first snapshot was closed while nobody watched, and the adapter asks the exchange why
        (a liquidation must not pass for a plain close)."""
        for acct in self.options.venues[venue]:
            known = self.policy_state.positions.get(acct.name)
            if known:
                adapter.expect_positions(
                    acct.name, {key: was.side is Side.LONG for key, was in known.items()}
                )

    async def stop(self) -> None:
        if self._scheduler is not None:
            with contextlib.suppress(Exception):
                self._scheduler.shutdown(wait=False)
        for adapter in self.adapters.values():
            with contextlib.suppress(Exception):
                await adapter.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), 2.0)
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        self.conn.close()
        self.collector.stop()

    async def drain(self) -> None:
        """Wait until every event received so far has been applied, marks held for their window
        included (they are evaluated now)."""
        self._release_held()
        await self.queue.join()

    # --- jobs ---------------------------------------------------------------------------------------
    def banned(self, venue: Venue) -> bool:
        """Whether the exchange's REST ban on ``venue`` still runs: scheduled jobs wait it out."""
        return self.bans.get(venue.value, 0) > self.clock()

    async def resync_all(self) -> None:
        for venue, adapter in self.adapters.items():
            if self.banned(venue):
                log.info("scheduled resync paused: banned by the exchange", venue=venue.value)
                continue
            for acct in self.options.venues[venue]:
                try:
                    await adapter.resync(acct.name)
                except asyncio.CancelledError:
                    return  # shutting down: the scheduler cancels the job it is running
                except Exception as exc:
                    log.warning(
                        "scheduled resync failed", account=acct.name, error=f"{type(exc).__name__}: {exc}"
                    )

    async def refresh_tiers(self) -> None:
        for adapter in self.adapters.values():
            if self.banned(adapter.venue):
                log.info("tier refresh paused: banned by the exchange", venue=adapter.venue.value)
                continue
            try:
                await adapter.refresh_tiers()
            except asyncio.CancelledError:
                return
            except Exception as exc:
                log.warning(
                    "tier refresh failed", venue=adapter.venue.value, error=f"{type(exc).__name__}: {exc}"
                )

    def check_staleness(self) -> None:
        now = self.clock()
        # each held symbol's last mark; one that never got one is measured from the daemon's start
        held = {
            (b.venue.value, s): self.engine.mark_ms.get(b.venue.value, {}).get(s) or self.stats.started_ms
            for b in self.engine.books.values()
            for s in b.symbols
        }
        state, alerts = check_staleness(
            self.policy_state, Freshness(dict(self.freshness), held), now, self.options.policy
        )
        self._commit(state, alerts)

    def check_repeats(self) -> None:
        state, alerts = due_repeats(self.policy_state, self.clock(), self.options.policy)
        self._commit(state, alerts)

    async def _every(self, seconds: float, fn: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(seconds)
            before = self.policy_state
            try:
                fn()
            except Exception:
                log.exception("timer failed", job=getattr(fn, "__name__", "?"))
            if self.policy_state is not before and not self._applying and self.queue.empty():
                # a repeat or a staleness alert changed the tracks
                self.idle.run(self.policy_state, self.options.policy, after_marks=False)

    # --- the event path -----------------------------------------------------------------------------
    def _sink(self, event: Event) -> None:
        """Where the adapters deliver. An event that finds nothing queued and nothing being applied is
        applied at once, in the adapter's callback: queueing it would only wait for the consumer's
        next turn of the event loop, and for the adapter to drop the raw frame first (freeing a mark
        frame's decoded objects is not free: docs/performance.md). Order is kept: an event that finds
        anything pending, or arrives while one is applied, is queued behind it. With a mark window,
        marks go through ``_sink_marks`` and any other event first sends the held marks ahead of it
        (the ordering rule in the module's docstring)."""
        if self._window_ms:
            if isinstance(event, MarkPrices):
                self._sink_marks(event)
                return
            if self._held:
                self._release_held()
        if self._applying or not self.queue.empty():
            self.queue.put_nowait(event)
            return
        self._apply(event)

    def _sink_marks(self, event: MarkPrices) -> None:
        """A venue's marks with a window: they join the venue's held marks if any; else they are
        applied at once when the venue's last mark evaluation is a window old and nothing is
        pending; else they are held, queued at once when that evaluation is a window old (they wait
        behind what is pending, taking the marks that arrive meanwhile) or at the window's end."""
        venue = event.venue
        held = self._held.get(venue)
        if held is not None:
            held.add(event)
            return
        wait_ms = hold_for_ms(self._marks_evaluated.get(venue), self.clock(), self._window_ms)
        busy = self._applying or not self.queue.empty()
        if not wait_ms and not busy:
            self._apply(event)
            return
        held = self._held[venue] = HeldMarks(event)
        if not wait_ms:
            self.queue.put_nowait(held)
            return
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._waiting[venue] = call_later(wait_ms / 1000, partial(self._window_ended, venue))

    def _window_ended(self, venue: str) -> None:
        """A venue's held marks are due: applied now if nothing is pending, else queued behind it
        (and still open to later marks until the consumer takes them)."""
        if self._waiting.pop(venue, None) is None:
            return  # already sent on by an event that ended the window early
        held = self._held[venue]
        if self._applying or not self.queue.empty():
            self.queue.put_nowait(held)
            return
        del self._held[venue]
        self._apply(held.event())

    def _release_held(self) -> None:
        """End every venue's window now: the marks waiting for its end are queued, in the order they
        started waiting, and no held marks take later ones (those start a new merge behind
        whatever comes next)."""
        for venue, timer in self._waiting.items():
            timer.cancel()
            self.queue.put_nowait(self._held[venue])
        self._waiting.clear()
        self._held.clear()

    async def _consume(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item, HeldMarks):
                    if self._held.get(item.venue) is item:
                        del self._held[item.venue]  # closed: later marks start a new merge
                    self._apply(item.event())
                else:
                    self._apply(item)
            finally:
                self.queue.task_done()

    def _apply(self, event: Event) -> None:
        self._applying = True
        try:
            self.handle(event)
        except Exception:
            # one bad event must not stop the daemon; it is logged with its type, never its payload
            log.exception("event failed", event_type=type(event).__name__)
        finally:
            self._applying = False
        if self.queue.empty():
            self._between_decisions(event)

    def _between_decisions(self, event: Event) -> None:
        """Nothing is queued: do now what the next decision would otherwise do inside it
        (``monitor.daemon.idle``)."""
        self.idle.run(self.policy_state, self.options.policy, after_marks=isinstance(event, MarkPrices))

    def _know_markets(self, venue: str) -> None:
        """Hand the engine a venue's markets before the first account of it is evaluated: an adapter
        sends its first snapshots while it starts, once its markets are loaded but before ``start``
        returns, and without them every contract would count as one unit (COIN-M's 100 USD, BloFin's
        0.001 BTC)."""
        if venue in self.engine.markets:
            return
        adapter = self.adapters.get(Venue(venue))
        if adapter is not None and adapter.markets:
            self.engine.set_markets(venue, adapter.markets)

    def handle(self, event: Event) -> list[Alert]:
        """Apply one event and run the policy on what it changed. Returns the alerts it produced."""
        t0 = time.perf_counter()
        self.stats.events[type(event).__name__] += 1
        risks: list[AccountRisk] = []
        exchange_events: list[ExchangeEvent] = []
        if isinstance(event, MarkPrices):
            if self._window_ms:
                self._marks_evaluated[event.venue] = self.clock()
            risks = self.engine.on_marks(event)
            self.freshness[f"{event.venue}:marks"] = event.received_ms
        elif isinstance(event, AccountSnapshotEvent):
            self._know_markets(event.venue)
            risk = self.engine.on_snapshot(event)
            risks = [risk] if risk else []
            user = f"{event.venue}:{event.account}:user"
            if user in self.connected:
                # a user stream is silent while nothing trades: a good resync over a live
                # subscription is its proof of life
                self.freshness[user] = event.received_ms
        elif isinstance(event, AccountUpdate):
            self._know_markets(event.venue)
            risk = self.engine.on_account_update(event)
            risks = [risk] if risk else []
            self._user_delivered(event.venue, event.account, event.received_ms)
        elif isinstance(event, MarginCall | OrderUpdate):
            exchange_events.append(event)
            self._user_delivered(event.venue, event.account, event.received_ms)
        elif isinstance(event, ListenKeyExpired):
            # the socket stays open and goes silent: the stream is dead from now on
            user = f"{event.venue}:{event.account}:user"
            self.connected.discard(user)
            self.freshness[user] = 0
            log.warning("listen key expired", account=event.account)
        elif isinstance(event, TierTable):
            risk = self.engine.on_tiers(event)
            risks = [risk] if risk else []
        elif isinstance(event, StreamHealth):
            self._on_health(event)
        elif isinstance(event, VenueBanned):
            self.bans[event.venue] = max(event.until_ms, self.bans.get(event.venue, 0))
            exchange_events.append(event)
        elif isinstance(event, Rejected):
            self.stats.rejected[event.source] += 1
            log.warning("frame rejected", source=event.source, reason=event.reason, excerpt=event.excerpt)
        alerts: list[Alert] = []
        if risks or exchange_events:
            state, alerts = evaluate(
                self.policy_state,
                PolicyInputs(risks, exchange_events),
                self.clock(),
                self.options.policy,
                self.screen_cache,
            )
            self._commit(state, alerts)
            for listener in self.risk_listeners:
                listener(risks)
        self.stats.decisions_us.append((time.perf_counter() - t0) * 1e6)
        return alerts

    def _user_delivered(self, venue: str, account: str, received_ms: int) -> None:
        """A user-stream event refreshes its stream only while the stream is live: after a reconnect
        frames flow before the resync that covers the gap has succeeded, and until it has the account
        is not known to be current."""
        user = f"{venue}:{account}:user"
        if user in self.connected:
            self.freshness[user] = received_ms

    def _on_health(self, event: StreamHealth) -> None:
        log.info("stream", stream=event.stream, state=event.state.value, detail=event.detail)
        for listener in self.health_listeners:
            listener(event)
        if event.state is StreamState.CONNECTED:
            self.connected.add(event.stream)
            if event.stream.endswith(":user"):
                self.freshness[event.stream] = event.received_ms
        elif event.state is StreamState.DISCONNECTED:
            self.connected.discard(event.stream)

    def _commit(self, state: PolicyState, alerts: list[Alert]) -> None:
        """Make a decision durable, then hand its alerts on.

        The policy's rows and the durable notifiers' rows (the Telegram outbox, see ``Stager``) are
        written in one transaction on this connection: a crash leaves either both (the alert is sent
        after the restart) or neither (the restart decides again and alerts then), never an episode
        recorded as said whose message is nowhere. A decision with nothing to write opens no
        transaction; one that writes is still a single commit."""
        changes = episode_store.plan(self.policy_state, state) if state is not self.policy_state else []
        later: list[Notifier] = list(self.notifiers) if alerts else []
        if changes or any(isinstance(n, Stager) for n in later):
            with transaction(self.conn):
                if changes:
                    episode_store.write(self.conn, changes)
                if alerts:
                    crashpoints.reached(crashpoints.STATE_WRITTEN)
                    later = [n for n in later if not (isinstance(n, Stager) and n.stage(self.conn, alerts))]
        self.policy_state = state
        if alerts:
            crashpoints.reached(crashpoints.COMMITTED)
            for a in alerts:
                self.stats.alerts[f"{a.kind.value}:{a.level.label}"] += 1
            for notifier in later:
                notifier.enqueue(alerts)
            for listener in self.alert_listeners:
                listener(alerts)

    def replace_policy_state(self, state: PolicyState) -> None:
        """Commands (mute, ack) change the policy state from outside the event path; persist it the
        same way."""
        self._commit(state, [])
