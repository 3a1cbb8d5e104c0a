"""Telling the user, once, that the monitor could not start.

Under systemd a start-up that fails (a key the exchange refuses, an exchange out of reach) is retried
every 10 s for ever. Saying so on every attempt would bury the chat; saying nothing leaves the user
believing they are watched. So the failure is described (which account, what kind of cause: pure,
``describe``), and reported only when that description differs from the last one reported, which the
state file remembers (``StartupReports``). A successful start forgets it, so the next failure is news
again.

The report carries the exchange's own words, shortened, with any registered secret, credential-looking
text and URL query (signatures) removed.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon.store import migrate
from monitor.logs import scrub
from monitor.venues.base import StartError
from monitor.venues.errors import AuthenticationRefused, VenueUnavailable

MAX_DETAIL = 300
_QUERY = re.compile(r"\?\S*")

SCHEMA = [
    """CREATE TABLE startup_reports (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        cause_key TEXT NOT NULL,
        reported_ms INTEGER NOT NULL
    )""",
]


@dataclass(frozen=True, slots=True)
class StartupFailure:
    """Why start-up failed, in words. ``key`` is what makes two failures "the same" for reporting:
    the venue, the account and the kind of cause, not the wording (which carries timestamps)."""

    venue: str
    account: str | None
    cause: str  # e.g. "the exchange rejected the API key"
    error_type: str
    detail: str  # the exchange's words, shortened and scrubbed

    @property
    def key(self) -> str:
        return f"{self.venue}|{self.account or ''}|{self.cause}|{self.error_type}"

    @property
    def subject(self) -> str:
        return f"account {self.account}" if self.account else self.venue

    def alert(self, now_ms: int) -> Alert:
        return Alert(
            key=f"startup:{self.venue}:{self.account or ''}",
            kind=AlertKind.STARTUP,
            level=Level.CRITICAL,
            transition=Transition.EVENT,
            venue=self.venue,
            account=self.account or "",
            message=(
                f"The monitor could not start: {self.subject}: {self.cause} ({self.error_type}: "
                f"{self.detail}). Nothing is watched. Restarts that fail the same way are not "
                "reported again."
            ),
            ts_ms=now_ms,
        )


def describe(exc: BaseException, secrets: Iterable[str | None] = ()) -> StartupFailure:
    """The failure behind ``exc`` (a ``StartError`` names the account; its cause says why)."""
    venue, account = "monitor", None
    cause_exc: BaseException = exc
    if isinstance(exc, StartError):
        venue, account = exc.venue, exc.account
        cause_exc = exc.__cause__ or exc
    if isinstance(cause_exc, AuthenticationRefused):
        cause = "the exchange rejected the API key"
    elif isinstance(cause_exc, VenueUnavailable | OSError | TimeoutError):
        cause = "the exchange is unreachable"
    else:
        cause = "start-up failed"
    text = str(cause_exc)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _QUERY.sub("?…", scrub(text)).strip()
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    return StartupFailure(venue, account, cause, type(cause_exc).__name__, text)


class StartupReports:
    """The last start-up failure reported, in the state file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        migrate(conn, "startup_reports", SCHEMA)

    def last(self) -> str | None:
        row = self._conn.execute("SELECT cause_key FROM startup_reports WHERE id = 1").fetchone()
        return None if row is None else str(row["cause_key"])

    def remember(self, key: str) -> None:
        self._conn.execute(
            "INSERT INTO startup_reports (id, cause_key, reported_ms) VALUES (1, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET cause_key = excluded.cause_key, "
            "reported_ms = excluded.reported_ms",
            (key, int(time.time() * 1000)),
        )

    def forget(self) -> None:
        self._conn.execute("DELETE FROM startup_reports")
