"""Python's cyclic garbage collector, run between decisions instead of in the middle of one.

Why: left to itself the collector runs whenever allocations pass a threshold (700 by default), and an
all-market frame allocates several thousand objects, so a collection lands inside nearly every
decision; now and then it is a full one, which scans the whole heap. The daemon's consumer knows when
it is idle (the queue is empty right after a decision), which is when a collection costs no latency.

So, while the daemon runs:

- everything alive after start-up (ccxt's classes and markets, tier tables, the book) is frozen out of
  the collector's reach (``gc.freeze``): it lives as long as the daemon, and a full collection then
  scans only what the event path allocated since;
- the young generation's threshold is raised far above one frame's allocations, so the automatic
  collector is only a backstop for bursts;
- each idle slot runs a young collection, every ``middle_every``-th one the middle generation, every
  ``full_every``-th one a full collection.

``stop`` restores the thresholds and unfreezes, so a process that runs daemons one after another (the
tests) does not keep their objects forever.
"""

from __future__ import annotations

import gc


class IdleCollector:
    def __init__(self, young_threshold: int = 50_000, middle_every: int = 10, full_every: int = 600) -> None:
        self.young_threshold = young_threshold
        self.middle_every = middle_every
        self.full_every = full_every
        self.slots = 0
        self.running = False

    def start(self) -> None:
        global _saved
        if self.running:
            return
        self.running = True
        _running.append(self)
        if len(_running) == 1:  # the interpreter's settings are saved once, by the first collector
            gc.collect()
            gc.freeze()
            _saved = gc.get_threshold()
            gc.set_threshold(self.young_threshold, _saved[1], _saved[2])

    def idle(self) -> None:
        """Called when the consumer has nothing queued: collect now rather than during the next event."""
        if not self.running:
            return
        self.slots += 1
        if self.slots % self.full_every == 0:
            gc.collect(2)
        elif self.slots % self.middle_every == 0:
            gc.collect(1)
        else:
            gc.collect(0)

    def stop(self) -> None:
        """Restores the interpreter's settings when the last running collector stops (two daemons in
        one process, as in some tests, share them)."""
        if not self.running:
            return
        self.running = False
        _running.remove(self)
        if not _running and _saved is not None:
            gc.set_threshold(*_saved)
            gc.unfreeze()


_running: list[IdleCollector] = []
_saved: tuple[int, int, int] | None = None
