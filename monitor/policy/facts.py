"""What an alert about a risk or deviation subject says in numbers, and where an open episode's
latest numbers are read from.

An open episode's numbers move on every tick, but they are read only when something is said about it
(an alert, a repeat from the timer, the close when its position goes away) or when its track is saved.
So a tick that leaves an episode where it is does not touch its track at all: the state keeps each
account's latest evaluation (``PolicyState.latest``, with the config it was judged by) and
``live_facts`` builds the episode's facts from it when they are read. A track whose facts came from
that very evaluation (it changed on that tick) keeps its own: they were built with the level held
*before* the change, which the hysteresis needs to name the right trigger.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping

from monitor.alerts import AlertKind, FactValue, Level
from monitor.model import AccountRisk, MarginMode, PositionRisk
from monitor.policy.levels import (
    distance_level,
    distance_release,
    distance_threshold,
    ratio_level,
    ratio_release,
    ratio_threshold,
)
from monitor.policy.settings import DeviationConfig, LevelThresholds, PolicyConfig
from monitor.policy.state import Evaluation, Facts, LazyFacts, Subject, Track


def live_facts(latest: Mapping[str, Evaluation], track: Track) -> Facts:
    """The facts of ``track`` as of its account's latest evaluation in ``latest``: the track's own
    when they came from it, when the subject is not a risk or deviation episode, or when the
    evaluation no longer holds the subject (a position closed, an account with no cross pool)."""
    facts = track.facts
    if not track.is_open or (track.kind is not AlertKind.RISK and track.kind is not AlertKind.DEVIATION):
        return facts
    seen = latest.get(track.subject.account)
    if seen is None or (isinstance(facts, LazyFacts) and facts.source is seen):
        return facts
    fresh = _facts_at(seen.risk, seen.config, track)
    return facts if fresh is None else fresh


def _facts_at(risk: AccountRisk, config: PolicyConfig, track: Track) -> Facts | None:
    """What ``monitor.policy.risk`` builds for ``track`` when a tick leaves it at its level."""
    subject, level = track.subject, track.level
    if subject.symbol is None:
        if track.kind is not AlertKind.RISK or risk.cross is None:
            return None
        return cross_facts(risk, config.thresholds_for(risk.account, None), config.top_positions, level)
    p = _position_of(risk, subject)
    if p is None:
        return None
    if track.kind is AlertKind.DEVIATION:
        return deviation_facts(p, config.deviation, level)
    thr = config.thresholds_for(risk.account, p.symbol)
    ratio = judged_ratio(p.margin_ratio, p.margin_mode, config)
    by_ratio = ratio_level(ratio, level, thr)
    by_distance = distance_level(p.distance_pct, level, thr)
    return position_facts(p, thr, by_ratio, by_distance, level)


def _position_of(risk: AccountRisk, subject: Subject) -> PositionRisk | None:
    """The subject's position; the last of them if a malformed input holds two under one key (each
    is judged in turn, so the last one's numbers are the latest)."""
    found = None
    for p in risk.positions:
        if p.symbol == subject.symbol and p.position_side.value == subject.position_side:
            found = p
    return found


def judged_ratio(margin_ratio: float, margin_mode: MarginMode, config: PolicyConfig) -> float | None:
    """The ratio a position is judged by: its own, except a cross position's when the config says
    the account's ratio speaks for it (its own cross ratio is the account's: judged twice otherwise)."""
    if margin_mode is MarginMode.CROSS and not config.cross_positions_use_account_ratio:
        return None
    return margin_ratio


def cross_facts(risk: AccountRisk, thr: LevelThresholds, top: int, level: Level) -> Facts:
    """What a message about the cross pool needs, with the ``top`` positions carrying its requirement."""
    cross = risk.cross
    assert cross is not None
    out: dict[str, FactValue] = {
        "margin_ratio": cross.margin_ratio,
        "equity": cross.equity,
        "maint_margin": cross.maint_margin,
        "ratio_threshold": ratio_threshold(thr, level) if level > Level.OK else None,
        # why the level: entered at the threshold, held down to the release, calm below warn
        "ratio_release": ratio_release(thr, level) if level > Level.OK else None,
        "ratio_warn": ratio_threshold(thr, Level.OK),
    }
    out.update(top_positions(risk, top))
    return out


