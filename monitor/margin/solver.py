"""A generic solver for an account's balance equation.

Where a venue publishes no closed form (Bybit and OKX cross) the liquidation price is the root of
``equity(P) - requirement(P)`` nearest the current mark. The same solver is the oracle the closed forms
are tested against, so it relies only on the definitions of equity and requirement, never on a formula.

The function is piecewise smooth: its pieces change where a position crosses a tier boundary. Callers
pass those prices as ``breakpoints`` so that each bracket the grid makes holds at most one root of a
monotone piece; within a bracket, bisection runs to float precision (it needs no derivative and cannot
diverge, which matters more here than the few extra evaluations).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

# Prices below this fraction of the mark are no price at all: a closed form lands there only through
# rounding when the wallet exactly covers the position, and the solver's grid stops there.
PRICE_FLOOR = 1e-12

# Multiplicative steps away from the start point: dense near it (where liquidation prices of live
# positions are) and sparse far away. Breakpoints fill in the gaps where the function bends.
_DOWN = (
    0.999,
    0.995,
    0.99,
    0.98,
    0.97,
    0.95,
    0.93,
    0.9,
    0.85,
    0.8,
    0.75,
    0.7,
    0.6,
    0.5,
    0.4,
    0.3,
    0.2,
    0.1,
    0.05,
    0.02,
    0.01,
    1e-3,
    1e-4,
    1e-6,
    1e-9,
    1e-12,
)
_UP = (
    1.001,
    1.005,
    1.01,
    1.02,
    1.03,
    1.05,
    1.07,
    1.1,
    1.15,
    1.2,
    1.3,
    1.4,
    1.5,
    1.75,
    2.0,
    2.5,
    3.0,
    4.0,
    5.0,
    7.0,
    10.0,
    20.0,
    50.0,
    100.0,
    1e3,
    1e4,
    1e6,
    1e9,
    1e12,
)


@dataclass(frozen=True, slots=True)
class Roots:
    """The roots nearest the start point on each side; ``None`` where the function keeps its sign."""

    below: float | None
    above: float | None

    def nearest(self, x0: float) -> float | None:
        if self.below is None:
            return self.above
        if self.above is None:
            return self.below
        return self.below if x0 - self.below <= self.above - x0 else self.above


def solve_nearest(
    f: Callable[[float], float],
    x0: float,
    breakpoints: Iterable[float] = (),
    *,
    rel_tol: float = 1e-15,
) -> Roots:
    """Roots of ``f`` on ``(0, inf)`` nearest ``x0 > 0``, one on each side.

    ``f(x0) == 0`` returns ``x0`` on both sides. A sign change is searched outward from ``x0`` over a
    grid made of fixed multiplicative steps and the given breakpoints.
    """
    if not x0 > 0:
        raise ValueError(f"start point must be positive, got {x0}")
    f0 = f(x0)
    if f0 == 0:
        return Roots(x0, x0)
    bps = [b for b in breakpoints if b > 0]
    down = sorted({x0 * r for r in _DOWN} | {b for b in bps if b < x0}, reverse=True)
    up = sorted({x0 * r for r in _UP} | {b for b in bps if b > x0})
    return Roots(_first_root(f, x0, f0, down, rel_tol), _first_root(f, x0, f0, up, rel_tol))


def _first_root(
    f: Callable[[float], float], x0: float, f0: float, grid: list[float], rel_tol: float
) -> float | None:
    prev_x, prev_f = x0, f0
    for x in grid:
        fx = f(x)
        if fx == 0:
            return x
        if (fx < 0) != (prev_f < 0):
            return _bisect(f, prev_x, prev_f, x, rel_tol)
        prev_x, prev_f = x, fx
    return None


def _bisect(f: Callable[[float], float], a: float, fa: float, b: float, rel_tol: float) -> float:
    lo, hi = (a, b) if a < b else (b, a)
    f_lo = fa if lo == a else f(lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi or hi - lo <= rel_tol * hi:
            break
        fm = f(mid)
        if fm == 0:
            return mid
        if (fm < 0) == (f_lo < 0):
            lo, f_lo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)
