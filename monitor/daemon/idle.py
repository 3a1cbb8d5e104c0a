"""The work done between decisions, when nothing is queued: one entry point, ``IdleStep.run``.

Why: at one frame a second every tick runs out of cache, and anything a tick does beyond its own
decision (joining columns a change left stale, filling the policy's tables for a new layout, freeing
the marks and risks a frame replaced, a garbage collection, copying the WAL into the state file) is
paid at cold-memory prices inside the decision. The consumer knows when it is idle (the queue is
empty right after a decision), and does all of it then, in this order:

- ``Engine.prepare`` joins the columns of any venue whose accounts changed;
- ``policy.screen.prepare_layout`` fills the screen's tables and episode arrays for every current
  layout in the policy's ``ScreenCache`` (the episode arrays again after every step that changed
  the tracks: an alert, a repeat);
- after a mark frame, ``Engine.release`` frees what the frame replaced and ``IdleCollector.idle``
  collects garbage (``monitor.daemon.collector``);
- ``IdleCheckpoint`` checkpoints the state file's WAL (at most every 5 s, only after writes;
  ``monitor.daemon.store``).

All of it is optional: a tick fills whatever is missing itself, and the answers are the same.
"""

from __future__ import annotations

import sqlite3

from monitor.daemon.collector import IdleCollector
from monitor.daemon.engine import Engine
from monitor.daemon.store import IdleCheckpoint
from monitor.logs import get_logger
from monitor.policy import PolicyConfig, PolicyState
from monitor.policy.screen import prepare_layout
from monitor.policy.screen_cache import ScreenCache

log = get_logger(__name__)


class IdleStep:
    """What the daemon runs between decisions (the benchmarks run the same, untimed)."""

    def __init__(
        self,
        engine: Engine,
        cache: ScreenCache,
        checkpoint: IdleCheckpoint | None = None,
        collector: IdleCollector | None = None,
    ) -> None:
        self.engine = engine
        self.cache = cache
        self.checkpoint = checkpoint
        self.collector = collector

    def run(self, state: PolicyState, config: PolicyConfig, *, after_marks: bool) -> None:
        """Prepare the next tick for ``state`` and ``config``; after a mark frame (``after_marks``)
        also free what it replaced and collect garbage; then checkpoint the WAL if due. A failure is
        logged, never raised: the next tick does the same work itself and says why it fails."""
        try:
            self.engine.prepare()
            for layout in self.engine.layouts():
                prepare_layout(self.cache, layout, state, config)
        except Exception:
            log.exception("preparing the next tick failed")
        if after_marks:
            self.engine.release()
            if self.collector is not None:
                self.collector.idle()
        if self.checkpoint is not None:
            try:
                self.checkpoint()
            except sqlite3.Error:
                log.exception("WAL checkpoint failed")  # SQLite's automatic one remains
