"""Which open episodes of a batch evaluation hold their level this tick: every tracked row at once.

Most positions with an open episode sit inside their level tick after tick, and such an episode is
left as it is (``Work.step``: ``episodes.advance`` returns it unchanged, with nothing to say).
Building each such position's row and stepping it, row by row, was most of what an all-market tick
cost the policy. Here the same question is asked over arrays: a per-row, per-level table of the
thresholds (kept per layout and config), the open episodes as arrays of rows, levels and repeat
times (kept per tracks mapping: a state replaces it, never mutates it), and a handful of numpy
comparisons per tick. What is kept lives in the policy's ``ScreenCache``; what depends on one
account's rows only is keyed by that account's part of the layout, so that a change to one account
recomputes its own rows' tables and keys, not all of them.

This is the accelerated twin of ``levels.py`` (the one implementation of levels and hysteresis):
it answers only "does every tracked row hold its level, and does no untracked row leave OK?",
and anything else goes through ``levels.py`` row by row.

The comparisons are ``levels.ratio_level``, ``distance_level`` and ``deviation_level`` asked one
question only: is the candidate the level held? Property tests check them against those functions
(thresholds, levels and values, NaN and infinities included) and a whole tracked row against
``advance``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import chain
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from monitor.alerts import AlertKind, Level
from monitor.margin.rows import AccountRowLabels, RowLabels
from monitor.model import MarginMode
from monitor.policy import keys
from monitor.policy.levels import LIQUIDATION_RATIO
from monitor.policy.screen_cache import ScreenCache
from monitor.policy.settings import DeviationConfig, LevelThresholds, PolicyConfig, RepeatSchedule
from monitor.policy.state import NO_STREAK, Track

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

_NEVER = math.nan  # no value compares true against it
_LEVELS = len(Level)


class Tables(NamedTuple):
    """Per row and level (columns indexed by ``Level``): the ratio at which the row rises above the
    level, the ratio at or above which it holds it (threshold less the band), and the same for the
    distance (at or below). ``judged``: whether the row is judged by its own ratio."""

    judged: Bools
    ratio_above: Floats
    ratio_floor: Floats
    distance_above: Floats
    distance_floor: Floats


def level_rows(thr: LevelThresholds) -> tuple[list[float], list[float], list[float], list[float]]:
    """One row's four tables, by level: what ``ratio_level`` and ``distance_level`` compare a value
    with when the level held is that one (``_NEVER`` where nothing can)."""
    # the ratio thresholds as ``ratio_level`` applies them: none above liquidation
    warn, danger, critical = (
        min(x, LIQUIDATION_RATIO) for x in (thr.ratio_warn, thr.ratio_danger, thr.ratio_critical)
    )
    band = thr.ratio_band
    d_warn, d_danger, d_critical = thr.distance_warn_pct, thr.distance_danger_pct, thr.distance_critical_pct
    factor = 1.0 + thr.distance_band
    # at OK, what ``leaves_ok`` compares with (the thresholds are ordered: warn comes first)
    above = {
        Level.OK: warn,
        Level.INFO: min(warn, danger, critical),
        Level.WARN: min(danger, critical),
        Level.DANGER: critical,
    }
    floor = {Level.WARN: warn - band, Level.DANGER: danger - band, Level.CRITICAL: critical - band}
    d_above = {
        Level.OK: d_warn,
        Level.INFO: max(d_warn, d_danger, d_critical),
        Level.WARN: max(d_danger, d_critical),
        Level.DANGER: d_critical,
    }
    d_floor = {
        Level.WARN: d_warn * factor,
        Level.DANGER: d_danger * factor,
        Level.CRITICAL: d_critical * factor,
    }
    return (
        [above.get(lv, _NEVER) for lv in Level],
        [floor.get(lv, _NEVER) for lv in Level],
        [d_above.get(lv, _NEVER) for lv in Level],
        [d_floor.get(lv, _NEVER) for lv in Level],
    )


def tables(cache: ScreenCache, layout: RowLabels, config: PolicyConfig) -> Tables:
    """The layout's tables for ``config``, kept in ``cache``: its parts' tables end to end."""
    entry = cache.layout(layout)
    hit = entry.tables
    if hit is not None and hit[0] is config:
        return hit[1]
    parts = [_part_tables(cache, part, config) for part in layout.parts]
    if parts:
        out = Tables(*(np.concatenate(column) for column in zip(*parts, strict=True)))
    else:
        out = _empty_tables()
    entry.tables = (config, out)
    return out


def _part_tables(cache: ScreenCache, part: AccountRowLabels, config: PolicyConfig) -> Tables:
    """One account's tables for ``config``, kept in ``cache`` with its part: an account that did not
    change keeps them when another one does."""
    entry = cache.part(part)
    hit = entry.tables
    if hit is not None and hit[0] is config:
        return hit[1]
    cross_by_account = config.cross_positions_use_account_ratio
    judged = np.array(
        [cross_by_account or mode is not MarginMode.CROSS for mode in part.modes], dtype=np.bool_
    )
    if not part.symbols:
        out = _empty_tables()
    else:
        # the accounts' symbols mostly share a few threshold sets: one table row per distinct set,
        # then one gather, rather than a list per position
        shared = config.account_wide_thresholds(part.account)
        distinct: dict[int, int] = {}
        rows: list[tuple[list[float], list[float], list[float], list[float]]] = []
        which: list[int] = []
        for symbol in part.symbols:
            thr = shared or config.thresholds_for(part.account, symbol)
            j = distinct.get(id(thr))
            if j is None:
                j = distinct[id(thr)] = len(rows)
                rows.append(level_rows(thr))
            which.append(j)
        picked = np.array(which, dtype=np.intp)
        out = Tables(judged, *(np.array([r[c] for r in rows], dtype=np.float64)[picked] for c in range(4)))
    entry.tables = (config, out)
    return out


def _empty_tables() -> Tables:
    none = np.zeros((0, _LEVELS), dtype=np.float64)
    return Tables(np.zeros(0, dtype=np.bool_), none, none, none, none)


class Tracked(NamedTuple):
    """The risk and deviation episodes of a layout's rows, as arrays: each one's row, level, and when
    its next repeat is due (``inf``: never, or acknowledged); ``steady`` where it is open and no
    confirmation is counting (only such an episode can hold: ``episodes.advance``)."""

    risk_rows: Ints
    risk_levels: Ints
    risk_due: Floats
    risk_steady: Bools
    dev_rows: Ints
    dev_levels: Ints
    dev_due: Floats
    dev_steady: Bools


def tracked(
    cache: ScreenCache, layout: RowLabels, tracks: Mapping[str, Track], repeat: RepeatSchedule, keep: bool
) -> Tracked:
    """The episodes of ``tracks`` on the layout's rows. With ``keep`` the answer is kept in ``cache``
    for this very mapping (a state's, which is never mutated)."""
    kept = cache.layout(layout)
    hit = kept.tracked
    if keep and hit is not None and hit[0] is tracks and hit[1] is repeat:
        return hit[2]
    row_of = _row_of_key(cache, layout)
    risk: list[tuple[int, int, float, bool]] = []
    dev: list[tuple[int, int, float, bool]] = []
    for track in tracks.values():
        i = row_of.get(track.key)
        if i is None or (track.kind is not AlertKind.RISK and track.kind is not AlertKind.DEVIATION):
            continue
        level = track.level
        interval = repeat.interval_ms(level)
        due = track.last_alert_ms + interval if track.acked_ms is None and interval > 0 else math.inf
        entry = (i, int(level), float(due), level > Level.OK and track.streak == NO_STREAK)
        (risk if track.kind is AlertKind.RISK else dev).append(entry)
    out = Tracked(*_columns(risk), *_columns(dev))
    if keep:
        kept.tracked = (tracks, repeat, out)
    return out


def _columns(entries: list[tuple[int, int, float, bool]]) -> tuple[Ints, Ints, Floats, Bools]:
    rows, levels, due, steady = zip(*entries, strict=True) if entries else ((), (), (), ())
    return (
        np.array(rows, dtype=np.intp),
        np.array(levels, dtype=np.intp),
        np.array(due, dtype=np.float64),
        np.array(steady, dtype=np.bool_),
    )


def _row_of_key(cache: ScreenCache, layout: RowLabels) -> dict[str, int]:
    """Each row's risk and deviation keys, to its row (batch index)."""
    entry = cache.layout(layout)
    hit = entry.row_of_key
    if hit is None:
        keys_by_part = [_part_keys(cache, part) for part in layout.parts]
        rows = range(layout.starts[-1])
        hit = dict(zip(chain.from_iterable(risk for risk, _ in keys_by_part), rows, strict=True))
        hit.update(zip(chain.from_iterable(deviation for _, deviation in keys_by_part), rows, strict=True))
        entry.row_of_key = hit
    return hit


def _part_keys(cache: ScreenCache, part: AccountRowLabels) -> tuple[list[str], list[str]]:
    """One account's risk and deviation keys, row by row, kept in ``cache`` with its part."""
    entry = cache.part(part)
    hit = entry.keys
    if hit is None:
        pairs = [
            keys.position_subjects(part.account, symbol, position_side)
            for symbol, position_side in zip(part.symbols, part.position_sides, strict=True)
        ]
        hit = entry.keys = ([risk for risk, _ in pairs], [deviation for _, deviation in pairs])
    return hit


def risk_holds(t: Tables, ratio: Floats, distance: Floats, rows: Ints, levels: Ints) -> Bools:
    """Per open episode: whether ``max(ratio_level, distance_level)`` of its row is its level.

    ``ratio`` and ``distance`` are the rows' values as the policy judges them: ``-inf`` for a ratio
    not judged (as ``None``, it says OK), ``inf`` for no distance (``None``); a NaN ratio holds."""
    r, d = ratio[rows], distance[rows]
    up = (r >= t.ratio_above[rows, levels]) | (d <= t.distance_above[rows, levels])
    at = np.isnan(r) | (r >= t.ratio_floor[rows, levels]) | (d <= t.distance_floor[rows, levels])
    out: Bools = ~up & at
    return out


def deviation_holds(cfg: DeviationConfig, deviation: Floats, levels: Ints) -> Bools:
    """Per open episode: whether ``deviation_level`` of its row's deviation (NaN for ``None``) is its
    level."""
    gap = np.abs(deviation)
    beyond = gap > cfg.tolerance_pct
    within_band = (levels > int(Level.OK)) & (gap >= cfg.tolerance_pct - cfg.band_pct)
    out: Bools = np.isnan(deviation) | np.where(beyond, levels == int(cfg.level), within_band)
    return out


def rows_to_evaluate(
    t: Tables,
    episodes: Tracked,
    config: PolicyConfig,
    now_ms: int,
    margin_ratio: Floats,
    distance_pct: Floats,
    deviation_pct: Sequence[float | None],
    deviated: Sequence[int],
) -> Bools:
    """Per row: whether evaluating it could say or change anything. A row with a risk episode has
    news when the episode does not hold; without one, when it would leave OK (``leaves_ok``). The
    same for its deviation episode, against whether it has a deviation at all (``deviated``)."""
    e = episodes
    ratio = np.where(t.judged, margin_ratio, -np.inf)
    distance = np.where(np.isnan(distance_pct), np.inf, distance_pct)
    risk_hot = (ratio >= t.ratio_above[:, Level.OK]) | (distance <= t.distance_above[:, Level.OK])
    has_deviation = np.zeros(len(ratio), dtype=np.bool_)
    has_deviation[list(deviated)] = True
    held = risk_holds(t, ratio, distance, e.risk_rows, e.risk_levels) & e.risk_steady & (now_ms < e.risk_due)
    out = risk_hot
    out[e.risk_rows] = ~held
    if len(e.dev_rows):
        values = np.array([_nan_for_none(deviation_pct[i]) for i in e.dev_rows.tolist()], dtype=np.float64)
        dev_held = (
            deviation_holds(config.deviation, values, e.dev_levels) & e.dev_steady & (now_ms < e.dev_due)
        )
        has_deviation[e.dev_rows] = ~dev_held
    out |= has_deviation
    return out


def _nan_for_none(value: float | None) -> float:
    return math.nan if value is None else value
