"""The idle-slot garbage collector: what it changes in the interpreter while the daemon runs, and that
``stop`` puts everything back (a process runs many daemons in the tests)."""

from __future__ import annotations

import gc

from monitor.daemon.collector import IdleCollector


def test_start_freezes_and_raises_the_young_threshold_stop_restores() -> None:
    before = gc.get_threshold()
    collector = IdleCollector(young_threshold=12_345, middle_every=2, full_every=3)
    collector.start()
    try:
        assert gc.get_threshold() == (12_345, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        collector.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_idle_slots_collect_young_middle_and_full_generations() -> None:
    collected: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collected.append(info["generation"])

    collector = IdleCollector(middle_every=2, full_every=3)
    collector.idle()  # not started: nothing
    collector.start()
    gc.callbacks.append(record)
    try:
        for _ in range(6):
            collector.idle()
    finally:
        gc.callbacks.remove(record)
        collector.stop()
    # slots 1..6: young, middle, full, middle, young, full (a full slot wins over a middle one)
    assert collected == [0, 1, 2, 1, 0, 2]


def test_cyclic_garbage_made_while_running_is_collected_in_an_idle_slot() -> None:
    class Node:
        other: object

    collector = IdleCollector(full_every=1)
    collector.start()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b  # unreachable, but only a collection frees a cycle (none runs at this threshold)
        assert any(type(o) is Node for o in gc.get_objects())
        collector.idle()
        assert not any(type(o) is Node for o in gc.get_objects())
    finally:
        collector.stop()


def test_overlapping_collectors_restore_the_settings_once_the_last_stops() -> None:
    before = gc.get_threshold()
    first, second = IdleCollector(young_threshold=20_000), IdleCollector(young_threshold=30_000)
    first.start()
    second.start()
    first.stop()
    assert gc.get_threshold()[0] == 20_000 and gc.get_freeze_count() > 0
    second.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
