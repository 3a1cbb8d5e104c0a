"""The policy's per-tick code as it was before its shortcuts, kept as the slow path to compare against.

Verbatim apart from names: ``Work.step`` building facts on every tick, position risk with keys formatted
and subjects built per call and both levels always computed, and lifecycle building a fresh
``KnownPosition`` per position. No screen either: every account goes through lifecycle and every one
of its positions through its subjects. Nor a latest evaluation kept in the state: every track carries
its own numbers, refreshed on every tick (``step`` accepts the ``source`` it is now given, and ignores
it). ``evaluate`` is the policy's ``evaluate`` made of them, for a test to compare with.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.alerts import Alert, AlertKind, FactValue, Level, Transition
from monitor.model import AccountRisk, MarginMode, PositionRisk
from monitor.policy import PolicyConfig, PolicyInputs, PolicyState, keys
from monitor.policy.episodes import advance
from monitor.policy.exchange_alarms import exchange_event
from monitor.policy.facts import position_facts, top_positions
from monitor.policy.levels import deviation_level, distance_level, ratio_level, ratio_release, ratio_threshold
from monitor.policy.lifecycle import position_closed, position_flipped, position_opened
from monitor.policy.state import Evaluation, Facts, KnownPosition, Subject, Track
from monitor.policy.work import Work

Evaluate = Callable[[PolicyState, PolicyInputs, int, PolicyConfig], tuple[PolicyState, list[Alert]]]
"""What ``monitor.policy.evaluate`` and this module's ``evaluate`` both are."""


class ReferenceWork(Work):
    """``Work`` with the step it had before its shortcuts, keeping no latest evaluation."""

    __slots__ = ()

    def record_evaluation(self, seen: Evaluation) -> None:
        pass

    def step(
        self,
        key: str,
        track: Track | None,
        kind: AlertKind,
        candidate: Level,
        confirm_ticks: int,
        subject: Subject | Callable[[], Subject],
        facts: Callable[[Level], Facts],
        closed_kind: AlertKind | None = None,
        source: Evaluation | None = None,
    ) -> None:
        if track is None:
            if candidate == Level.OK:
                return
            track = Track(key=key, kind=kind, subject=subject if isinstance(subject, Subject) else subject())
        new, change = advance(
            track,
            candidate,
            self.now_ms,
            confirm_ticks=confirm_ticks,
            repeat=self.config.repeat,
            seq=self.seq,
        )
        if change is not None and change.transition is Transition.OPENED:
            self.seq += 1
        if new is not None and new.is_open:
            fresh_subject = subject if isinstance(subject, Subject) else subject()
            new = new.refreshed(
                new.subject if fresh_subject == new.subject else fresh_subject, facts(new.level)
            )
        self.set_track(key, new)
        if change is None:
            return
        if new is None:
            self.announce(track, closed_kind or kind, Level.OK, change, facts(Level.OK))
        else:
            self.announce(new, kind, new.level, change, new.facts)


def evaluate(
    state: PolicyState, inputs: PolicyInputs, now_ms: int, config: PolicyConfig
) -> tuple[PolicyState, list[Alert]]:
    """``monitor.policy.evaluate`` without its shortcuts: every account through lifecycle, every
    position through its subjects, every track refreshed with its numbers."""
    w = ReferenceWork(state, now_ms, config)
    for event in inputs.events:
        exchange_event(w, event)
    for risk in inputs.risks:
        w.begin_evaluation(risk)
        track_positions(w, risk)
        step_account_risk(w, risk)
    return w.result(), w.alerts


def track_positions(w: Work, risk: AccountRisk) -> None:
    known = w.known_positions(risk.account)
    current = {p.key: KnownPosition(p.side, p.margin_mode) for p in risk.positions}
    if known is not None and known == current:
        return
    w.set_positions(risk.account, current)
    if known is None:
        if w.config.announce_initial_positions:
            for p in risk.positions:
                w.emit(position_opened(w, risk, p))
        return
    for p in risk.positions:
        was = known.get(p.key)
        if was is None:
            w.emit(position_opened(w, risk, p))
        elif was.side is not p.side:
            w.emit(position_flipped(w, risk, p, was))
    for k, was in known.items():
        if k not in current:
            position_closed(w, risk, k, was)


