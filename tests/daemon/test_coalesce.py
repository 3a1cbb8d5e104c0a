"""Merging a venue's marks: the newest price of each symbol by the exchange's time, and how long a
mark waits for its window."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.daemon.coalesce import HeldMarks, hold_for_ms
from monitor.events import MarkPrices

V = "bybit"


@pytest.mark.parametrize(
    ("last", "now", "wait"),
    [
        (None, 5_000, 0),  # never evaluated: at once
        (1_000, 1_050, 0),  # a whole window ago: at once
        (1_000, 1_020, 30),  # until a window after the last evaluation
        (1_000, 1_000, 50),
        (10_000, 5_000, 50),  # the clock stepped back: still one window at most
    ],
)
def test_a_mark_waits_until_a_window_after_the_last_evaluation(last: int | None, now: int, wait: int) -> None:
    assert hold_for_ms(last, now, 50) == wait


def test_a_single_update_passes_through_as_it_came() -> None:
    ev = MarkPrices(V, {"A": 1.0}, 10, 11)
    assert HeldMarks(ev).event() is ev


def test_per_symbol_times_are_kept_and_the_oldest_leads() -> None:
    held = HeldMarks(MarkPrices(V, {"A": 1.0, "B": 2.0}, 10, 100))
    held.add(MarkPrices(V, {"B": 2.5}, 30, 120))
    held.add(MarkPrices(V, {"A": 0.5}, 5, 130))  # older than the held A: dropped
    held.add(MarkPrices(V, {"C": 3.0, "A": 1.5}, 20, 140, stamps={"C": 25, "A": 20}))
    merged = held.event()
    assert merged.prices == {"A": 1.5, "B": 2.5, "C": 3.0}
    assert {s: merged.stamp(s) for s in merged.prices} == {"A": 20, "B": 30, "C": 25}
    assert merged.event_ms == 20
    assert merged.received_ms == 100  # the first arrival: a held mark never looks fresher than it is
    assert held.merged == 4


def test_equal_times_keep_the_later_arrival_and_one_time_is_stamped_as_one() -> None:
    held = HeldMarks(MarkPrices(V, {"A": 1.0}, 10, 100))
    held.add(MarkPrices(V, {"A": 2.0, "B": 3.0}, 10, 101))
    merged = held.event()
    assert merged.prices == {"A": 2.0, "B": 3.0}
    assert merged.stamps is None and merged.event_ms == 10


updates = st.lists(
    st.tuples(st.sampled_from("ABC"), st.integers(0, 5), st.floats(1, 100)), min_size=1, max_size=30
)


@given(updates)
def test_the_merge_holds_what_applying_each_in_turn_keeps(seq: list[tuple[str, int, float]]) -> None:
    """The engine's rule applied one update at a time (an older time is dropped, an equal one
    replaces) leaves each symbol the price the merge holds."""
    kept: dict[str, tuple[int, float]] = {}
    held: HeldMarks | None = None
    for symbol, stamp, price in seq:
        if symbol not in kept or kept[symbol][0] <= stamp:
            kept[symbol] = (stamp, price)
        ev = MarkPrices(V, {symbol: price}, stamp, 0)
        if held is None:
            held = HeldMarks(ev)
        else:
            held.add(ev)
    assert held is not None
    merged = held.event()
    assert {s: (merged.stamp(s), p) for s, p in merged.prices.items()} == kept
