"""The sliding window that keeps the Bitunix client under the venue's per-second limits, on a clock
the test moves: a burst up to the limit goes at once, the next send waits for the oldest to leave."""

from __future__ import annotations

import pytest

from monitor.venues.bitunix.pacing import Pacer


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_a_burst_up_to_the_limit_goes_at_once_and_the_next_waits_for_the_window() -> None:
    t = FakeTime()
    pacer = Pacer(4, clock=t.clock, sleep=t.sleep)
    for _ in range(4):
        await pacer.wait()
    assert t.slept == []
    t.now += 0.25
    await pacer.wait()  # the fifth within the second: until the first is a second old
    assert t.slept == [pytest.approx(0.75)]
    assert t.now == pytest.approx(101.0)


async def test_sends_spread_out_never_wait() -> None:
    t = FakeTime()
    pacer = Pacer(2, clock=t.clock, sleep=t.sleep)
    for _ in range(10):
        await pacer.wait()
        t.now += 0.5
    assert t.slept == []


async def test_no_window_ever_holds_more_than_the_limit() -> None:
    t = FakeTime()
    pacer = Pacer(3, clock=t.clock, sleep=t.sleep)
    sent = []
    for _ in range(20):
        await pacer.wait()
        sent.append(t.now)
        t.now += 0.05
    assert all(sum(1 for s in sent if start <= s < start + 1.0) <= 3 for start in sent)


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Pacer(0)