def top_positions(risk: AccountRisk, n: int) -> dict[str, FactValue]:
    """The cross positions carrying most of the pool's maintenance requirement, as flat facts
    (``top1_symbol``, ``top1_share`` as a fraction, ...) plus a ready-made ``top_positions`` text."""
    cross = risk.cross
    if cross is None or n <= 0 or cross.maint_margin <= 0:
        return {}
    members = [p for p in risk.positions if p.margin_mode is MarginMode.CROSS]
    out: dict[str, FactValue] = {"cross_positions": len(members)}
    parts = []
    for i, p in enumerate(heapq.nlargest(n, members, key=lambda p: p.maint_margin), start=1):
        share = p.maint_margin / cross.maint_margin
        label = p.symbol if p.position_side.value == "both" else f"{p.symbol} {p.position_side.value}"
        out[f"top{i}_symbol"] = label
        out[f"top{i}_share"] = share
        parts.append(f"{label} {share * 100:.0f} %")
    out["top_positions"] = ", ".join(parts)
    return out


def position_facts(
    p: PositionRisk, thr: LevelThresholds, by_ratio: Level, by_distance: Level, level: Level
) -> Facts:
    """What a message about a position needs. ``trigger`` names the metric(s) holding ``level``."""
    at_ratio = level > Level.OK and by_ratio >= level
    at_distance = level > Level.OK and by_distance >= level
    trigger = (
        "margin_ratio+distance"
        if at_ratio and at_distance
        else "margin_ratio"
        if at_ratio
        else "distance"
        if at_distance
        else None
    )
    return {
        **position_basics(p),
        "maint_margin": p.maint_margin,
        "unrealized_pnl": p.unrealized_pnl,
        "ratio_level": by_ratio.label,
        "ratio_threshold": ratio_threshold(thr, by_ratio) if by_ratio > Level.OK else None,
        "distance_level": by_distance.label,
        "distance_threshold_pct": distance_threshold(thr, by_distance) if by_distance > Level.OK else None,
        "trigger": trigger,
        # why the level, in the message: a metric at its level entered at the threshold or is held
        # down (up) to the release; at ok, both are short of warn's
        "ratio_release": ratio_release(thr, by_ratio) if by_ratio > Level.OK else None,
        "distance_release_pct": distance_release(thr, by_distance) if by_distance > Level.OK else None,
        "ratio_warn": ratio_threshold(thr, Level.OK),
        "distance_warn_pct": distance_threshold(thr, Level.OK),
    }


def position_basics(p: PositionRisk) -> dict[str, FactValue]:
    """What every message about a position says of it: which one it is, its size and where it stands
    (the lifecycle's messages say no more)."""
    return {
        "symbol": p.symbol,
        "side": p.side.value,
        "position_side": p.position_side.value,
        "margin_mode": p.margin_mode.value,
        "contracts": contracts_of(p),
        "notional": p.notional,
        "mark_price": p.mark_price,
        "liquidation_price": p.liquidation_price,
        "distance_pct": p.distance_pct,
        "margin_ratio": p.margin_ratio,
        "past_liquidation": past_liquidation(p.distance_pct),
        "liquidated_by": liquidated_by(p),
    }


def past_liquidation(distance_pct: float | None) -> bool:
    """Whether a position is past its liquidation price: its signed distance is negative."""
    return distance_pct is not None and distance_pct < 0


def liquidated_by(p: PositionRisk) -> str | None:
    """Which way the position's symbol is liquidated, ``"fall"`` or ``"rise"`` (``None``: no price
    does, or no telling). A hedge-mode leg shares its symbol's liquidation price, so the long leg of a
    net-short symbol is liquidated by a rise: the side of the liquidation price, turned over when the
    mark is already past it, says which, for every leg alike."""
    lp, distance = p.liquidation_price, p.distance_pct
    if lp is None or distance is None or lp == p.mark_price:
        return None
    above = lp > p.mark_price
    return "rise" if above != (distance < 0) else "fall"


def contracts_of(p: PositionRisk) -> float | None:
    """The position's size, once ``PositionRisk`` carries one (it has only the notional today)."""
    contracts = getattr(p, "contracts", None)
    return float(contracts) if isinstance(contracts, int | float) else None


def deviation_facts(p: PositionRisk, cfg: DeviationConfig, level: Level) -> Facts:
    ours = p.liquidation_price
    if ours is not None and ours == p.exchange_liquidation_price and p.deviation_pct:
        # a venue whose figure is judged in place of our estimate: ours, from the deviation
        ours = ours * (1.0 + p.deviation_pct / 100.0)
    return {
        "symbol": p.symbol,
        "side": p.side.value,
        "position_side": p.position_side.value,
        "margin_mode": p.margin_mode.value,
        "mark_price": p.mark_price,
        "liquidation_price": ours,
        "exchange_liquidation_price": p.exchange_liquidation_price,
        "deviation_pct": p.deviation_pct,
        "tolerance_pct": cfg.tolerance_pct,
    }
