"""A venue's marks are evaluated at most once per window, merged, and never a window late; any other
event ends the window, so it is judged with every mark that arrived before it and none after.

The daemon runs on a fake clock with fake timers (its ``clock`` and ``call_later`` injections): a
window ends when the test moves the clock past it, so nothing here depends on how fast the machine
is. Events go in through the sink the daemon hands its venue adapter; decisions are watched through
the risk listeners."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import (
    AccountSnapshotEvent,
    AccountUpdate,
    Event,
    MarkPrices,
    OrderKind,
    OrderUpdate,
    PositionState,
    TierTable,
)
from monitor.model import AccountRisk, MarginMode, PositionSide, Venue
from monitor.policy import PolicyConfig
from monitor.venues.base import Endpoints, VenueAccount
from tests.daemon.quiet_venue import BTC, ETH, TIERS, Silent, V, leg

WINDOW = 50
START = 1_000_000


@dataclass(order=True)
class Timer:
    due: int
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeTime:
    """The daemon's clock (ms) and its timers: a timer runs when ``advance`` moves the clock past it."""

    now: int = START
    timers: list[Timer] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def clock(self) -> int:
        return self.now

    def call_later(self, seconds: float, callback: Callable[[], None]) -> Timer:
        timer = Timer(self.now + round(seconds * 1000), next(self._seq), callback)
        heapq.heappush(self.timers, timer)
        return timer

    def pending(self) -> list[int]:
        return sorted(t.due for t in self.timers if not t.cancelled)

    def advance(self, to: int) -> None:
        while self.timers and self.timers[0].due <= to:
            timer = heapq.heappop(self.timers)
            if not timer.cancelled:
                self.now = timer.due
                timer.callback()
        self.now = to


class Pushing(Silent):
    """A venue whose events the test pushes through the sink the daemon gave it."""

    pushed: ClassVar[list[Pushing]] = []

    def __init__(
        self, venue: Venue, accounts: Any, sink: Callable[[Event], None], endpoints: Endpoints | None
    ) -> None:
        super().__init__(venue, accounts, sink, endpoints)
        self.push = sink
        Pushing.pushed.append(self)


@dataclass(frozen=True)
class Decision:
    at: int  # the fake clock when it was made
    btc: float  # the BTC mark it was judged at
    btc_amount: float  # the BTC position it judged


@dataclass
class Rig:
    daemon: Daemon
    time: FakeTime
    push: Callable[[Event], None]
    decisions: list[Decision]

    def mark(self, btc: float, event_ms: int, at: int | None = None) -> None:
        """BTC's mark as a per-symbol venue sends it, arriving at ``at`` (default: now)."""
        if at is not None:
            self.time.advance(at)
        self.push(MarkPrices(V, {BTC: btc}, event_ms, self.time.now))

    async def settle(self) -> None:
        """Wait until the queue is empty, without ending any window (``drain`` would end them)."""
        await self.daemon.queue.join()

    def marks_evaluated(self) -> int:
        return self.daemon.stats.events["MarkPrices"]


def fill(amount: float, at: int) -> AccountUpdate:
    """BTC's position after a fill, as a user-stream delta says it (no mark)."""
    btc = PositionState(BTC, PositionSide.BOTH, MarginMode.CROSS, amount, 60_000.0)
    return AccountUpdate(V, "a", "ORDER", None, (btc,), at, at)


def liquidation(at: int) -> OrderUpdate:
    return OrderUpdate(
        V, "a", ETH, "autoclose-1", OrderKind.LIQUIDATION, "sell", PositionSide.BOTH, "LIMIT", "TRADE",
        "FILLED", False, 2.0, 2.0, 2_000.0, 2_000.0, -2_000.0, 1.0, at, at,
    )  # fmt: skip


