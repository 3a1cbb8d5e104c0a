"""Maintenance tier tables: lookup, validation and the continuity check.

A venue publishes its maintenance rate in tiers over a position's size, in the venue's own unit:
Binance USD-M quote notional, COIN-M coin notional, Bybit position value, OKX contracts. The
maintenance amount is ``value * mmr - cum``; ``cum`` (Bybit: mmDeduction) is chosen by the venue so that
the amount is continuous across tier boundaries. A discontinuity means a stale or user-specific table
and makes liquidation prices jump, so it is reported as a warning, not refused: the exchange still
liquidates by the table it has.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from monitor.model import Tier


class TierError(ValueError):
    """A tier table that cannot be used: unsorted, gapped, negative, or not covering a value."""


def validate_tiers(tiers: Sequence[Tier]) -> None:
    """Refuse a table the maths cannot trust. Raises ``TierError`` naming the tier index."""
    if not tiers:
        raise TierError("tier table is empty")
    for i, t in enumerate(tiers):
        if t.floor < 0 or t.cap < 0 or t.mmr < 0:
            raise TierError(f"tier {i}: floor, cap and mmr must be non-negative")
        if not t.cap > t.floor:
            raise TierError(f"tier {i}: cap {t.cap:g} must be above floor {t.floor:g}")
        if t.mmr >= 1:
            raise TierError(f"tier {i}: mmr {t.mmr:g} must be a rate below 1")
        if i == 0 and t.floor != 0:
            raise TierError(f"tier 0: floor must be 0, got {t.floor:g}")
        if i > 0:
            prev = tiers[i - 1]
            if t.floor != prev.cap:
                raise TierError(
                    f"tier {i}: floor {t.floor:g} does not continue tier {i - 1}'s cap {prev.cap:g}"
                )


def continuity_warnings(tiers: Sequence[Tier], rel_tol: float = 1e-6) -> list[str]:
    """Boundaries where the maintenance amount jumps: ``floor*mmr_prev - cum_prev != floor*mmr - cum``."""
    warnings: list[str] = []
    for i in range(1, len(tiers)):
        prev, cur = tiers[i - 1], tiers[i]
        below = cur.floor * prev.mmr - prev.cum
        above = cur.floor * cur.mmr - cur.cum
        scale = max(abs(below), abs(above), 1e-12)
        if abs(below - above) > rel_tol * scale:
            warnings.append(
                f"tier {i}: maintenance amount jumps from {below:.10g} to {above:.10g} at {cur.floor:g}"
                f" (expected cum {cumulative_amount(prev, cur):.10g}, got {cur.cum:.10g})"
            )
    return warnings


def cumulative_amount(prev: Tier, cur: Tier) -> float:
    """The ``cum`` that makes tier ``cur`` continuous with ``prev`` (Binance's recurrence)."""
    return cur.floor * (cur.mmr - prev.mmr) + prev.cum


def tier_index(tiers: Sequence[Tier], value: float) -> int:
    """Index of the tier whose ``[floor, cap)`` holds ``value``. Raises ``TierError`` when none does."""
    v = abs(value)
    # Tables are short (10-20 tiers) but this runs per position per tick: bisect on the floors.
    i = bisect_right(_floors(tiers), v) - 1
    if i < 0 or v >= tiers[i].cap:
        top = tiers[-1].cap if tiers else 0.0
        raise TierError(f"tier table does not cover {v:.10g} (top cap {top:.10g})")
    return i


def tier_index_extended(tiers: Sequence[Tier], value: float) -> int:
    """Like ``tier_index`` but the top tier extends to infinity.

    The maths needs a requirement at every price it searches, including prices where the position
    would outgrow the table; whether a position's size at its mark is covered is checked separately,
    where the input is validated.
    """
    entry = _FLOORS_CACHE.get(id(tiers))
    floors = entry[1] if entry is not None and entry[0] is tiers else _floors(tiers)
    i = bisect_right(floors, value if value >= 0 else -value) - 1
    return i if i >= 0 else 0


def tier_for(tiers: Sequence[Tier], value: float) -> Tier:
    return tiers[tier_index(tiers, value)]


def maint_amount(tiers: Sequence[Tier], value: float) -> float:
    """Maintenance amount ``|value| * mmr - cum`` in the tier unit's currency."""
    t = tier_for(tiers, value)
    return abs(value) * t.mmr - t.cum


_FLOORS_CACHE: dict[int, tuple[tuple[Tier, ...] | Sequence[Tier], list[float]]] = {}


def _floors(tiers: Sequence[Tier]) -> list[float]:
    # Keyed by identity with the table kept alive in the entry, so an id is never reused while cached.
    entry = _FLOORS_CACHE.get(id(tiers))
    if entry is not None and entry[0] is tiers:
        return entry[1]
    floors = [t.floor for t in tiers]
    if len(_FLOORS_CACHE) > 4096:
        _FLOORS_CACHE.clear()
    _FLOORS_CACHE[id(tiers)] = (tiers, floors)
    return floors
