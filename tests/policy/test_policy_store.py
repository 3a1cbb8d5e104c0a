"""The policy state through SQLite: exact round trips, diffs, and restarts that neither forget nor
repeat."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from policy_helpers import BTC, ETH, MIN, SEC, account, position

from monitor.alerts import Alert
from monitor.daemon.store import open_db
from monitor.model import AccountRisk, MarginMode, PositionSide
from monitor.policy import (
    Freshness,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    ThresholdOverride,
    ack,
    check_staleness,
    evaluate,
    mute,
)
from monitor.policy.episode_store import load, plan, save, write
from monitor.policy.facts import live_facts

CFG = PolicyConfig(accounts={"side": ThresholdOverride(confirm_ticks=3)})


def rich_state() -> PolicyState:
    """Open episodes of every kind, an ack, a pending streak, mutes, seen events, known positions."""
    cross = MarginMode.CROSS
    state, _ = evaluate(
        PolicyState(),
        PolicyInputs(
            risks=[
                account(
                    position(BTC, ratio=0.9, mode=cross, deviation=0.9),
                    position(ETH, ratio=0.1, distance=None, position_side=PositionSide.LONG),
                    cross_ratio=0.9,
                ),
                account(position(BTC, ratio=0.6), name="side"),  # confirmation pending
            ]
        ),
        0,
        CFG,
    )
    state, _ = ack(state, f"risk:main:{BTC}:both", 5 * SEC)
    state, _ = check_staleness(state, Freshness(streams={"binanceusdm:main:user": 0}), 100 * SEC, CFG)
    state = mute(state, "main", None, 10 * MIN)
    state = mute(state, None, ETH, 20 * MIN)
    state = mute(state, None, None, 30 * MIN)
    return state


def reopen(path: Path) -> sqlite3.Connection:
    return open_db(path)


def test_an_empty_file_loads_an_empty_state(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    assert load(conn) == PolicyState()
    assert load(conn) == PolicyState()  # the schema is applied once


def test_round_trip_is_exact(tmp_path: Path) -> None:
    state = rich_state()
    assert state.tracks["risk:side:BTC/USDT:USDT:both"].streak != (0, 0, 0)
    conn = open_db(tmp_path / "state.db")
    save(conn, PolicyState(), state)
    conn.close()
    loaded = load(reopen(tmp_path / "state.db"))
    assert loaded == state
    for key, track in state.tracks.items():
        assert dict(loaded.tracks[key].facts) == dict(track.facts)  # facts are outside equality


def test_saving_a_difference_updates_and_deletes(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    first = rich_state()
    save(conn, PolicyState(), first)
    # the BTC position closes (its episodes end), the user stream recovers, a mute is lifted
    second, _ = evaluate(
        first,
        PolicyInputs(
            risks=[account(position(ETH, ratio=0.1, distance=None, position_side=PositionSide.LONG))]
        ),
        200 * SEC,
        CFG,
    )
    second, _ = check_staleness(
        second, Freshness(streams={"binanceusdm:main:user": 200 * SEC}), 200 * SEC, CFG
    )
    second = mute(second, "main", None, 50 * MIN)
    save(conn, first, second)
    assert load(reopen(tmp_path / "state.db")) == second
    rows = conn.execute("SELECT key FROM policy_tracks ORDER BY key").fetchall()
    assert [r["key"] for r in rows] == sorted(second.tracks)


def test_save_joins_the_callers_transaction(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    load(conn)
    conn.execute("BEGIN")
    save(conn, PolicyState(), rich_state())
    conn.execute("ROLLBACK")
    assert load(conn) == PolicyState()


def test_a_failed_save_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    before = rich_state()
    save(conn, PolicyState(), before)
    after = mute(PolicyState(), None, None, 1)  # every track, position and event id goes
    changes = plan(before, after)
    assert changes
    # the last write of a save fails after the others have run
    with pytest.raises(sqlite3.OperationalError):
        write(conn, [*changes, ("INSERT INTO no_such_table VALUES (?)", [(1,)])])
    assert not conn.in_transaction
    assert load(conn) == before


def signature(alerts: list[Alert]) -> list[tuple[str, str, str, str | None, int]]:
    return [(a.key, a.kind.value, a.transition.value, a.episode_id, a.ts_ms) for a in alerts]


def test_a_restart_neither_forgets_nor_repeats(tmp_path: Path) -> None:
    cross = MarginMode.CROSS
    timeline = [
        (0, account(position(BTC, ratio=0.6, mode=cross), cross_ratio=0.6)),
        (20 * SEC, account(position(BTC, ratio=0.9, mode=cross), cross_ratio=0.9)),
        (50 * SEC, account(position(BTC, ratio=0.9, mode=cross), cross_ratio=0.9)),
        # restart here
        (70 * SEC, account(position(BTC, ratio=0.9, mode=cross), cross_ratio=0.9)),
        (85 * SEC, account(position(BTC, ratio=0.9, mode=cross), position(ETH), cross_ratio=0.9)),
        (200 * SEC, account(position(ETH), cross_ratio=0.1)),
    ]

    def play(state: PolicyState, steps: list[tuple[int, AccountRisk]]) -> tuple[PolicyState, list[Alert]]:
        out: list[Alert] = []
        for now, risk in steps:
            state, alerts = evaluate(state, PolicyInputs(risks=[risk]), now, CFG)
            out += alerts
        return state, out

    _, straight = play(PolicyState(), timeline)

    path = tmp_path / "state.db"
    conn = open_db(path)
    before, first_half = play(load(conn), timeline[:3])
    save(conn, PolicyState(), before)
    conn.close()
    conn = open_db(path)
    after, second_half = play(load(conn), timeline[3:])
    save(conn, before, after)

    assert signature(first_half + second_half) == signature(straight)
    # spelled out: the restart did not re-open, re-announce BTC, or repeat early; it repeated on time
    assert [(a.key, a.transition.value, a.ts_ms // SEC) for a in second_half] == [
        (f"position:main:{ETH}:both", "event", 85),
        ("risk:main:cross", "repeated", 85),
        (f"risk:main:{BTC}:both", "repeated", 85),
        (f"position:main:{BTC}:both", "event", 200),
        (f"risk:main:{BTC}:both", "closed", 200),
        ("risk:main:cross", "closed", 200),
    ]
    assert load(open_db(path)) == after


def test_a_step_that_only_moves_numbers_writes_nothing(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.db")
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(position(ratio=0.75))]), 0, CFG)
    assert save(conn, PolicyState(), state)
    moved, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.76))]), SEC, CFG)
    assert alerts == [] and moved is not state and moved.tracks is state.tracks
    assert live_facts(moved.latest, moved.tracks[f"risk:main:{BTC}:both"])["margin_ratio"] == 0.76
    assert not save(conn, state, moved)
    # the numbers reach the file with the next real change
    repeated, alerts = evaluate(moved, PolicyInputs(risks=[account(position(ratio=0.77))]), 10 * MIN, CFG)
    assert len(alerts) == 1
    assert save(conn, moved, repeated)
    assert load(conn).tracks[f"risk:main:{BTC}:both"].facts["margin_ratio"] == 0.77


def test_an_acknowledgement_saves_the_numbers_of_the_last_tick(tmp_path: Path) -> None:
    """The track itself still holds the numbers of its opening; what is written is what a repeat
    would say now."""
    conn = open_db(tmp_path / "state.db")
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[account(position(ratio=0.75))]), 0, CFG)
    assert save(conn, PolicyState(), state)
    moved, _ = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.76))]), SEC, CFG)
    acked, track = ack(moved, f"risk:main:{BTC}:both", 2 * SEC)
    assert track is not None and track.facts["margin_ratio"] == 0.75
    assert save(conn, moved, acked)
    assert load(conn).tracks[f"risk:main:{BTC}:both"].facts["margin_ratio"] == 0.76
