"""Is the alert channel working? The answer health, ``monitor status`` and the watchdog give about it.

An alert that cannot leave is as bad as a stream that went quiet: the monitor is not doing its job.
So a channel reports its state, and a channel that is not ``ok`` makes the daemon unhealthy:

- ``rejected`` at once when the Bot API refuses the bot itself (the token, HTTP 401) or is not a Bot
  API at all (HTTP 404 from a wrong base URL): nothing will get through until someone fixes the
  configuration, whether or not anything is queued yet;
- ``degraded`` once messages have been waiting ``degraded_after_s`` with none delivered meanwhile
  (Telegram unreachable, answering 5xx): a short outage, or a pause for flood control, is not one;
- ``ok`` otherwise, including an outage while nothing waits to be said.

Pure: the notifier passes what it observed and the time it has been waiting.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ChannelState(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ChannelHealth:
    """One alert channel as health reports it. ``detail`` names the cause when it is not ``ok``."""

    name: str
    state: ChannelState
    pending: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.state is ChannelState.OK


def assess_channel(
    name: str,
    *,
    pending: int,
    rejected: str | None,
    waiting_s: float | None,
    degraded_after_s: float,
    last_error: str | None = None,
) -> ChannelHealth:
    """The channel's state from what its sender saw.

    ``rejected``: why the Bot API refused the bot, if it did since the last success. ``waiting_s``:
    how long messages have been waiting with none delivered (None when nothing waits).
    """
    if rejected is not None:
        return ChannelHealth(name, ChannelState.REJECTED, pending, rejected)
    if pending > 0 and waiting_s is not None and waiting_s >= degraded_after_s:
        detail = f"{pending} message(s) waiting, none delivered for {waiting_s:.0f} s"
        if last_error:
            detail += f" (last error: {last_error})"
        return ChannelHealth(name, ChannelState.DEGRADED, pending, detail)
    return ChannelHealth(name, ChannelState.OK, pending)
