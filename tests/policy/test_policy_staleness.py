"""Freshness clocks: stale streams and symbols, repeats, recovery, and the end of watching."""

from __future__ import annotations

from policy_helpers import BTC, ETH, MIN, SEC

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.policy import Freshness, PolicyConfig, PolicyState, check_staleness, mute

CFG = PolicyConfig()
MARKS = "binanceusdm:marks"
USER = "binanceusdm:main:user"


def watch(
    times: range, streams: dict[str, int], marks: dict[tuple[str, str], int] | None = None
) -> tuple[PolicyState, list[Alert]]:
    state = PolicyState()
    out: list[Alert] = []
    for now in times:
        state, alerts = check_staleness(state, Freshness(streams=streams, marks=marks or {}), now, CFG)
        out += alerts
    return state, out


def test_a_silent_stream_is_stale_once_then_on_schedule() -> None:
    # user stream silent since t=0; its threshold is 90 s; danger repeats every 10 min
    _, alerts = watch(range(0, 22 * MIN, SEC), {USER: 0})
    assert [(a.transition, a.ts_ms // SEC) for a in alerts] == [
        (Transition.OPENED, 90),
        (Transition.REPEATED, 690),
        (Transition.REPEATED, 1290),
    ]
    first = alerts[0]
    assert (first.kind, first.level, first.key) == (AlertKind.STALE, Level.DANGER, f"stale:{USER}")
    assert first.message == "no data on binanceusdm:main:user for 90 s >= its limit 90 s (danger)"
    assert first.account == "main" and first.venue == "binanceusdm"
    assert alerts[1].message == (
        "no data on binanceusdm:main:user for 11 min >= its limit 90 s (danger, still)"
    )


def test_recovery_is_announced_with_the_gap() -> None:
    state, _ = watch(range(0, 20 * SEC, SEC), {MARKS: 0})
    state, alerts = check_staleness(state, Freshness(streams={MARKS: 21 * SEC}), 21 * SEC, CFG)
    [alert] = alerts
    assert (alert.kind, alert.transition, alert.level) == (AlertKind.RECOVERED, Transition.CLOSED, Level.OK)
    assert alert.previous_level is Level.DANGER
    assert alert.message == "binanceusdm:marks delivers again after 21 s without data"
    assert state.tracks == {}


def test_a_held_symbol_without_marks_is_stale_while_the_stream_flows() -> None:
    now = 20 * SEC
    streams = {MARKS: now - 100}
    marks = {("binanceusdm", BTC): now - 100, ("binanceusdm", ETH): now - 16 * SEC}
    state, alerts = check_staleness(PolicyState(), Freshness(streams=streams, marks=marks), now, CFG)
    [alert] = alerts
    assert alert.key == f"stale:binanceusdm:mark:{ETH}" and alert.symbol == ETH
    assert alert.message == "no mark price for ETH/USDT:USDT for 16 s >= its limit 15 s (danger)"
    state, alerts = check_staleness(
        state, Freshness(streams=streams, marks={**marks, ("binanceusdm", ETH): now + SEC}), now + SEC, CFG
    )
    assert [a.kind for a in alerts] == [AlertKind.RECOVERED]
    assert alerts[0].message == "mark price for ETH/USDT:USDT updates again after 17 s without one"


def test_a_stale_stream_does_not_also_raise_every_symbol() -> None:
    now = 30 * SEC
    fresh = Freshness(streams={MARKS: 0}, marks={("binanceusdm", BTC): 0, ("binanceusdm", ETH): 0})
    _, alerts = check_staleness(PolicyState(), fresh, now, CFG)
    assert [a.key for a in alerts] == [f"stale:{MARKS}"]


def test_a_stream_no_longer_watched_ends_its_episode() -> None:
    state, _ = watch(range(0, 100 * SEC, 10 * SEC), {USER: 0})
    state, alerts = check_staleness(state, Freshness(), 100 * SEC, CFG)
    [alert] = alerts
    assert (alert.kind, alert.transition) == (AlertKind.STALE, Transition.CLOSED)
    assert alert.message == "binanceusdm:main:user: no longer monitored (was danger)"
    assert state.tracks == {}


def test_staleness_respects_mutes_below_critical() -> None:
    state = mute(PolicyState(), "main", None, 10**15)
    state, alerts = check_staleness(state, Freshness(streams={USER: 0}), 100 * SEC, CFG)
    assert alerts == [] and f"stale:{USER}" in state.tracks


def test_fresh_streams_leave_the_state_untouched() -> None:
    state = PolicyState()
    same, alerts = check_staleness(state, Freshness(streams={MARKS: 9 * SEC, USER: 0}), 10 * SEC, CFG)
    assert alerts == [] and same is state
