"""The vectorised "does this episode hold its level" (``monitor.policy.levels_batch``) against the scalar
level functions it stands for, value by value, NaN and infinities included; and the rows it finds
against the screen's contract."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from policy_helpers import BTC, thresholds

from monitor.alerts import AlertKind, Level
from monitor.margin.rows import AccountRowLabels, RowLabels
from monitor.model import MarginMode, PositionSide, Side
from monitor.policy import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    RepeatSchedule,
    Subject,
    Track,
    keys,
)
from monitor.policy.episodes import advance
from monitor.policy.levels import deviation_level, distance_level, leaves_ok, ratio_level
from monitor.policy.levels_batch import (
    Tables,
    Tracked,
    deviation_holds,
    level_rows,
    risk_holds,
    rows_to_evaluate,
    tables,
    tracked,
)
from monitor.policy.screen_cache import ScreenCache


def one_row(thr: LevelThresholds, judged: bool = True) -> Tables:
    return Tables(np.array([judged]), *(np.array([column]) for column in level_rows(thr)))


ratios = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0.0, 2.5),
    st.sampled_from([0.0, math.inf, math.nan]),
)
distances = st.one_of(st.none(), st.floats(0.0, 60.0), st.floats(min_value=0.0), st.just(math.inf))
levels = st.sampled_from([lv for lv in Level if lv > Level.OK])  # an episode is open


def check_risk_holds(thr: LevelThresholds, level: Level, ratio: float | None, distance: float | None) -> None:
    expected = max(ratio_level(ratio, level, thr), distance_level(distance, level, thr)) == level
    r = np.array([-math.inf if ratio is None else ratio])
    d = np.array([math.inf if distance is None else distance])
    held = risk_holds(one_row(thr), r, d, np.array([0], dtype=np.intp), np.array([int(level)], dtype=np.intp))
    assert bool(held[0]) == expected, (level, ratio, distance)


@given(thresholds(), levels, ratios, distances)
def test_risk_holds_is_the_level_functions_keeping_the_level(
    thr: LevelThresholds, level: Level, ratio: float | None, distance: float | None
) -> None:
    check_risk_holds(thr, level, ratio, distance)


@given(thresholds())
def test_risk_holds_at_the_edges(thr: LevelThresholds) -> None:
    """Every threshold and release point, exactly and a hair either side, at every open level:
    where a ``<`` written for a ``<=`` would show."""
    factor = 1.0 + thr.distance_band
    ratio_edges = [thr.ratio_warn, thr.ratio_danger, thr.ratio_critical]
    distance_edges = [thr.distance_warn_pct, thr.distance_danger_pct, thr.distance_critical_pct]
    ratio_edges += [x - thr.ratio_band for x in ratio_edges]
    distance_edges += [x * factor for x in distance_edges]
    for level in Level:
        if level == Level.OK:
            continue
        for nudge in (-1e-12, 0.0, 1e-12):
            for edge in ratio_edges:
                check_risk_holds(thr, level, edge + nudge, None)
            for edge in distance_edges:
                check_risk_holds(thr, level, None, edge + nudge)


@given(
    st.floats(0.0, 5.0),
    st.floats(0.0, 1.0),
    st.sampled_from([Level.INFO, Level.WARN, Level.DANGER]),
    levels,
    st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(-10.0, 10.0)),
)
def test_deviation_holds_is_deviation_level_keeping_the_level(
    tolerance: float, band: float, cfg_level: Level, level: Level, deviation: float | None
) -> None:
    cfg = DeviationConfig(tolerance_pct=tolerance, band_pct=min(band, tolerance), level=cfg_level)
    expected = deviation_level(deviation, level, cfg) == level
    values = np.array([math.nan if deviation is None else deviation])
    assert bool(deviation_holds(cfg, values, np.array([int(level)], dtype=np.intp))[0]) == expected


@given(thresholds(), ratios, distances, st.booleans())
def test_without_episodes_a_row_has_news_when_it_would_leave_ok(
    thr: LevelThresholds, ratio: float | None, distance: float | None, judged: bool
) -> None:
    nothing = Tracked(*(np.zeros(0, dtype=t) for t in (np.intp, np.intp, np.float64, np.bool_) * 2))
    mask = rows_to_evaluate(
        one_row(thr, judged),
        nothing,
        PolicyConfig(levels=thr),
        0,
        np.array([math.nan if ratio is None else ratio]),
        np.array([math.nan if distance is None else distance]),
        [None],
        [],
    )
    column = math.nan if ratio is None else ratio
    assert bool(mask[0]) == leaves_ok(column if judged else None, distance, thr)


def test_an_episode_due_a_repeat_or_counting_a_confirmation_has_news() -> None:
    """Rows 0-2 hold a risk episode inside warn, rows 3-5 a deviation episode beyond the tolerance;
    in each trio the second is due a repeat at t=1000 and the third counts a confirmation."""
    thr = LevelThresholds()
    trio = (
        np.array([int(Level.WARN)] * 3, dtype=np.intp),
        np.array([math.inf, 1_000.0, math.inf]),
        np.array([True, True, False]),
    )
    held = Tracked(np.array([0, 1, 2], dtype=np.intp), *trio, np.array([3, 4, 5], dtype=np.intp), *trio)
    tables = Tables(np.ones(6, dtype=np.bool_), *(np.array([c] * 6) for c in level_rows(thr)))
    ratio = np.array([0.6] * 3 + [0.1] * 3)
    deviation: list[float | None] = [None] * 3 + [2.0] * 3
    args = (np.full(6, math.nan), deviation, [3, 4, 5])
    assert (
        rows_to_evaluate(tables, held, PolicyConfig(), 999, ratio, *args).tolist() == [False, False, True] * 2
    )
    assert (
        rows_to_evaluate(tables, held, PolicyConfig(), 1_000, ratio, *args).tolist()
        == [False, True, True] * 2
    )


def test_a_deviation_without_an_episode_is_news() -> None:
    nothing = Tracked(*(np.zeros(0, dtype=t) for t in (np.intp, np.intp, np.float64, np.bool_) * 2))
    tables = Tables(np.ones(2, dtype=np.bool_), *(np.array([c] * 2) for c in level_rows(LevelThresholds())))
    calm = np.full(2, 0.1)
    mask = rows_to_evaluate(tables, nothing, PolicyConfig(), 0, calm, np.full(2, math.nan), [None, 0.01], [1])
    assert mask.tolist() == [False, True]


@given(
    thresholds(),
    st.sampled_from(list(Level)),
    st.one_of(st.just((0, 0, 0)), st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2))),
    st.one_of(st.none(), st.integers(0, 10**6)),
    st.integers(0, 3 * 10**6),
    ratios,
    distances,
    st.integers(1, 3),
)
@settings(max_examples=300)
# inside warn: acknowledged past its repeat time (holds), unacknowledged (a repeat is due), counting
@example(LevelThresholds(), Level.WARN, (0, 0, 0), 5, 2_500_000, 0.6, None, 1)
@example(LevelThresholds(), Level.WARN, (0, 0, 0), None, 2_500_000, 0.6, None, 1)
@example(LevelThresholds(), Level.WARN, (0, 1, 0), None, 1_500_000, 0.6, None, 2)
def test_a_row_without_news_is_one_advance_leaves_as_it_is(
    thr: LevelThresholds,
    level: Level,
    streak: tuple[int, int, int],
    acked_ms: int | None,
    now_ms: int,
    ratio: float | None,
    distance: float | None,
    confirm_ticks: int,
) -> None:
    """From a real ``Track`` through ``tracked`` and ``rows_to_evaluate``: a tracked row is left out
    exactly when ``advance`` would return its episode unchanged and say nothing (the level functions'
    candidate, the confirmation count, the repeat clock and the acknowledgement all taken into account)."""
    cfg = PolicyConfig(levels=thr, repeat=RepeatSchedule(warn_ms=10**6, danger_ms=10**5, critical_ms=10**4))
    layout = RowLabels(
        [AccountRowLabels("main", [BTC], [Side.LONG], [PositionSide.BOTH], [MarginMode.ISOLATED])]
    )
    risk_key = keys.position_risk("main", BTC, "both")
    subject = Subject("binanceusdm", "main", BTC, "both", "isolated", "long")
    track = Track(
        risk_key, AlertKind.RISK, subject, level=level, last_alert_ms=10**6, acked_ms=acked_ms, streak=streak
    )
    column = math.nan if ratio is None else ratio  # a batch's ratio column has no None
    mask = rows_to_evaluate(
        tables(ScreenCache(), layout, cfg),
        tracked(ScreenCache(), layout, {risk_key: track}, cfg.repeat, keep=False),
        cfg,
        now_ms,
        np.array([column]),
        np.array([math.nan if distance is None else distance]),
        [None],
        [],
    )
    candidate = max(ratio_level(column, level, thr), distance_level(distance, level, thr))
    new, change = advance(track, candidate, now_ms, confirm_ticks=confirm_ticks, repeat=cfg.repeat, seq=0)
    assert (not mask[0]) == (new is track and change is None)