async def make_rig(tmp_path: Path, window: int) -> Rig:
    time = FakeTime()
    accounts = (VenueAccount("a", "key", "secret"),)
    options = DaemonOptions(
        str(tmp_path / "state.sqlite3"),
        PolicyConfig(),
        {Venue.BINANCE_USDM: accounts},
        mark_window_ms=window,
    )
    Pushing.pushed.clear()
    daemon = Daemon(options, [], clock=time.clock, adapter_factory=Pushing, call_later=time.call_later)
    await daemon.start()
    (venue,) = Pushing.pushed
    for event in (
        *(TierTable(V, "a", symbol, TIERS, 0) for symbol in (BTC, ETH)),
        AccountSnapshotEvent(V, "a", 10_000.0, (leg(BTC, 0.5), leg(ETH, 2)), 1),
    ):
        venue.push(event)
    await daemon.drain()
    decisions: list[Decision] = []

    def record(risks: Sequence[AccountRisk]) -> None:
        for risk in risks:
            for row in risk.positions:
                if row.symbol == BTC:
                    decisions.append(Decision(time.now, row.mark_price, row.contracts))

    daemon.risk_listeners.append(record)
    return Rig(daemon, time, venue.push, decisions)


@pytest.fixture
async def rig(tmp_path: Path) -> Any:
    r = await make_rig(tmp_path, WINDOW)
    try:
        yield r
    finally:
        await r.daemon.stop()


