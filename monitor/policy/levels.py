"""From a number to a level, with hysteresis.

Each function takes the subject's current level because the answer depends on it: a value just under a
threshold keeps a level that is already held (within the band) but does not enter it. That is what stops
a ratio oscillating around 0.70 from sending danger / warn / danger every tick.

The rule, for each metric: the raw level is the highest level whose threshold the value has reached. If
that is at or above the current level it is the answer (enter or escalate at once). Otherwise the answer
is the highest level at or below the current one whose *release* point the value has not yet passed
(ratio: ``threshold - band``; distance: ``threshold * (1 + band)``), so a fall from critical can stop at
danger when the value is still inside danger's band. A subject with two metrics takes the worse of the
two, each computed against the same current level.
"""

from __future__ import annotations

import math

from monitor.alerts import Level
from monitor.policy.settings import DeviationConfig, LevelThresholds

_DESCENDING = (Level.CRITICAL, Level.DANGER, Level.WARN)

# Requirement equal to equity: what the exchange liquidates at. A ratio there is critical whatever
# the thresholds say (they may be set up to 2): no configuration makes a liquidatable account calm.
LIQUIDATION_RATIO = 1.0


def ratio_threshold(thr: LevelThresholds, level: Level) -> float:
    """The ratio at which ``level`` is entered: the configured one, or liquidation if that is lower."""
    if level >= Level.CRITICAL:
        return min(thr.ratio_critical, LIQUIDATION_RATIO)
    if level >= Level.DANGER:
        return min(thr.ratio_danger, LIQUIDATION_RATIO)
    return min(thr.ratio_warn, LIQUIDATION_RATIO)


def ratio_release(thr: LevelThresholds, level: Level) -> float:
    """The ratio below which a held ``level`` is left: its threshold less the band."""
    return ratio_threshold(thr, level) - thr.ratio_band


def distance_release(thr: LevelThresholds, level: Level) -> float:
    """The distance above which a held ``level`` is left: its threshold plus the relative band."""
    return distance_threshold(thr, level) * (1.0 + thr.distance_band)


def distance_threshold(thr: LevelThresholds, level: Level) -> float:
    if level >= Level.CRITICAL:
        return thr.distance_critical_pct
    if level >= Level.DANGER:
        return thr.distance_danger_pct
    return thr.distance_warn_pct


def ratio_level(ratio: float | None, current: Level, thr: LevelThresholds) -> Level:
    """Level of a margin ratio (higher is worse). At or above liquidation (1.0; ``inf``: equity <= 0)
    it is critical; ``None`` says nothing (OK); NaN is a broken input and holds the current level
    rather than closing an episode."""
    if ratio is None:
        return Level.OK
    if math.isnan(ratio):
        return current
    if ratio >= thr.ratio_critical or ratio >= LIQUIDATION_RATIO:
        return Level.CRITICAL
    if ratio >= min(thr.ratio_danger, LIQUIDATION_RATIO):
        raw = Level.DANGER
    elif ratio >= min(thr.ratio_warn, LIQUIDATION_RATIO):
        raw = Level.WARN
    else:
        raw = Level.OK
    if raw >= current:
        return raw
    band = thr.ratio_band
    for level in _DESCENDING:
        if raw < level <= current and ratio >= ratio_threshold(thr, level) - band:
            return level
    return raw


def distance_level(distance_pct: float | None, current: Level, thr: LevelThresholds) -> Level:
    """Level of a distance to liquidation in percent (lower is worse; negative: past the
    liquidation price, critical since every threshold is at least 0). ``None`` means no price
    liquidates the position: OK. NaN holds, as for the ratio."""
    if distance_pct is None:
        return Level.OK
    if math.isnan(distance_pct):
        return current
    if distance_pct <= thr.distance_critical_pct:
        raw = Level.CRITICAL
    elif distance_pct <= thr.distance_danger_pct:
        raw = Level.DANGER
    elif distance_pct <= thr.distance_warn_pct:
        raw = Level.WARN
    else:
        raw = Level.OK
    if raw >= current:
        return raw
    factor = 1.0 + thr.distance_band
    for level in _DESCENDING:
        if raw < level <= current and distance_pct <= distance_threshold(thr, level) * factor:
            return level
    return raw


def risk_level(
    ratio: float | None, distance_pct: float | None, current: Level, thr: LevelThresholds
) -> Level:
    """The worse of the ratio's and the distance's levels."""
    return max(ratio_level(ratio, current, thr), distance_level(distance_pct, current, thr))


def leaves_ok(ratio: float | None, distance_pct: float | None, thr: LevelThresholds) -> bool:
    """Whether a subject at OK would enter a level: ``risk_level(ratio, distance_pct, OK, thr) > OK``.

    At OK there is no band to hold, and thresholds are ordered (warn is the first reached on either
    metric), so two comparisons decide it. The policy asks this of every position without an episode
    on every tick, and nearly all of them stay calm. NaN compares false and stays at OK, as above.
    """
    return (ratio is not None and ratio >= min(thr.ratio_warn, LIQUIDATION_RATIO)) or (
        distance_pct is not None and distance_pct <= thr.distance_warn_pct
    )


def deviation_level(deviation_pct: float | None, current: Level, cfg: DeviationConfig) -> Level:
    """Our liquidation price against the exchange's: ``cfg.level`` beyond the tolerance, held until the
    gap is below ``tolerance - band``. No comparison available (``None``) holds: the absence of the
    exchange's figure is not evidence that the two agree."""
    if deviation_pct is None or math.isnan(deviation_pct):
        return current
    gap = abs(deviation_pct)
    if gap > cfg.tolerance_pct:
        return cfg.level
    if current > Level.OK and gap >= cfg.tolerance_pct - cfg.band_pct:
        return current
    return Level.OK
