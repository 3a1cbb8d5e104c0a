"""How the daemon takes an event from an adapter: at once when nothing is pending, else in order
behind what is, and never by raising into the adapter's callback.

Each update here is evaluated alone (``mark_window_ms=0``, no merging): how marks are merged per window
is in test_mark_window.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import AccountSnapshotEvent, Event, MarkPrices, TierTable
from monitor.model import AccountRisk, Venue
from monitor.policy import PolicyConfig
from monitor.venues.base import VenueAccount
from tests.daemon.quiet_venue import BTC, ETH, TIERS, Silent, V, leg, run


@pytest.fixture
async def daemon(tmp_path: Path) -> Any:
    accounts = (VenueAccount("a", "key", "secret"),)
    options = DaemonOptions(
        str(tmp_path / "state.sqlite3"), PolicyConfig(), {Venue.BINANCE_USDM: accounts}, mark_window_ms=0
    )
    d = Daemon(options, [], adapter_factory=Silent)
    await d.start()
    await run(
        d,
        *(TierTable(V, "a", symbol, TIERS, 0) for symbol in (BTC, ETH)),
        AccountSnapshotEvent(V, "a", 10_000.0, (leg(BTC, 0.5), leg(ETH, 2)), 1),
    )
    try:
        yield d
    finally:
        await d.stop()


def push(daemon: Daemon, event: Event) -> None:
    """Hand ``event`` to the daemon as its venue's adapter does: through the sink it was built with."""
    adapter = daemon.adapters[Venue.BINANCE_USDM]
    assert isinstance(adapter, Silent)
    adapter.sink(event)


def marks(btc: float, ms: int) -> MarkPrices:
    return MarkPrices(V, {BTC: btc, ETH: 2_900.0}, ms, ms)


def btc_mark(daemon: Daemon) -> float:
    return daemon.engine.risks["a"].positions[0].mark_price


async def test_with_nothing_pending_an_event_is_applied_before_the_sink_returns(daemon: Daemon) -> None:
    push(daemon, marks(59_000.0, 10))
    assert daemon.stats.events["MarkPrices"] == 1
    assert btc_mark(daemon) == 59_000.0
    assert daemon.queue.empty()


async def test_an_event_behind_a_queued_one_waits_its_turn(daemon: Daemon) -> None:
    daemon.queue.put_nowait(marks(59_000.0, 10))
    push(daemon, marks(58_000.0, 20))
    assert daemon.stats.events["MarkPrices"] == 0  # neither jumped the queue
    await daemon.drain()
    assert daemon.stats.events["MarkPrices"] == 2
    assert btc_mark(daemon) == 58_000.0  # applied in order: the later one last


async def test_an_event_sunk_while_one_is_applied_is_applied_after_it(daemon: Daemon) -> None:
    seen: list[float] = []

    def listener(risks: Sequence[AccountRisk]) -> None:
        seen.append(risks[0].positions[0].mark_price)
        if len(seen) == 1:  # a callback of the first decision delivers the next event
            push(daemon, marks(58_000.0, 20))
            assert daemon.stats.events["MarkPrices"] == 1

    daemon.risk_listeners.append(listener)
    push(daemon, marks(59_000.0, 10))
    await daemon.drain()
    assert seen == [59_000.0, 58_000.0]


async def test_a_failing_event_is_logged_not_raised_into_the_adapter(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(event: Event) -> list[AccountRisk]:
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon.engine, "on_marks", broken)
    with capture_logs() as logs:
        push(daemon, marks(59_000.0, 10))  # does not raise
    assert [(e["event"], e["event_type"]) for e in logs] == [("event failed", "MarkPrices")]
    monkeypatch.undo()
    push(daemon, marks(58_000.0, 20))  # and the next one is applied as usual
    assert btc_mark(daemon) == 58_000.0


async def test_a_failing_queued_event_does_not_stop_the_consumer(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    on_marks = daemon.engine.on_marks

    def first_fails(event: MarkPrices) -> list[AccountRisk]:
        calls.append(event.event_ms)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return on_marks(event)

    monkeypatch.setattr(daemon.engine, "on_marks", first_fails)
    with capture_logs() as logs:
        # a consumer that died would leave the queue undrained: bounded, so that fails rather than hangs
        await asyncio.wait_for(run(daemon, marks(59_000.0, 10), marks(58_000.0, 20)), 10)
    assert calls == [10, 20]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["event failed"]
    assert btc_mark(daemon) == 58_000.0
