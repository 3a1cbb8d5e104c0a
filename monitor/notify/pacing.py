"""Per-chat pacing and network backoff: the two clocks the sender obeys.

Telegram allows about one message per second per chat, 20 a minute per group and 30 a second
overall, and answers faster senders with 429 and a ``retry_after``. Rather than hitting the limit and
waiting, every send (alerts, command replies, previews, the status message) reserves its chat's next
slot here; a 429 pushes that chat's slot further out. Network errors are not per chat (the API is down
for everyone), so they use one capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable


class ChatPacer:
    """Slots per chat (``interval_s`` for private chats, ``group_interval_s`` for groups: Telegram
    allows about 20 messages a minute in a group) and one global slot (``global_interval_s``: about 30
    messages a second over all chats)."""

    def __init__(
        self,
        interval_s: float,
        *,
        group_interval_s: float | None = None,
        global_interval_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval_s
        self._group_interval = interval_s if group_interval_s is None else group_interval_s
        self._global_interval = global_interval_s
        self._clock = clock
        self._next: dict[int, float] = {}
        self._next_any = 0.0

    def ready_at(self, chat_id: int) -> float:
        return max(self._next.get(chat_id, 0.0), self._next_any)

    def blocked(self) -> dict[int, float]:
        """Chats that may not be sent to yet, with the time they may (the global slot aside)."""
        now = self._clock()
        return {c: t for c, t in self._next.items() if t > now}

    def global_wait(self) -> float:
        """Seconds until any chat may be sent to."""
        return max(0.0, self._next_any - self._clock())

    def reserve(self, chat_id: int) -> None:
        """Take the chat's slot now (the caller checked it is free)."""
        now = self._clock()
        interval = self._group_interval if chat_id < 0 else self._interval
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), now) + interval
        self._next_any = max(self._next_any, now) + self._global_interval

    def block_for(self, chat_id: int, seconds: float) -> None:
        """Telegram said ``retry_after``: nothing goes to this chat before then."""
        self._next[chat_id] = max(self._next.get(chat_id, 0.0), self._clock() + seconds)

    async def acquire(self, chat_id: int) -> None:
        """Wait for the chat's next slot and take it."""
        while True:
            wait = self.ready_at(chat_id) - self._clock()
            if wait <= 0:
                self.reserve(chat_id)
                return
            await asyncio.sleep(wait)


class Backoff:
    """Exponential backoff with a cap and a little jitter (so restarts of many daemons spread out)."""

    def __init__(self, initial_s: float, max_s: float, *, jitter: float = 0.1) -> None:
        self._initial = initial_s
        self._max = max_s
        self._jitter = jitter
        self._current = initial_s

    def next(self) -> float:
        delay = self._current
        self._current = min(self._max, self._current * 2)
        return delay * (1 - self._jitter * random.random())

    def reset(self) -> None:
        self._current = self._initial

    @property
    def max_s(self) -> float:
        return self._max
