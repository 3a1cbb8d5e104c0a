"""Keeping a venue's streams open: the reconnect loop every adapter shares.

No client library reconnects on its own in a way the monitor can trust, and whatever a venue said
while a stream was down is lost. So a stream runs in a loop: subscribe; once the socket is open,
resync over REST (retried with backoff until it succeeds) and only then declare the stream live, so
nothing falls between the snapshot and the stream; when the subscription fails, say so, wait a
jittered backoff and start again. A backoff that grew through an outage does not outlast it: a wait
longer than a second probes the venue once a second (one probe at a time for the whole venue) and ends
when it answers. A banned venue is not asked again (a listen key, a resync) before its ban is over.

``StreamKeeper`` holds one venue's part of this (each stream's liveness, the shared probe, the REST
gate); ``keep_subscribed`` is the loop for a stream whose liveness needs a resync (an account's user
stream). The adapter supplies what is its own: how to subscribe, how to tell the socket is open, how
to resync, how to ping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from monitor.events import StreamHealth, StreamState
from monitor.logs import get_logger, scrub
from monitor.venues.base import Backoff, RestGate, Sink

log = get_logger(__name__)

PROBE_EVERY_S = 1.0
"""A reconnect wait longer than this probes the venue this often, and ends when it answers."""
PROBE_TIMEOUT_S = 2.0

RESYNC_RETRY_BASE_S = 0.5
RESYNC_RETRY_CAP_S = 10.0
"""A failed post-reconnect resync is retried after 0.25-0.5 s, doubling, at most every 5-10 s."""


class StreamKeeper:
    """One venue's streams: which are live, their health events, reconnect waits and the probe.

    ``ping`` asks the venue something cheap (its time); ``on_answer`` runs when a probe was answered
    (a client library's own dial backoff can be dropped then, so the next subscription dials at once).
    """

    def __init__(
        self,
        sink: Sink,
        clock: Callable[[], int],
        gate: RestGate,
        ping: Callable[[], Awaitable[object]],
        on_answer: Callable[[], None] = lambda: None,
    ) -> None:
        self.sink = sink
        self.clock = clock
        self.gate = gate
        self._ping = ping
        self._on_answer = on_answer
        self._live: dict[str, bool] = {}
        self._probe: asyncio.Future[bool] | None = None
        self._probe_ms = 0

    def is_live(self, stream: str) -> bool:
        return self._live.get(stream, False)

    def live(self, stream: str, received_ms: int) -> None:
        """The stream proved itself (a valid frame, or a resync over its open subscription)."""
        self._live[stream] = True
        self.sink(StreamHealth(stream, StreamState.CONNECTED, received_ms=received_ms))

    def lost(self, stream: str, why: str) -> None:
        self._live[stream] = False
        self.sink(StreamHealth(stream, StreamState.DISCONNECTED, why, self.clock()))

    async def down(
        self, stream: str, exc: BaseException, backoff: Backoff, *, needs_rest: bool = True
    ) -> None:
        """The subscription failed: say so, then wait before the next attempt (past the venue's ban
        when the next attempt needs REST)."""
        detail = scrub(f"{type(exc).__name__}: {exc}")[:200]
        self.lost(stream, detail)
        delay = backoff.next_delay()
        if needs_rest:
            delay = max(delay, self.gate.remaining_s())
        log.warning("stream down", stream=stream, error=detail, retry_in_s=round(delay, 2))
        await self.pause(delay)

    async def pause(self, delay: float) -> None:
        """Wait out a reconnect backoff, but not past the moment the venue answers again: a backoff
        grown through an outage would otherwise keep the daemon blind for up to its cap after the
        exchange is back. Short waits (a dropped socket) are slept through; longer ones probe the
        venue once a second (``venue_answers``)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + delay
        while (left := end - loop.time()) > 0:
            if left <= PROBE_EVERY_S or self.gate.closed_until() is not None:
                await asyncio.sleep(min(left, PROBE_EVERY_S))
                continue
            await asyncio.sleep(PROBE_EVERY_S)
            if await self.venue_answers():
                return

    async def venue_answers(self) -> bool:
        """Whether the venue answers: one ping at a time for the whole venue, however many streams
        wait, and at most one every half second."""
        now = self.clock()
        if self._probe is None or (self._probe.done() and now - self._probe_ms >= 500):
            self._probe_ms = now
            self._probe = asyncio.ensure_future(self._answers())
        if not await asyncio.shield(self._probe):
            return False
        self._on_answer()
        return True

    async def _answers(self) -> bool:
        try:
            await asyncio.wait_for(self._ping(), PROBE_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    async def resync_until_done(
        self, stream: str, resync: Callable[[], Awaitable[None]], watch: asyncio.Future[Any]
    ) -> bool:
        """Resync after a reconnect, retried with backoff until it succeeds (True) or the new
        subscription fails meanwhile (False: the stream loop reconnects, then resyncs again). What the
        account did while the stream was down is known only from this snapshot: until it is taken the
        stream is not declared live, so the account's freshness ages and staleness says so."""
        retry = Backoff(base=RESYNC_RETRY_BASE_S, cap=RESYNC_RETRY_CAP_S)
        while True:
            try:
                await resync()
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = max(retry.next_delay(), self.gate.remaining_s())
                detail = scrub(f"{type(exc).__name__}: {exc}")[:200]
                log.warning("resync failed", stream=stream, error=detail, retry_in_s=round(delay, 2))
            await asyncio.wait({watch}, timeout=delay)
            if watch.done():
                return False

    async def stop(self) -> None:
        if self._probe is not None and not self._probe.done():
            self._probe.cancel()
            with contextlib.suppress(BaseException):
                await self._probe


async def keep_subscribed(
    keeper: StreamKeeper,
    stream: str,
    subscribe: Callable[[], Awaitable[Any]],
    *,
    opened: Callable[[asyncio.Future[Any]], Awaitable[bool]],
    resync: Callable[[], Awaitable[None]],
    renew: asyncio.Event | None = None,
    restart: Callable[[], Awaitable[None]] | None = None,
    after_live: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Keep one stream subscribed until cancelled: resubscribe, then resync, then declare it live.

    ``subscribe()`` returns once the subscription ends (it raises when it fails). ``opened(watch)``
    tells whether the new subscription's socket opened (False when it failed first or took too
    long: a stream is never declared live on a hope). ``renew``, when set, ends the subscription
    early: ``restart()`` drops it (a listen key that expired) and the loop subscribes again at once.
    ``after_live()`` runs each time the stream has been declared live: work that must follow a
    reconnect but not delay the stream's freshness (reading settings that were cached meanwhile).
    """
    backoff = Backoff()
    while True:
        watch = asyncio.ensure_future(subscribe())
        # a subscription that fails after the loop was cancelled (a socket dropped during a stop)
        # is not an error nobody read
        watch.add_done_callback(_retrieved)
        if (
            not keeper.is_live(stream)
            and await opened(watch)
            # resync only once subscribed, so nothing falls between the snapshot and the stream;
            # the stream is live only once that resync succeeded
            and await keeper.resync_until_done(stream, resync, watch)
        ):
            keeper.live(stream, keeper.clock())
            backoff.reset()
            if after_live is not None:
                await after_live()
        waits: set[asyncio.Future[Any]] = {watch}
        renew_wait = asyncio.ensure_future(renew.wait()) if renew is not None else None
        if renew_wait is not None:
            waits.add(renew_wait)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if renew_wait is not None:
            renew_wait.cancel()
        if renew is not None and renew.is_set():
            renew.clear()
            watch.cancel()
            with contextlib.suppress(BaseException):
                await watch
            if restart is not None:
                await restart()
            continue
        try:
            watch.result()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await keeper.down(stream, exc, backoff)


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
