"""Faults tests and scenarios can switch on: a stalled mark feed, failing or slow REST calls.

The socket-level faults (drop every connection, send a raw frame, expire a listen key) need the
event loop and live on ``SimExchange`` as coroutines; this object holds the switches that the
request path and the clock consult.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class RestFailure:
    """An injected REST failure: the HTTP status, and the venue's own error code and text, which the
    dialect puts in its error body as they are (a test asks for the code the venue would send)."""

    status: int
    code: int
    msg: str
    remaining: int
    path_prefix: str
    retry_after: int | None


class Faults:
    def __init__(self, sim_time: Callable[[], float]) -> None:
        self._sim_time = sim_time
        self._stall_until: float | None = None
        self._rest_failures: list[RestFailure] = []
        self.rest_delay = 0.0

    # ---- mark feed ----------------------------------------------------------------------------

    def stall_marks(self, seconds: float) -> None:
        """Stop publishing mark prices for ``seconds`` of sim time (the market keeps moving, the
        ledger keeps liquidating, REST keeps answering). With the clock paused the stall lasts until
        ``step()`` moves sim time past it or ``resume_marks()`` is called."""
        if seconds <= 0:
            raise ValueError(f"seconds must be positive, got {seconds}")
        self._stall_until = self._sim_time() + seconds

    def resume_marks(self) -> None:
        self._stall_until = None

    @property
    def marks_stalled(self) -> bool:
        if self._stall_until is None:
            return False
        if self._sim_time() >= self._stall_until:
            self._stall_until = None
            return False
        return True

    # ---- REST ---------------------------------------------------------------------------------

    def fail_rest(
        self,
        *,
        times: int = 1,
        status: int = 503,
        code: int = -1000,
        msg: str = "Unknown error, please check your request or try again later.",
        path_prefix: str = "/",
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` REST requests under ``path_prefix`` with this error instead
        (e.g. ``status=429, code=-1003, retry_after=2`` for a rate limit; the default is Binance's
        503 whose execution status is unknown). Orders are not executed when failed this way."""
        self._rest_failures.append(RestFailure(status, code, msg, times, path_prefix, retry_after))

    def take_rest_failure(self, path: str) -> RestFailure | None:
        for failure in self._rest_failures:
            if path.startswith(failure.path_prefix) and failure.remaining > 0:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._rest_failures.remove(failure)
                return failure
        return None

    def clear(self) -> None:
        self._stall_until = None
        self._rest_failures.clear()
        self.rest_delay = 0.0
