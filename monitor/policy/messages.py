"""One-line human texts, built only from a subject and its facts.

Messages are rendered from the same ``facts`` the alert carries, so a repeat sent by the timer (from the
facts last stored) reads exactly like one sent on a tick, and a notifier that prefers its own wording
has every number it needs.
"""

from __future__ import annotations

import math

from monitor import figures
from monitor.alerts import AlertKind, FactValue, Level, Transition
from monitor.figures import PCT_DECIMALS, fmt_duration, fmt_num, fmt_pct_threshold, fmt_ratio_threshold
from monitor.policy.state import Facts, Subject


def fmt_price(value: FactValue) -> str:
    """Prices and amounts, written as everywhere else (``monitor.figures``): 58,123.42 / 3.0126 /
    0.012346."""
    return fmt_num(value)


def fmt_ratio(value: FactValue) -> str:
    """A margin ratio in percent (``monitor.figures``): 87.25 %, ``∞`` without equity."""
    return figures.fmt_ratio(value)


def fmt_pct(value: FactValue, decimals: int = PCT_DECIMALS) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "n/a"
    if decimals == PCT_DECIMALS:
        return figures.fmt_pct(value)
    return f"{value:.{decimals}f} %"


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
        return _risk(subject, level, note, transition, previous, facts)
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


def _risk(
    subject: Subject, level: Level, note: str, transition: Transition, previous: Level | None, facts: Facts
) -> str:
    """``who: why (level); the other figures``: the reason for the level comes first, in the very
    numbers (and rounding) the rest of the message, the console, the log and Telegram use."""
    if transition is Transition.CLOSED:
        closed = _closed_for(facts.get("reason"), subject, "risk", previous)
        if closed is not None:
            return closed
    if subject.symbol is None:
        return _cross_risk(subject, level, note, facts)
    ratio = facts.get("margin_ratio")
    distance = facts.get("distance_pct")
    liq_price = facts.get("liquidation_price")
    by_ratio, by_distance = _metric_levels(facts) if level > Level.OK else (None, None)
    ratio_said = by_ratio is not None
    if facts.get("past_liquidation"):
        mark = fmt_price(facts.get("mark_price"))
        if isinstance(distance, int | float) and math.isinf(distance):
            why = f"past its liquidation price, and no {subject.symbol} price restores it (mark {mark})"
        else:
            liq = fmt_price(liq_price)
            why = f"past its liquidation price, distance {fmt_pct(distance)} (mark {mark}, liq {liq})"
        ratio_said = False
        rest = []
    else:
        reasons = []
        if by_ratio is not None:
            reasons.append(_ratio_reason(ratio, by_ratio, facts))
        if by_distance is not None:
            reasons.append(_distance_reason(distance, by_distance, facts))
        if not reasons:
            reasons = _calm_reasons(ratio, distance, facts)
            ratio_said = any(r.startswith("margin ratio") for r in reasons)
        why = " and ".join(reasons) if reasons else "no threshold reached"
        distance_said = any(r.startswith("distance") for r in reasons)
        if liq_price is None:
            rest = ["no liquidation price"]
        elif distance_said:
            rest = [f"liq {fmt_price(liq_price)}"]
        else:
            rest = [f"liq {fmt_price(liq_price)} ({fmt_pct(distance)} away)"]
    if not ratio_said:
        rest.insert(0, f"margin ratio {fmt_ratio(ratio)}")
    net = _net_words(subject, facts)
    if net:
        rest.append(net)
    return f"{who(subject)}: {why} {note}; {', '.join(rest)}"


def _metric_levels(facts: Facts) -> tuple[str | None, str | None]:
    """The level each metric holds the alert's level at (``None``: that metric does not)."""
    trigger = facts.get("trigger")
    by_ratio = facts.get("ratio_level") if trigger in ("margin_ratio", "margin_ratio+distance") else None
    by_distance = facts.get("distance_level") if trigger in ("distance", "margin_ratio+distance") else None
    return (
        by_ratio if isinstance(by_ratio, str) else None,
        by_distance if isinstance(by_distance, str) else None,
    )


