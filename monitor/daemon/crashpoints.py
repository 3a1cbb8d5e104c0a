"""Named points on the alert path where a test can make the process die as ``kill -9`` would.

Why: what a crash between two steps costs (a lost alert, a silent duplicate) cannot be seen from
outside, because no outside observer can stop the process at the right instruction. So each step
between a decision and its message reaching Telegram is named here, and a test starts ``monitor run``
with ``MONITOR_CRASH_AT=<name>``: the first time the process reaches that point it sends itself
SIGKILL (no cleanup, no flush, no ``finally``: what the OOM killer or a power cut leaves behind), then
the test starts it again and counts what Telegram received.

Unarmed (the variable unset, as in production), a point costs one comparison of two strings.
"""

from __future__ import annotations

import os
import signal

ENV = "MONITOR_CRASH_AT"

STATE_WRITTEN = "decision:state-written"
"""The policy's rows for a decision are written; its outbox rows are not."""
COMMITTED = "decision:committed"
"""The decision is committed; nothing of it has been sent."""
RENDERED = "outbox:rendered"
"""A message's text is frozen in the outbox; no attempt to send it has started."""
IN_FLIGHT = "outbox:in-flight"
"""A message is marked as being sent; the request has not left."""
ANSWERED = "outbox:answered"
"""The Bot API accepted a message and answered; the outbox has not recorded it as sent."""

POINTS = (STATE_WRITTEN, COMMITTED, RENDERED, IN_FLIGHT, ANSWERED)

_armed = os.environ.get(ENV, "")


def reached(point: str) -> None:
    """Die here, at once and without cleanup, if ``point`` is the armed one."""
    if point == _armed:
        os.kill(os.getpid(), signal.SIGKILL)
