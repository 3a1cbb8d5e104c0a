"""Alert policy: pure decisions from risk snapshots to alerts.

The engine holds one ``PolicyState`` and replaces it with what each call returns:

- ``evaluate(state, PolicyInputs(risks=changed_accounts, events=exchange_events), now_ms, config)`` on
  every tick, with only the accounts the tick changed;
- ``check_staleness(state, Freshness(streams=..., marks=...), now_ms, config)`` and
  ``due_repeats(state, now_ms, config)`` from a timer, about once a second;
- ``ack``, ``ack_all``, ``mute``, ``unmute``, ``unmute_all`` from user commands;
- ``episode_store.load(conn)`` at start, ``episode_store.save(conn, saved, current)`` after changes.

Nothing here does I/O or reads a clock: time is ``now_ms``, so every behaviour is a unit test.
"""

from monitor.policy.evaluate import PolicyInputs, ack, ack_all, due_repeats, evaluate
from monitor.policy.mutes import is_muted, mute, unmute, unmute_all
from monitor.policy.settings import (
    DeviationConfig,
    LevelThresholds,
    PolicyConfig,
    RepeatSchedule,
    StalenessConfig,
    ThresholdOverride,
)
from monitor.policy.staleness import Freshness, check_staleness
from monitor.policy.state import KnownPosition, PolicyState, Subject, Track

__all__ = [
    "DeviationConfig",
    "Freshness",
    "KnownPosition",
    "LevelThresholds",
    "PolicyConfig",
    "PolicyInputs",
    "PolicyState",
    "RepeatSchedule",
    "StalenessConfig",
    "Subject",
    "ThresholdOverride",
    "Track",
    "ack",
    "ack_all",
    "check_staleness",
    "due_repeats",
    "evaluate",
    "is_muted",
    "mute",
    "unmute",
    "unmute_all",
]