def step_account_risk(w: Work, risk: AccountRisk) -> None:
    _cross_account(w, risk)
    for position in risk.positions:
        _position(w, risk, position)
        _deviation(w, risk, position)


def _cross_account(w: Work, risk: AccountRisk) -> None:
    key = keys.account_risk(risk.account)
    track = w.track(key)
    cross = risk.cross
    if cross is None:
        if track is not None:
            w.close(key, AlertKind.RISK, {"reason": "no_cross_positions"})
        return
    thr = w.config.thresholds_for(risk.account, None)
    current = Level.OK if track is None else track.level
    candidate = ratio_level(cross.margin_ratio, current, thr)
    if track is None and candidate == Level.OK:
        return
    venue = risk.venue.value

    def subject() -> Subject:
        return Subject(venue=venue, account=risk.account, margin_mode=MarginMode.CROSS.value)

    def facts(level: Level) -> Facts:
        out: dict[str, FactValue] = {
            "margin_ratio": cross.margin_ratio,
            "equity": cross.equity,
            "maint_margin": cross.maint_margin,
            "ratio_threshold": ratio_threshold(thr, level) if level > Level.OK else None,
            "ratio_release": ratio_release(thr, level) if level > Level.OK else None,
            "ratio_warn": ratio_threshold(thr, Level.OK),
        }
        out.update(top_positions(risk, w.config.top_positions))
        return out

    w.step(key, track, AlertKind.RISK, candidate, thr.confirm_ticks, subject, facts)


def _position(w: Work, risk: AccountRisk, p: PositionRisk) -> None:
    key = keys.position_risk(risk.account, p.symbol, p.position_side.value)
    track = w.track(key)
    thr = w.config.thresholds_for(risk.account, p.symbol)
    ratio: float | None = p.margin_ratio
    if p.margin_mode is MarginMode.CROSS and not w.config.cross_positions_use_account_ratio:
        ratio = None
    current = Level.OK if track is None else track.level
    by_ratio = ratio_level(ratio, current, thr)
    by_distance = distance_level(p.distance_pct, current, thr)
    candidate = max(by_ratio, by_distance)
    if track is None and candidate == Level.OK:
        return

    def subject() -> Subject:
        return _subject(risk, p)

    def facts(level: Level) -> Facts:
        return position_facts(p, thr, by_ratio, by_distance, level)

    w.step(key, track, AlertKind.RISK, candidate, thr.confirm_ticks, subject, facts)


def _subject(risk: AccountRisk, p: PositionRisk) -> Subject:
    return Subject(
        venue=risk.venue.value,
        account=risk.account,
        symbol=p.symbol,
        position_side=p.position_side.value,
        margin_mode=p.margin_mode.value,
        side=p.side.value,
    )


def _deviation(w: Work, risk: AccountRisk, p: PositionRisk) -> None:
    key = keys.deviation(risk.account, p.symbol, p.position_side.value)
    track = w.track(key)
    if track is None and p.deviation_pct is None:
        return
    cfg = w.config.deviation
    current = Level.OK if track is None else track.level
    candidate = deviation_level(p.deviation_pct, current, cfg)
    if track is None and candidate == Level.OK:
        return

    def subject() -> Subject:
        return _subject(risk, p)

    def facts(level: Level) -> Facts:
        return {
            "symbol": p.symbol,
            "side": p.side.value,
            "position_side": p.position_side.value,
            "margin_mode": p.margin_mode.value,
            "mark_price": p.mark_price,
            "liquidation_price": p.liquidation_price,
            "exchange_liquidation_price": p.exchange_liquidation_price,
            "deviation_pct": p.deviation_pct,
            "tolerance_pct": cfg.tolerance_pct,
        }

    w.step(key, track, AlertKind.DEVIATION, candidate, cfg.confirm_ticks, subject, facts)
