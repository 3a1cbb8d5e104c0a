"""The numeric solver on functions whose roots are known."""

from __future__ import annotations

import math

import pytest

from monitor.margin.solver import Roots, solve_nearest


def test_single_root_below() -> None:
    roots = solve_nearest(lambda x: x - 37.25, 100.0)
    assert roots.below == pytest.approx(37.25, rel=1e-14)
    assert roots.above is None
    assert roots.nearest(100.0) == roots.below


def test_two_roots_nearest_is_chosen() -> None:
    """A concave function (a hedged book whose requirement grows either way) has a root on each side."""
    f = lambda x: -(x - 90.0) * (x - 130.0)  # noqa: E731
    roots = solve_nearest(f, 100.0)
    assert roots.below == pytest.approx(90.0, rel=1e-13)
    assert roots.above == pytest.approx(130.0, rel=1e-13)
    assert roots.nearest(100.0) == roots.below
    assert solve_nearest(f, 125.0).nearest(125.0) == pytest.approx(130.0, rel=1e-13)


def test_no_root() -> None:
    assert solve_nearest(lambda x: 1.0 + x, 5.0) == Roots(None, None)


def test_root_at_start() -> None:
    assert solve_nearest(lambda x: x - 2.0, 2.0) == Roots(2.0, 2.0)


def test_breakpoints_find_a_narrow_dip() -> None:
    """Two roots closer together than the grid: only the breakpoints reveal them."""
    f = lambda x: 1.0 if not 50.0 < x < 50.2 else -1.0  # noqa: E731
    assert solve_nearest(f, 100.0).below is None
    roots = solve_nearest(f, 100.0, breakpoints=[50.1])
    assert roots.below == pytest.approx(50.2, rel=1e-12)


def test_inverse_like_function_far_away() -> None:
    f = lambda x: 1.0 - 1e-6 / x  # root at 1e-6 # noqa: E731
    assert solve_nearest(f, 50_000.0).below == pytest.approx(1e-6, rel=1e-12)


def test_rejects_non_positive_start() -> None:
    with pytest.raises(ValueError, match="positive"):
        solve_nearest(math.sin, 0.0)