async def test_the_first_mark_after_a_quiet_window_is_evaluated_at_once(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    assert rig.decisions == [Decision(START, 59_000.0, 0.5)]
    rig.mark(58_000.0, 20, at=START + WINDOW)  # a whole window later: at once again
    assert rig.decisions[-1] == Decision(START + WINDOW, 58_000.0, 0.5)
    assert rig.time.pending() == []


async def test_marks_within_a_window_are_merged_keeping_the_newest_of_each_symbol(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    rig.mark(58_000.0, 30, at=START + 10)
    rig.push(MarkPrices(V, {ETH: 2_500.0}, 35, START + 20))
    rig.mark(57_000.0, 25, at=START + 30)  # arrives last but is older by the exchange's time
    rig.push(MarkPrices(V, {ETH: 2_400.0, BTC: 56_000.0}, 40, START + 40, stamps={ETH: 40, BTC: 20}))
    assert rig.marks_evaluated() == 1  # the first only: the others wait for the window's end
    assert rig.time.pending() == [START + WINDOW]
    rig.time.advance(START + WINDOW)
    assert rig.marks_evaluated() == 2  # one decision for the four
    assert rig.decisions[-1] == Decision(START + WINDOW, 58_000.0, 0.5)
    eth = next(row for row in rig.daemon.engine.risks["a"].positions if row.symbol == ETH)
    assert eth.mark_price == 2_400.0


async def test_merged_marks_keep_the_engine_rule_against_stored_marks(rig: Rig) -> None:
    rig.mark(59_000.0, 100)
    rig.mark(58_000.0, 90, at=START + 10)  # older than the stored mark: nothing to evaluate
    rig.mark(57_000.0, 95, at=START + 20)
    rig.time.advance(START + WINDOW)
    assert [d.btc for d in rig.decisions] == [59_000.0]
    assert rig.daemon.engine.marks[V][BTC] == 59_000.0


@pytest.mark.parametrize(
    "gaps",
    [
        [7] * 40,  # a per-symbol venue faster than the window
        [100] * 10,  # slower than the window: each at once
        [1, 1, 1, 60, 1, 49, 50, 51, 3, 200, 10, 10, 10, 10, 10, 10, 10],  # bursts and lulls
        [0, 0, 0, 0, 25, 0, 0, 25, 0, 0],  # several at the same millisecond
    ],
)
async def test_no_mark_waits_longer_than_the_window_and_decisions_are_a_window_apart(
    rig: Rig, gaps: list[int]
) -> None:
    arrivals = list(itertools.accumulate(gaps, initial=START))
    made_before = []  # decisions made before each mark arrived
    for i, at in enumerate(arrivals):
        rig.time.advance(at)
        made_before.append(len(rig.decisions))
        rig.mark(60_000.0 - i, i)  # each a new price, newer by the exchange's time
    rig.time.advance(arrivals[-1] + WINDOW)
    times = [d.at for d in rig.decisions]
    assert all(b - a >= WINDOW for a, b in itertools.pairwise(times)), times
    for i, at in enumerate(arrivals):
        # the first decision after it arrived was made within the window, at it or a newer price
        decision = rig.decisions[made_before[i]]
        assert decision.at - at <= WINDOW
        assert decision.btc <= 60_000.0 - i
    assert rig.decisions[-1].btc == 60_000.0 - (len(arrivals) - 1)
    assert rig.time.pending() == []


async def test_a_fill_ends_the_window_and_is_judged_with_the_marks_before_it_not_after(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    rig.mark(58_000.0, 20, at=START + 10)  # held for the window
    rig.push(fill(1.0, START + 20))  # ends it: the held mark first, then the fill
    rig.mark(57_000.0, 30)  # arrives after the fill, before the consumer's turn
    await rig.settle()
    assert rig.time.now == START + 10  # no window ended by the clock
    assert rig.decisions == [
        Decision(START, 59_000.0, 0.5),
        Decision(START + 10, 58_000.0, 0.5),  # the mark that came before the fill
        Decision(START + 10, 58_000.0, 1.0),  # the fill, at that mark and not at a later one
    ]
    # the mark after it is held: a window from the mark decision made before it arrived
    assert rig.time.pending() == [START + WINDOW]
    rig.time.advance(START + WINDOW)
    assert rig.decisions[-1] == Decision(START + WINDOW, 57_000.0, 1.0)


async def test_a_liquidation_does_not_wait_for_the_window(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    rig.mark(58_000.0, 20, at=START + 10)
    rig.push(liquidation(START + 20))
    await rig.settle()
    assert rig.daemon.stats.events["OrderUpdate"] == 1
    assert rig.decisions[-1] == Decision(START + 10, 58_000.0, 0.5)  # the held mark went first
    assert rig.time.pending() == []  # the window's timer was cancelled


async def test_marks_arriving_while_one_is_applied_are_merged_while_they_wait(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    rig.time.advance(START + WINDOW)

    def deliver_during_a_decision(risks: Sequence[AccountRisk]) -> None:
        if rig.decisions[-1].btc_amount == 1.0 and rig.marks_evaluated() == 1:
            rig.mark(58_000.0, 60)  # the window has passed: queued at once, behind the fill
            rig.mark(57_000.0, 70)  # joins it while it waits
            rig.mark(56_000.0, 65)  # older by the exchange's time: dropped

    rig.daemon.risk_listeners.append(deliver_during_a_decision)
    rig.push(fill(1.0, START + WINDOW))
    await rig.settle()
    assert rig.time.pending() == []
    assert rig.decisions[1:] == [
        Decision(START + WINDOW, 59_000.0, 1.0),
        Decision(START + WINDOW, 57_000.0, 1.0),
    ]


async def test_drain_evaluates_the_held_marks(rig: Rig) -> None:
    rig.mark(59_000.0, 10)
    rig.mark(58_000.0, 20, at=START + 10)
    await rig.daemon.drain()
    assert rig.decisions[-1] == Decision(START + 10, 58_000.0, 0.5)
    assert rig.time.pending() == []


async def test_window_zero_evaluates_every_update_alone_and_at_once(tmp_path: Path) -> None:
    rig = await make_rig(tmp_path, 0)
    try:
        for i in range(5):
            rig.mark(59_000.0 - i, i, at=START + i)
            assert rig.decisions[-1] == Decision(START + i, 59_000.0 - i, 0.5)
        assert rig.marks_evaluated() == 5
        assert rig.time.timers == []
    finally:
        await rig.daemon.stop()
