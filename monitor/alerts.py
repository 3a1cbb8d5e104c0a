"""What the policy says to a person: alerts, their levels and how an episode changed.

An ``Alert`` is a value the notifiers render (console, Telegram) and the outbox stores; it carries the
numbers a message needs in ``facts`` so a notifier never has to reach back into the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Level(IntEnum):
    """Ordered severity. ``OK`` is only ever seen on a closing transition."""

    OK = 0
    INFO = 1
    WARN = 2
    DANGER = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class AlertKind(StrEnum):
    RISK = "risk"  # margin ratio / distance level of a position or a cross account
    STALE = "stale"  # a stream stopped delivering
    RECOVERED = "recovered"  # a stale stream delivers again
    DEVIATION = "deviation"  # our liquidation price disagrees with the exchange's
    MARGIN_CALL = "margin_call"  # the exchange's own MARGIN_CALL event
    LIQUIDATION = "liquidation"  # autoclose- order: the exchange liquidated
    ADL = "adl"  # adl_autoclose: auto-deleveraged
    POSITION_OPENED = "position_opened"
    POSITION_FLIPPED = "position_flipped"
    POSITION_CLOSED = "position_closed"
    ACTION = "action"  # a de-risk action was planned, sent, filled or refused
    UNTESTED_VERSION = "untested_version"  # the daemon runs a ccxt outside the range its suite passed with
    STARTUP = "startup"  # the monitor could not start (a key refused, the exchange unreachable)
    BAN = "ban"  # the exchange refuses REST calls for a while (HTTP 418 / 429)


class Transition(StrEnum):
    OPENED = "opened"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    REPEATED = "repeated"
    CLOSED = "closed"
    EVENT = "event"  # a one-off event with no episode


FactValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell the user.

    ``key`` identifies the subject (``risk:main:BTC/USDT:USDT:both``) and is stable across restarts, so
    the outbox can fold stale repeats of one subject. ``episode_id`` ties the alerts of one episode.
    """

    key: str
    kind: AlertKind
    level: Level
    transition: Transition
    venue: str
    account: str
    message: str
    ts_ms: int
    symbol: str | None = None
    position_side: str | None = None
    margin_mode: str | None = None
    episode_id: str | None = None
    previous_level: Level | None = None
    facts: Mapping[str, FactValue] = field(default_factory=dict)
