"""Enum members the per-tick code compares against, bound once as module constants.

On Python 3.11 ``EnumType`` defines ``__getattr__``, so reading a member off its class (``Level.OK``)
takes Python's slow attribute path: about three times the cost of reading a global, and the policy
does it several times per position per tick. These are the very same objects (``OK is Level.OK``), so
every comparison and identity check means what it meant.
"""

from __future__ import annotations

from monitor.alerts import AlertKind, Level, Transition
from monitor.model import MarginMode

OK = Level.OK
INFO = Level.INFO
WARN = Level.WARN
DANGER = Level.DANGER
CRITICAL = Level.CRITICAL

OPENED = Transition.OPENED
REPEATED = Transition.REPEATED
CLOSED = Transition.CLOSED
ESCALATED = Transition.ESCALATED
DEESCALATED = Transition.DEESCALATED

RISK = AlertKind.RISK
DEVIATION = AlertKind.DEVIATION

CROSS = MarginMode.CROSS
