"""The newest mark of a symbol wins, whatever brought it: a REST resync may change positions and the
wallet, never move a mark back in time, and is judged at the newest marks.

A resync's REST bodies are valued when the exchange answers the first request; by the time the last
one is back the stream may have moved on. Judging the account at the body's marks then raises a
level for a price that is already gone, and the next tick drops it again: two pushed alerts about a
state that never was."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert, AlertKind, Level
from monitor.daemon.engine import REST_MARK_LAG_MS, Engine, MarketInfo
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import AccountSnapshotEvent, MarkPrices, PositionState, TierTable
from monitor.model import MarginMode, PositionSide, Venue
from monitor.policy import PolicyConfig
from monitor.venues.base import VenueAccount
from tests.daemon.quiet_venue import BTC, ETH, TIERS, Silent, V, run

# One cross long of 1 BTC from 60,000 on a 10,000 wallet: liquidated near 50,201. At 57,000 the
# distance (11.9 %) is a warning; at 52,000 (3.5 %) it is critical.
CALM, CRASH = 57_000.0, 52_000.0


def btc_long(mark: float, *, update_ms: int = 0) -> PositionState:
    state = PositionState(
        BTC, PositionSide.BOTH, MarginMode.CROSS, 1.0, 60_000.0, mark_price=mark, leverage=10
    )
    return replace(state, update_ms=update_ms) if update_ms else state


def snapshot(mark: float, *, requested: int, received: int, update_ms: int = 0) -> AccountSnapshotEvent:
    return AccountSnapshotEvent(
        V, "a", 10_000.0, (btc_long(mark, update_ms=update_ms),), received, requested_ms=requested
    )


def tick(btc: float, event_ms: int, received_ms: int | None = None) -> MarkPrices:
    return MarkPrices(V, {BTC: btc, ETH: 3_000.0}, event_ms, event_ms if received_ms is None else received_ms)


@pytest.fixture
async def daemon(tmp_path: Path) -> Any:
    accounts = (VenueAccount("a", "key", "secret"),)
    options = DaemonOptions(str(tmp_path / "state.sqlite3"), PolicyConfig(), {Venue.BINANCE_USDM: accounts})
    d = Daemon(options, [], adapter_factory=Silent)
    await d.start()
    await run(d, *(TierTable(V, "a", symbol, TIERS, 0) for symbol in (BTC, ETH)))
    try:
        yield d
    finally:
        await d.stop()


def risk_levels(alerts: Sequence[Alert]) -> list[Level]:
    return [a.level for a in alerts if a.kind is AlertKind.RISK]


async def test_a_slow_resync_in_a_fast_market_neither_flips_the_level_nor_rewinds_the_mark(
    daemon: Daemon,
) -> None:
    seen: list[Alert] = []
    daemon.alert_listeners.append(seen.extend)
    await run(daemon, snapshot(60_000.0, requested=1, received=2))
    await run(daemon, tick(CRASH, 1_000))  # the crash: critical
    assert risk_levels(seen)[-1] is Level.CRITICAL
    await run(daemon, tick(CALM, 2_000))  # the rebound
    level = risk_levels(seen)[-1]
    assert level < Level.CRITICAL
    before = len(seen)
    # A resync whose requests left during the crash (1,500) and whose last body came back after the
    # rebound (2,500): its positionRisk was valued at the crash.
    await run(daemon, snapshot(CRASH, requested=1_500, received=2_500))
    assert daemon.engine.marks[V][BTC] == CALM  # the mark did not go back
    assert daemon.engine.risks["a"].positions[0].mark_price == CALM  # nor was the account judged at it
    assert seen[before:] == []  # same positions, same wallet, same marks: nothing to say
    await run(daemon, tick(CALM + 100, 3_000))
    assert Level.CRITICAL not in risk_levels(seen[before:])  # no flip-flop


async def test_a_rest_mark_still_covers_a_stalled_stream(daemon: Daemon) -> None:
    """A body requested well after the stream's last frame (a stalled feed) is the newer price."""
    await run(daemon, snapshot(60_000.0, requested=1, received=2), tick(CALM, 1_000))
    await run(
        daemon, snapshot(CRASH, requested=1_000 + REST_MARK_LAG_MS + 1, received=1_000 + 2 * REST_MARK_LAG_MS)
    )
    assert daemon.engine.marks[V][BTC] == CRASH
    assert daemon.engine.risks["a"].positions[0].mark_price == CRASH
    assert daemon.engine.mark_age_ms(V, BTC, 5_000) == 4_000  # the stream's freshness clock did not move


def engine() -> Engine:
    e = Engine()
    e.set_markets(V, [MarketInfo(BTC), MarketInfo(ETH)])
    e.add_account("a", Venue.BINANCE_USDM)
    for symbol in (BTC, ETH):
        e.on_tiers(TierTable(V, "a", symbol, TIERS, 0))
    return e


def test_a_stream_price_older_than_the_stored_mark_is_dropped() -> None:
    e = engine()
    e.on_snapshot(snapshot(60_000.0, requested=1, received=2))
    e.on_marks(tick(CALM, 2_000))
    assert e.on_marks(tick(CRASH, 1_000, received_ms=2_100)) == []  # a late frame: nothing to judge
    assert e.marks[V][BTC] == CALM
    # per-symbol times: the newer price of a mixed frame is taken, the older one is not
    e.on_marks(MarkPrices(V, {BTC: CRASH, ETH: 2_900.0}, 1_500, 2_200, {BTC: 1_500, ETH: 2_500}))
    assert e.marks[V] == {BTC: CALM, ETH: 2_900.0}
    assert e.risks["a"].positions[0].mark_price == CALM


def test_a_body_after_a_fill_proves_its_mark_newer_than_the_stream() -> None:
    """``updateTime`` (the position's last change) is a lower bound of the body's mark time: a
    position changed after the stored mark's time was valued after it, and a stream frame older
    than that change is then the older price."""
    e = engine()
    e.on_snapshot(snapshot(60_000.0, requested=1, received=2))
    e.on_marks(tick(CALM, 2_000))
    e.on_snapshot(snapshot(CRASH, requested=2_100, received=2_200, update_ms=2_050))
    assert e.marks[V][BTC] == CRASH
    e.on_marks(tick(CALM, 2_040, received_ms=2_300))  # valued before the fill the body saw
    assert e.marks[V][BTC] == CRASH
    e.on_marks(tick(CALM, 3_000))
    assert e.marks[V][BTC] == CALM


def test_the_exchange_liquidation_price_is_compared_only_at_the_marks_of_its_body() -> None:
    e = engine()
    first = e.on_snapshot(snapshot(60_000.0, requested=1, received=2))
    assert first is not None
    ours = first.positions[0].liquidation_price
    assert ours is not None
    e.on_marks(tick(CALM, 2_000))
    body = replace_lp(snapshot(CRASH, requested=1_500, received=2_500), ours * 1.2)
    risk = e.on_snapshot(body)
    assert risk is not None and risk.positions[0].deviation_pct is None  # computed at another mark
    body = replace_lp(snapshot(CALM, requested=2_600, received=2_700), ours * 1.2)
    risk = e.on_snapshot(body)
    assert risk is not None and risk.positions[0].deviation_pct is not None


def replace_lp(ev: AccountSnapshotEvent, lp: float) -> AccountSnapshotEvent:
    return replace(ev, positions=tuple(replace(p, liquidation_price=lp) for p in ev.positions))
