"""Episodes driven by ratio sequences: exact transitions, repeats, confirmation, acknowledgement."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

from policy_helpers import BTC, MIN, SEC, account, drive, position, risk_transitions

from monitor.alerts import AlertKind, Level, Transition
from monitor.policy import (
    LevelThresholds,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    RepeatSchedule,
    ack,
    ack_all,
    due_repeats,
    evaluate,
)
from monitor.policy.facts import live_facts

NO_REPEAT = PolicyConfig(repeat=RepeatSchedule(warn_ms=0, danger_ms=0, critical_ms=0))
KEY = f"risk:main:{BTC}:both"


def confirm(n: int) -> PolicyConfig:
    return replace(NO_REPEAT, levels=LevelThresholds(confirm_ticks=n))


def test_full_episode_opens_escalates_deescalates_and_closes() -> None:
    _, alerts = drive([0.1, 0.55, 0.72, 0.9, 0.75, 0.6, 0.3, 0.1], NO_REPEAT)
    assert risk_transitions(alerts) == [
        ("opened", "warn"),
        ("escalated", "danger"),
        ("escalated", "critical"),
        ("deescalated", "danger"),  # 0.75 is below critical - band (0.80) but still danger
        ("deescalated", "warn"),  # 0.60 is below danger - band (0.65)
        ("closed", "ok"),
    ]
    assert [a.previous_level for a in alerts] == [
        Level.OK,
        Level.WARN,
        Level.DANGER,
        Level.CRITICAL,
        Level.DANGER,
        Level.WARN,
    ]
    assert {a.key for a in alerts} == {KEY}
    assert len({a.episode_id for a in alerts}) == 1
    assert alerts[0].episode_id is not None


def test_a_new_episode_after_a_close_gets_a_new_id() -> None:
    _, alerts = drive([0.55, 0.3, 0.55], NO_REPEAT)
    assert risk_transitions(alerts) == [("opened", "warn"), ("closed", "ok"), ("opened", "warn")]
    assert alerts[0].episode_id == alerts[1].episode_id != alerts[2].episode_id


def test_no_flapping_around_a_threshold() -> None:
    _, alerts = drive([0.69, 0.71, 0.68, 0.71, 0.66, 0.70, 0.655, 0.72], NO_REPEAT)
    assert risk_transitions(alerts) == [("opened", "warn"), ("escalated", "danger")]


def test_closing_needs_the_band_below_warn() -> None:
    _, alerts = drive([0.5, 0.46, 0.45, 0.47, 0.449], NO_REPEAT)
    assert risk_transitions(alerts) == [("opened", "warn"), ("closed", "ok")]
    assert alerts[-1].ts_ms == 4 * SEC


def test_straight_from_critical_to_closed() -> None:
    _, alerts = drive([0.9, 0.2], NO_REPEAT)
    assert risk_transitions(alerts) == [("opened", "critical"), ("closed", "ok")]
    assert alerts[-1].previous_level is Level.CRITICAL


def repeat_times(ratio: float, minutes: int, tick_ms: int = 30 * SEC) -> list[int]:
    _, alerts = drive([ratio] * (minutes * MIN // tick_ms + 1), PolicyConfig(), step_ms=tick_ms)
    assert alerts[0].transition is Transition.OPENED
    return [a.ts_ms // SEC for a in alerts if a.transition is Transition.REPEATED]


def test_repeat_schedule_shortens_with_severity() -> None:
    assert repeat_times(0.55, 65) == [30 * 60, 60 * 60]  # warn: 30 min
    assert repeat_times(0.75, 35) == [600, 1200, 1800]  # danger: 10 min
    assert repeat_times(0.90, 4) == [60, 120, 180, 240]  # critical: 1 min


def test_a_level_change_restarts_the_repeat_clock() -> None:
    # warn from 0 s, danger from 25 min: the next repeat is 10 min after the escalation
    ratios = [0.55] * 25 + [0.75] * 16
    _, alerts = drive(ratios, PolicyConfig(), step_ms=MIN)
    assert [(a.transition.value, a.ts_ms // MIN) for a in alerts] == [
        ("opened", 0),
        ("escalated", 25),
        ("repeated", 35),
    ]


def test_confirmation_needs_consecutive_ticks() -> None:
    _, alerts = drive([0.55, 0.55, 0.55], confirm(3))
    assert [(a.transition.value, a.ts_ms) for a in alerts] == [("opened", 2 * SEC)]
    _, alerts = drive([0.55, 0.55, 0.3, 0.55, 0.55], confirm(3))
    assert alerts == []  # the wick down broke the streak


def test_confirmation_confirms_the_level_seen_on_every_tick() -> None:
    # danger, warn: warn was seen twice (danger implies warn), danger once
    _, alerts = drive([0.72, 0.55, 0.72, 0.72], confirm(2))
    assert [(a.transition.value, a.level.label, a.ts_ms // SEC) for a in alerts] == [
        ("opened", "warn", 1),
        ("escalated", "danger", 3),
    ]


def test_critical_fires_at_once_even_with_confirmation() -> None:
    _, alerts = drive([0.1, 0.9], confirm(5))
    assert risk_transitions(alerts) == [("opened", "critical")]
    assert alerts[0].ts_ms == 1 * SEC


def test_falling_is_not_delayed_by_confirmation() -> None:
    _, alerts = drive([0.9, 0.72, 0.3], confirm(5))
    assert risk_transitions(alerts) == [("opened", "critical"), ("deescalated", "danger"), ("closed", "ok")]


def test_a_pending_streak_is_kept_in_state_but_opens_nothing() -> None:
    state, alerts = drive([0.55], confirm(2))
    assert alerts == []
    assert state.tracks[KEY].level is Level.OK
    assert state.tracks[KEY].streak[Level.WARN - 1] == 1
    state, _ = drive([0.3], confirm(2), state=state, start_ms=SEC)
    assert KEY not in state.tracks


def test_ack_stops_critical_repeats_and_escalation_rearms() -> None:
    cfg = PolicyConfig()
    state, alerts = drive([0.9] * 3, cfg, step_ms=30 * SEC)  # 0, 30 s, 60 s
    assert risk_transitions(alerts) == [("opened", "critical"), ("repeated", "critical")]
    episode = alerts[0].episode_id
    assert episode is not None
    state, acked = ack(state, episode, 70 * SEC)
    assert acked is not None and acked.acked_ms == 70 * SEC

    state, alerts = drive([0.9] * 10, cfg, state=state, start_ms=90 * SEC, step_ms=30 * SEC)
    assert alerts == []  # five minutes of critical, silent

    # down to danger (announced, still acknowledged), then critical again: re-armed
    state, alerts = drive([0.75, 0.9, 0.9, 0.9], cfg, state=state, start_ms=400 * SEC, step_ms=30 * SEC)
    assert risk_transitions(alerts) == [
        ("deescalated", "danger"),
        ("escalated", "critical"),
        ("repeated", "critical"),
    ]
    assert {a.episode_id for a in alerts} == {episode}


def test_ack_by_key_and_unknown_reference() -> None:
    state, _ = drive([0.75], PolicyConfig())
    acked_state, acked = ack(state, KEY, 5 * SEC)
    assert acked is not None and acked.key == KEY
    same, nothing = ack(state, "no-such-episode", 5 * SEC)
    assert nothing is None and same is state
    _, alerts = drive([0.75] * 3, PolicyConfig(), state=acked_state, start_ms=20 * MIN, step_ms=10 * MIN)
    assert alerts == []


def test_ack_applies_to_the_current_level_of_any_severity() -> None:
    state, _ = drive([0.55], PolicyConfig())
    state, _ = ack(state, KEY, SEC)
    _, alerts = drive([0.55] * 3, PolicyConfig(), state=state, start_ms=30 * MIN, step_ms=30 * MIN)
    assert alerts == []


def test_timer_repeats_episodes_whose_numbers_did_not_move() -> None:
    cfg = PolicyConfig()
    state, opened = drive([0.9], cfg)
    state, alerts = due_repeats(state, 59 * SEC, cfg)
    assert alerts == []
    state, alerts = due_repeats(state, 60 * SEC, cfg)
    assert [(a.transition, a.level, a.key) for a in alerts] == [(Transition.REPEATED, Level.CRITICAL, KEY)]
    assert alerts[0].episode_id == opened[0].episode_id
    assert alerts[0].facts["margin_ratio"] == opened[0].facts["margin_ratio"]
    assert "margin ratio 90.00 % >= critical 85 % (critical, still)" in alerts[0].message
    # the tick right after does not repeat again: one clock for timer and ticks
    state, alerts = drive([0.9], cfg, state=state, start_ms=61 * SEC)
    assert alerts == []
    unchanged, alerts = due_repeats(state, 100 * SEC, cfg)
    assert alerts == [] and unchanged is state


def test_calm_positions_leave_no_trace_in_state() -> None:
    state = PolicyState()
    new, alerts = evaluate(state, PolicyInputs(risks=[account(position(ratio=0.1))]), 0, PolicyConfig())
    assert alerts == []
    assert new.tracks == {}
    again, _ = evaluate(new, PolicyInputs(risks=[account(position(ratio=0.2))]), SEC, PolicyConfig())
    assert again is new  # nothing changed: the same state object, nothing to save


def test_an_account_keeps_its_latest_evaluation_only_while_it_has_episodes() -> None:
    """The latest evaluation is where open episodes read their numbers; once the last one closes it
    goes, and calm ticks leave the state the same object again."""
    cfg = PolicyConfig()
    state, _ = evaluate(PolicyState(), PolicyInputs([account(position(ratio=0.1))]), 0, cfg)
    state, _ = evaluate(state, PolicyInputs([account(position(ratio=0.75))]), SEC, cfg)
    assert set(state.latest) == {"main"}
    moved, _ = evaluate(state, PolicyInputs([account(position(ratio=0.76))]), 2 * SEC, cfg)
    assert (
        moved is not state
        and moved.tracks is state.tracks
        and moved.latest["main"] is not state.latest["main"]
    )
    calm, alerts = evaluate(moved, PolicyInputs([account(position(ratio=0.1))]), 3 * SEC, cfg)
    assert [a.transition for a in alerts] == [Transition.CLOSED]
    # the closing step may still record it (its index of symbols with tracks is built once); the next drops it
    calm, _ = evaluate(calm, PolicyInputs([account(position(ratio=0.15))]), 4 * SEC, cfg)
    assert calm.latest == {}
    again, _ = evaluate(calm, PolicyInputs([account(position(ratio=0.2))]), 5 * SEC, cfg)
    assert again is calm


def test_an_episode_that_holds_does_not_keep_the_evaluation_that_changed_it_alive() -> None:
    """An open episode's facts name the evaluation they came from, weakly: once the account's latest
    is a newer one, the older evaluation (in the daemon, a whole tick's arrays) is freed, and the
    episode's numbers are the latest's."""
    cfg = PolicyConfig()
    state, _ = evaluate(PolicyState(), PolicyInputs([account(position(ratio=0.1))]), 0, cfg)
    state, alerts = evaluate(state, PolicyInputs([account(position(ratio=0.75))]), SEC, cfg)
    assert [a.transition for a in alerts] == [Transition.OPENED]
    (track,) = state.tracks.values()
    opened = weakref.ref(state.latest["main"])
    for i in range(2, 5):
        ratio = 0.75 + i / 1000
        state, alerts = evaluate(state, PolicyInputs([account(position(ratio=ratio))]), i * SEC, cfg)
        assert alerts == [] and state.tracks[track.key] is track  # it holds, untouched
    gc.collect()
    assert opened() is None
    assert live_facts(state.latest, track)["margin_ratio"] == 0.754


def test_distance_alone_drives_an_isolated_position() -> None:
    state = PolicyState()
    cfg = NO_REPEAT
    seq = [50.0, 14.0, 7.0, 3.5, 4.3, 5.0, 9.0, 17.0]
    out = []
    for i, d in enumerate(seq):
        state, alerts = evaluate(
            state, PolicyInputs(risks=[account(position(ratio=0.1, distance=d))]), i, cfg
        )
        out += alerts
    assert risk_transitions(out) == [
        ("opened", "warn"),
        ("escalated", "danger"),
        ("escalated", "critical"),
        ("deescalated", "danger"),  # 5.0 > 4.4 releases critical; 4.3 did not
        ("deescalated", "warn"),
        ("closed", "ok"),
    ]
    assert out[0].facts["trigger"] == "distance"
    assert out[0].facts["distance_threshold_pct"] == 15.0
    assert out[0].facts["ratio_threshold"] is None


def test_cross_account_and_its_positions_are_separate_subjects() -> None:
    from monitor.model import MarginMode

    cross = MarginMode.CROSS
    risk = account(
        position(BTC, ratio=0.72, mode=cross, maint=60.0),
        position("ETH/USDT:USDT", ratio=0.72, mode=cross, maint=12.0),
        cross_ratio=0.072,
        equity=1000.0,
    )
    assert risk.cross is not None
    risk = risk._replace(cross=risk.cross._replace(margin_ratio=0.72, maint_margin=72.0))
    _, alerts = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 0, NO_REPEAT)
    assert [(a.key, a.level) for a in alerts] == [
        ("risk:main:cross", Level.DANGER),
        (KEY, Level.DANGER),
        ("risk:main:ETH/USDT:USDT:both", Level.DANGER),
    ]
    acct = alerts[0]
    assert acct.symbol is None and acct.kind is AlertKind.RISK
    assert acct.facts["top1_symbol"] == BTC
    assert abs(float(acct.facts["top1_share"] or 0) - 60 / 72) < 1e-9
    assert acct.facts["top2_symbol"] == "ETH/USDT:USDT"
    assert acct.message == (
        "main cross account: margin ratio 72.00 % >= danger 70 % (danger); equity 1,000.00, maint margin 72, "
        "from BTC/USDT:USDT 83 %, ETH/USDT:USDT 17 %"
    )

    quieter = replace(NO_REPEAT, cross_positions_use_account_ratio=False)
    _, alerts = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 0, quieter)
    assert [a.key for a in alerts] == ["risk:main:cross"]


def test_ack_all_takes_every_open_critical_episode() -> None:
    risk = account(
        position(BTC, ratio=0.9), position("ETH/USDT:USDT", ratio=0.75), position("SOL/USDT:USDT", ratio=0.95)
    )
    state, _ = evaluate(PolicyState(), PolicyInputs(risks=[risk]), 0, PolicyConfig())
    state, acked = ack_all(state, 10 * SEC)
    assert [t.key for t in acked] == [KEY, "risk:main:SOL/USDT:USDT:both"]
    assert state.tracks["risk:main:ETH/USDT:USDT:both"].acked_ms is None
    again, none = ack_all(state, 20 * SEC)
    assert none == [] and again is state
    _, everything = ack_all(state, 20 * SEC, min_level=Level.WARN)
    assert [t.key for t in everything] == ["risk:main:ETH/USDT:USDT:both"]