def _ratio_reason(ratio: FactValue, level: str, facts: Facts) -> str:
    threshold = facts.get("ratio_threshold")
    if isinstance(ratio, int | float) and isinstance(threshold, int | float) and ratio >= threshold:
        return f"margin ratio {fmt_ratio(ratio)} >= {level} {fmt_ratio_threshold(threshold)}"
    return (
        f"margin ratio {fmt_ratio(ratio)} >= {fmt_ratio_threshold(facts.get('ratio_release'))} "
        f"({level} {fmt_ratio_threshold(threshold)} less its band)"
    )


def _distance_reason(distance: FactValue, level: str, facts: Facts) -> str:
    threshold = facts.get("distance_threshold_pct")
    if isinstance(distance, int | float) and isinstance(threshold, int | float) and distance <= threshold:
        return f"distance {fmt_pct(distance)} <= {level} {fmt_pct_threshold(threshold)}"
    return (
        f"distance {fmt_pct(distance)} <= {fmt_pct_threshold(facts.get('distance_release_pct'))} "
        f"({level} {fmt_pct_threshold(threshold)} plus its band)"
    )


def _calm_reasons(ratio: FactValue, distance: FactValue, facts: Facts) -> list[str]:
    """Why a position is at ok: the metrics short of warn (a cross position's ratio is the
    account's, which may be at a level of its own: it is named only when short of warn)."""
    out = []
    warn = facts.get("ratio_warn")
    if isinstance(ratio, int | float) and isinstance(warn, int | float) and ratio < warn:
        out.append(f"margin ratio {fmt_ratio(ratio)} < warn {fmt_ratio_threshold(warn)}")
    d_warn = facts.get("distance_warn_pct")
    if isinstance(distance, int | float) and isinstance(d_warn, int | float) and distance > d_warn:
        out.append(f"distance {fmt_pct(distance)} > warn {fmt_pct_threshold(d_warn)}")
    return out


def _net_words(subject: Subject, facts: Facts) -> str | None:
    """A cross hedge-mode leg whose liquidation price is on the "wrong" side for its own side (the
    long leg of a net-short symbol, liquidated by a rise): which way the symbol goes, and that both
    legs close there. Such a leg always has a larger opposite leg, so "both" is true."""
    if subject.position_side in (None, "", "both") or subject.margin_mode != "cross":
        return None
    by = facts.get("liquidated_by")
    net = "short" if by == "rise" else "long" if by == "fall" else None
    if net is None or net == subject.side:
        return None
    return f"symbol is net {net}: both legs close at {fmt_price(facts.get('liquidation_price'))}"


def _cross_risk(subject: Subject, level: Level, note: str, facts: Facts) -> str:
    """The cross pool: no equity, or a ratio at liquidation, is past liquidation, in words."""
    ratio, equity, maint = facts.get("margin_ratio"), facts.get("equity"), facts.get("maint_margin")
    if isinstance(equity, int | float) and equity < 0:
        why = "equity is negative, past liquidation"
    elif isinstance(ratio, int | float) and math.isinf(ratio):
        why = "no equity left, past liquidation"
    elif isinstance(ratio, int | float) and ratio >= 1.0:
        why = f"margin ratio {fmt_ratio(ratio)} >= 100 %, past liquidation"
    elif level > Level.OK:
        why = _ratio_reason(ratio, level.label, facts)
    else:
        why = f"margin ratio {fmt_ratio(ratio)} < warn {fmt_ratio_threshold(facts.get('ratio_warn'))}"
    text = f"{who(subject)}: {why} {note}; equity {fmt_price(equity)}, maint margin {fmt_price(maint)}"
    top = facts.get("top_positions")
    return f"{text}, from {top}" if top else text


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
    # why: the age against the limit it reached
    limit = f" >= its limit {_age(facts, 'threshold_ms')}" if "threshold_ms" in facts else ""
    if subject.stream is None:
        return f"no mark price for {subject.symbol} for {_age(facts, 'age_ms')}{limit} {note}"
    return f"no data on {subject.stream} for {_age(facts, 'age_ms')}{limit} {note}"


def _recovered(subject: Subject, facts: Facts) -> str:
    gap = _age(facts, "gap_ms")
    if subject.stream is None:
        return f"mark price for {subject.symbol} updates again after {gap} without one"
    return f"{subject.stream} delivers again after {gap} without data"
