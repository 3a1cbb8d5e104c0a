"""What the daemon's consumer does when nothing is queued: it joins the columns a change left stale,
with the policy's tables for them, so that the next tick does not; a failure there costs only that
head start. It frees what ticks replaced and checkpoints the state file's WAL there too."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import AccountSnapshotEvent, AccountUpdate, MarkPrices, TierTable
from monitor.margin.rows import RowLabels
from monitor.model import Venue
from monitor.policy import PolicyConfig
from monitor.venues.base import VenueAccount
from tests.daemon.quiet_venue import BTC, ETH, TIERS, Silent, V, leg, run


@pytest.fixture
async def daemon(tmp_path: Path) -> Any:
    accounts = (VenueAccount("a", "key", "secret"), VenueAccount("b", "key", "secret"))
    options = DaemonOptions(str(tmp_path / "state.sqlite3"), PolicyConfig(), {Venue.BINANCE_USDM: accounts})
    d = Daemon(options, [], adapter_factory=Silent)
    await d.start()
    await run(
        d,
        *(TierTable(V, name, symbol, TIERS, 0) for name in ("a", "b") for symbol in (BTC, ETH)),
        AccountSnapshotEvent(V, "a", 10_000.0, (leg(BTC, 0.5), leg(ETH, 2)), 1),
        AccountSnapshotEvent(V, "b", 10_000.0, (leg(BTC, -0.2),), 1),
        MarkPrices(V, {BTC: 59_000.0, ETH: 2_900.0}, 10, 10),
    )
    try:
        yield d
    finally:
        await d.stop()


def ready(daemon: Daemon, layout: RowLabels) -> bool:
    """Whether the next tick on ``layout`` finds the policy's tables and episode arrays made."""
    return daemon.screen_cache.ready(layout, daemon.options.policy, daemon.policy_state.tracks)


async def test_a_change_is_joined_while_idle_not_by_the_next_tick(daemon: Daemon) -> None:
    await run(daemon, AccountUpdate(V, "a", "ORDER", 9_900.0, (leg(ETH, 0.0),), 20, 20))
    assert daemon.engine.prepare() == []  # the consumer did it when the queue ran empty
    (layout,) = daemon.engine.layouts()
    assert layout.symbols == [BTC, BTC]
    assert ready(daemon, layout)  # the policy's tables too
    await run(daemon, MarkPrices(V, {BTC: 58_000.0, ETH: 2_800.0}, 30, 30))
    assert daemon.engine.layouts() == [layout]  # the tick used it
    assert daemon.engine.risks["a"].positions[0].mark_price == 58_000.0


async def test_a_failure_while_idle_is_logged_and_the_tick_joins_them_itself(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(daemon.engine, "prepare", broken)
    await run(daemon, AccountUpdate(V, "a", "ORDER", 9_900.0, (leg(ETH, 0.0),), 20, 20))
    assert daemon.engine.layouts() == []
    await run(daemon, MarkPrices(V, {BTC: 58_000.0, ETH: 2_800.0}, 30, 30))
    assert daemon.stats.events["MarkPrices"] == 2
    assert [p.symbol for p in daemon.engine.risks["a"].positions] == [BTC]
    assert daemon.engine.risks["a"].positions[0].mark_price == 58_000.0


async def test_what_a_tick_replaced_is_freed_when_idle(daemon: Daemon) -> None:
    await run(daemon, MarkPrices(V, {BTC: 58_000.0, ETH: 2_800.0}, 30, 30))
    assert daemon.engine.unreleased() == 0  # released after the decision, not kept for the next tick


@pytest.mark.parametrize("due", [True, False])
async def test_the_state_files_wal_is_checkpointed_when_idle(daemon: Daemon, due: bool) -> None:
    if not due:
        daemon.checkpoint.every_s = 1e9
    daemon.checkpoint.clock = lambda: 1e6  # the interval has passed
    await run(daemon, AccountUpdate(V, "a", "ORDER", 9_900.0, (leg(ETH, 0.0),), 20, 20))  # a write
    daemon.conn.execute("CREATE TABLE probe (id INTEGER)")  # the first write after the checkpoint
    probe = sqlite3.connect(daemon.options.state_file)
    frames = probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1]
    probe.close()
    if due:
        assert frames <= 4  # the WAL restarted at the write after the idle checkpoint
    else:
        assert frames > 4  # everything since the daemon started


async def test_the_episodes_of_a_changed_state_are_laid_out_when_idle(daemon: Daemon) -> None:
    before = daemon.policy_state.tracks
    await run(daemon, MarkPrices(V, {BTC: 41_000.0, ETH: 2_600.0}, 30, 30))  # account a goes critical
    tracks = daemon.policy_state.tracks
    assert tracks is not before and any(t.is_open for t in tracks.values())
    (layout,) = daemon.engine.layouts()
    assert ready(daemon, layout)  # the next tick finds them, rather than laying them out itself


async def test_the_episodes_are_laid_out_after_a_timer_changed_the_tracks(tmp_path: Path) -> None:
    """A repeat or a staleness alert changes the tracks outside the event path: the timer that made
    the change lays them out for the next tick, as the consumer does after an event."""
    now = [0]
    accounts = (VenueAccount("a", "key", "secret"),)
    options = DaemonOptions(
        str(tmp_path / "state.sqlite3"),
        PolicyConfig(),
        {Venue.BINANCE_USDM: accounts},
        repeat_check_seconds=0.01,
    )
    d = Daemon(options, [], adapter_factory=Silent, clock=lambda: now[0])
    await d.start()
    try:
        await run(
            d,
            *(TierTable(V, "a", symbol, TIERS, 0) for symbol in (BTC, ETH)),
            AccountSnapshotEvent(V, "a", 10_000.0, (leg(BTC, 0.5), leg(ETH, 2)), 1),
            MarkPrices(V, {BTC: 41_000.0, ETH: 2_600.0}, 30, 30),  # critical: repeats every minute
        )
        repeated = asyncio.Event()
        d.alert_listeners.append(lambda alerts: repeated.set() if alerts else None)
        now[0] = 10 * 60_000  # the repeat is due at the timer's next turn
        await asyncio.wait_for(repeated.wait(), 5)
        (layout,) = d.engine.layouts()
        assert ready(d, layout)
    finally:
        await d.stop()
