"""How the monitor writes a figure for people: one way, in the console, the log, Telegram and the
calculator's table.

Why one module: the same margin ratio used to read ``0.87`` in a console line and ``87.0 %`` in the
Telegram bubble beside it, and a distance ``4.7 %`` in one and ``4.72 %`` in the other; a reader
comparing them saw two numbers where there is one. Margin ratios are written in percent (the
exchanges' apps do so; 100 % is liquidation), distances and every other percentage with two
decimals, thresholds as they were configured. Machine outputs (``calc --json``, the config, the
facts an alert carries) keep the fraction.
"""

from __future__ import annotations

import math

from monitor.margin.rules import ratio_to_okx

PCT_DECIMALS = 2


def _number(value: object) -> float | None:
    """``value`` as a float, or ``None`` for anything that is not a number (``bool`` included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def fmt_num(value: object) -> str:
    """Prices, sizes and amounts: enough digits at any magnitude, thousands separated."""
    x = _number(value)
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    ax = abs(x)
    if ax >= 1000:
        return f"{x:,.2f}"
    if ax >= 1:
        return f"{x:,.4f}".rstrip("0").rstrip(".")
    if ax == 0:
        return "0"
    digits = min(12, 4 - math.floor(math.log10(ax)))
    return f"{x:.{digits}f}".rstrip("0").rstrip(".")


def fmt_pct(value: object) -> str:
    """A percentage (distances, deviations, shares): ``2.97 %``, signed when negative."""
    x = _number(value)
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞ %" if x > 0 else "-∞ %"
    return f"{x:.{PCT_DECIMALS}f} %"


def fmt_ratio(value: object) -> str:
    """A margin ratio (requirement / equity, a fraction) in percent: ``87.25 %``; infinite when no
    equity is left to cover the requirement."""
    x = _number(value)
    if x is None or math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞ (no equity left)"
    return f"{x * 100:.{PCT_DECIMALS}f} %"


def venue_ratio_note(venue: str, ratio: float) -> str:
    """The figure the venue's own app shows for a ratio, where it is written the other way round:
    OKX's margin ratio is equity / requirement (liquidation at 100 % from above). "" elsewhere."""
    if venue != "okx":
        return ""
    theirs = ratio_to_okx(ratio)
    shown = "∞" if math.isinf(theirs) else f"{theirs * 100:.{PCT_DECIMALS}f} %"
    return f"(OKX shows {shown}, equity / requirement)"


def fmt_ratio_threshold(value: object) -> str:
    """A configured ratio threshold (a fraction) in percent, as precise as it was written: 0.85 is
    ``85 %``, 0.875 is ``87.5 %``."""
    x = _number(value)
    if x is None:
        return "n/a"
    return f"{round(x * 100, 10):g} %"


def fmt_pct_threshold(value: object) -> str:
    """A configured percentage threshold (a distance), as precise as it was written: ``4 %``."""
    x = _number(value)
    if x is None:
        return "n/a"
    return f"{round(x, 10):g} %"


def fmt_duration(ms: float) -> str:
    """``15 s``, ``4 min``, ``2 h 5 min``: coarse enough to read at a glance, and the same wherever a
    duration is written (a stale feed's age and limit in the policy's message and in the bubble)."""
    seconds = int(max(0, ms) // 1000)
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
