"""One-line human texts, built only from a subject and its facts.

Messages are rendered from the same ``facts`` the alert carries, so a repeat sent by the timer (from the
facts last stored) reads exactly like one sent on a tick, and a notifier that prefers its own wording
has every number it needs.
"""

from __future__ import annotations

import math

from monitor.alerts import AlertKind, FactValue, Level, Transition
from monitor.policy.state import Facts, Subject


def fmt_price(value: FactValue) -> str:
    """Prices at a sensible precision: 58,123.4 / 3,012.55 / 1.2345 / 0.0123456."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    x = float(value)
    if not math.isfinite(x):
        return str(x)
    if abs(x) >= 1:
        digits = len(str(int(abs(x))))
        return f"{x:,.{max(1, 6 - digits)}f}"
    return f"{x:.6g}"


def fmt_ratio(value: FactValue) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    if math.isinf(value):
        return "inf (equity <= 0)"
    return f"{value:.2f}"


def fmt_pct(value: FactValue, decimals: int = 1) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    return f"{value:.{decimals}f} %"


def fmt_duration(ms: int) -> str:
    """``15 s``, ``4 min``, ``2 h 5 min``: coarse enough to read at a glance."""
    seconds = max(0, ms) // 1000
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def fmt_qty(value: FactValue) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    return f"{value:g}"


def who(subject: Subject) -> str:
    """``main BTC/USDT:USDT long cross`` for a position, ``main cross account`` for the pool."""
    if subject.symbol is None:
        return f"{subject.account} cross account"
    parts = [subject.account, subject.symbol, subject.side or subject.position_side, subject.margin_mode]
    return " ".join(p for p in parts if p)


def level_note(level: Level, transition: Transition, previous: Level | None) -> str:
    if transition is Transition.REPEATED:
        return f"({level.label}, still)"
    if transition is Transition.OPENED or previous is None:
        return f"({level.label})"
    return f"({level.label}, was {previous.label})"


def render(
    kind: AlertKind,
    subject: Subject,
    level: Level,
    transition: Transition,
    previous: Level | None,
    facts: Facts,
) -> str:
    """The message of an episode alert (risk, deviation, staleness)."""
    note = level_note(level, transition, previous)
    if kind is AlertKind.RISK:
        return _risk(subject, note, transition, previous, facts)
    if kind is AlertKind.DEVIATION:
        return _deviation(subject, note, transition, previous, facts)
    if kind is AlertKind.RECOVERED:
        return _recovered(subject, facts)
    return _stale(subject, note, transition, previous, facts)


def _closed_for(reason: FactValue, subject: Subject, what: str, previous: Level | None) -> str | None:
    if reason == "position_closed":
        was = f" (was {previous.label})" if previous is not None else ""
        return f"{who(subject)}: position closed, {what} episode ends{was}"
    if reason == "no_cross_positions":
        was = f" (was {previous.label})" if previous is not None else ""
        return f"{who(subject)}: no cross positions left{was}"
    return None


def _risk(subject: Subject, note: str, transition: Transition, previous: Level | None, facts: Facts) -> str:
    if transition is Transition.CLOSED:
        closed = _closed_for(facts.get("reason"), subject, "risk", previous)
        if closed is not None:
            return closed
    ratio = f"margin ratio {fmt_ratio(facts.get('margin_ratio'))}"
    if subject.symbol is None:
        text = f"{who(subject)}: {ratio} {note}, equity {fmt_price(facts.get('equity'))}"
        top = facts.get("top_positions")
        return f"{text}; maint margin from {top}" if top else text
    liq_price = facts.get("liquidation_price")
    if liq_price is None:
        liq = "no liquidation price"
    else:
        liq = f"liq {fmt_price(liq_price)} ({fmt_pct(facts.get('distance_pct'))} away)"
    if facts.get("trigger") == "distance":
        return f"{who(subject)}: {ratio}, {liq} {note}"
    return f"{who(subject)}: {ratio} {note}, {liq}"


def _deviation(
    subject: Subject, note: str, transition: Transition, previous: Level | None, facts: Facts
) -> str:
    if transition is Transition.CLOSED:
        closed = _closed_for(facts.get("reason"), subject, "deviation", previous)
        if closed is not None:
            return closed
    gap = facts.get("deviation_pct")
    gap_text = fmt_pct(abs(gap), 2) if isinstance(gap, int | float) else "n/a"
    return (
        f"{who(subject)}: our liq {fmt_price(facts.get('liquidation_price'))} vs exchange "
        f"{fmt_price(facts.get('exchange_liquidation_price'))}, {gap_text} apart "
        f"(tolerance {fmt_pct(facts.get('tolerance_pct'), 2)}) {note}"
    )


def _age(facts: Facts, name: str) -> str:
    value = facts.get(name)
    return fmt_duration(int(value)) if isinstance(value, int | float) else "a while"


def _stale(subject: Subject, note: str, transition: Transition, previous: Level | None, facts: Facts) -> str:
    what = f"mark price for {subject.symbol}" if subject.stream is None else f"{subject.stream}"
    if transition is Transition.CLOSED:
        was = f" (was {previous.label})" if previous is not None else ""
        return f"{what}: no longer monitored{was}"
    if subject.stream is None:
        return f"no mark price for {subject.symbol} for {_age(facts, 'age_ms')} {note}"
    return f"no data on {subject.stream} for {_age(facts, 'age_ms')} {note}"


def _recovered(subject: Subject, facts: Facts) -> str:
    gap = _age(facts, "gap_ms")
    if subject.stream is None:
        return f"mark price for {subject.symbol} updates again after {gap} without one"
    return f"{subject.stream} delivers again after {gap} without data"
