"""Keeping under Bitunix's limits on our side: at most ``limit`` sends in any ``window_s``.

Bitunix counts requests per second (10 market reads per IP, 10 account reads and 10 orders per key,
5 margin adjustments) and socket messages per second (5, pings included; more closes the socket).
A sliding window lets a short burst go at once (a login and its subscribe, a resync's two reads)
and makes the rest wait for the oldest send to leave the window. Each limit is set under the
venue's: sends leave in order but may arrive closer together than they left.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """At most ``limit`` sends in any ``window_s`` seconds; each caller waits its turn, in order."""

    def __init__(
        self,
        limit: int,
        window_s: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if limit < 1:
            raise ValueError(f"a pacer needs a limit of at least 1 send: {limit}")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._sleep = sleep
        self._sent: collections.deque[float] = collections.deque()
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self._lock:
            now = self._clock()
            while self._sent and now - self._sent[0] >= self.window_s:
                self._sent.popleft()
            if len(self._sent) >= self.limit:
                await self._sleep(self._sent[0] + self.window_s - now)
                self._sent.popleft()
                now = max(self._clock(), self._sent[-1] if self._sent else now)
            self._sent.append(now)
