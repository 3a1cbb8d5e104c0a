"""The gateway's memory in SQLite: the trading state and one row per action, written before it is sent.

Why a journal and not a log line: the daemon can die between deciding and sending, or between sending
and hearing back. A row in state ``sending`` that exists *before* the request leaves is what lets the
next start ask the exchange "did this client order id ever arrive?" instead of guessing, and is also
what the caps count (cool-down, actions per hour, rejects in a window), so they survive a restart too.

Rows hold what was decided and what came back, never credentials; error details are scrubbed before
they get here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

from monitor.daemon.store import migrate, transaction


class TradingState(StrEnum):
    """``active``: every action allowed. ``reducing``: orders that reduce positions only, no margin
    transfers (they move risk between pools rather than remove it). ``halted``: nothing, until a
    person resumes."""

    ACTIVE = "active"
    REDUCING = "reducing"
    HALTED = "halted"


class EntryState(StrEnum):
    DRY_RUN = "dry_run"  # what would have been sent; nothing was
    SENDING = "sending"  # journaled, request (maybe) on its way; resolved by look-up
    FILLED = "filled"
    PARTIAL = "partial"
    DONE = "done"  # a margin transfer the exchange accepted
    REJECTED = "rejected"  # the exchange said no
    NOT_SENT = "not_sent"  # an error, then proof that nothing was executed
    ABANDONED = "abandoned"  # found "sending" at start, proved never executed
    UNKNOWN = "unknown"  # no proof either way: the gateway halts


# What counts as "an action happened" for the cool-down and the hourly cap. A rejected order is a try
# on that leg too (retrying it every tick would only collect rejects); the failures are what halts.
ACTED = (
    EntryState.DRY_RUN,
    EntryState.SENDING,
    EntryState.FILLED,
    EntryState.PARTIAL,
    EntryState.DONE,
    EntryState.UNKNOWN,
)
TRIED = (*ACTED, EntryState.REJECTED, EntryState.NOT_SENT)
FAILED = (EntryState.REJECTED, EntryState.NOT_SENT)

SCHEMA = [
    """CREATE TABLE derisk_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        state TEXT NOT NULL,
        reason TEXT NOT NULL,
        changed_ms INTEGER NOT NULL,
        changed_by TEXT NOT NULL
    )""",
    """CREATE TABLE derisk_journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        account TEXT NOT NULL,
        venue TEXT NOT NULL,
        symbol TEXT NOT NULL,
        position_side TEXT NOT NULL,
        kind TEXT NOT NULL,
        side TEXT,
        amount REAL NOT NULL,
        size_before REAL NOT NULL,
        wallet_before REAL,
        origin TEXT NOT NULL,
        by_user INTEGER,
        state TEXT NOT NULL,
        filled REAL NOT NULL DEFAULT 0,
        average_price REAL,
        detail TEXT NOT NULL DEFAULT '',
        reason TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX derisk_journal_state ON derisk_journal (state)",
    "CREATE INDEX derisk_journal_leg ON derisk_journal (account, symbol, position_side, created_ms)",
    "CREATE INDEX derisk_journal_time ON derisk_journal (created_ms)",
]


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal row. ``kind`` is ``reduce`` or ``add_margin``; ``amount`` contracts or the
    settlement asset; ``size_before``/``wallet_before`` the live position read just before sending,
    which is how an unanswered request is later proved executed or not."""

    id: int
    client_id: str
    created_ms: int
    updated_ms: int
    account: str
    venue: str
    symbol: str
    position_side: str
    kind: str
    side: str | None
    amount: float
    size_before: float
    wallet_before: float | None
    origin: str
    by_user: int | None
    state: EntryState
    filled: float
    average_price: float | None
    detail: str
    reason: str


@dataclass(frozen=True, slots=True)
class StateRecord:
    state: TradingState
    reason: str
    changed_ms: int
    changed_by: str


class Journal:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        migrate(conn, "actions", SCHEMA)

    # --- trading state ----------------------------------------------------------------------------
    def load_state(self) -> StateRecord:
        row = self.conn.execute("SELECT * FROM derisk_state WHERE id = 1").fetchone()
        if row is None:
            return StateRecord(TradingState.ACTIVE, "initial", 0, "system")
        return StateRecord(TradingState(row["state"]), row["reason"], row["changed_ms"], row["changed_by"])

    def save_state(self, record: StateRecord) -> None:
        with self._durable():
            self.conn.execute(
                "INSERT INTO derisk_state (id, state, reason, changed_ms, changed_by) VALUES (1, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET state = excluded.state, reason = excluded.reason, "
                "changed_ms = excluded.changed_ms, changed_by = excluded.changed_by",
                (record.state.value, record.reason, record.changed_ms, record.changed_by),
            )

    # --- entries ----------------------------------------------------------------------------------
    def open(
        self,
        *,
        client_id: str,
        now_ms: int,
        account: str,
        venue: str,
        symbol: str,
        position_side: str,
        kind: str,
        side: str | None,
        amount: float,
        size_before: float,
        wallet_before: float | None,
        origin: str,
        by_user: int | None,
        state: EntryState,
        reason: str,
    ) -> int:
        """Insert a row and make it durable before returning: the caller sends only after this."""
        with self._durable():
            cur = self.conn.execute(
                "INSERT INTO derisk_journal (client_id, created_ms, updated_ms, account, venue, symbol, "
                "position_side, kind, side, amount, size_before, wallet_before, origin, by_user, state, "
                "reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    now_ms,
                    now_ms,
                    account,
                    venue,
                    symbol,
                    position_side,
                    kind,
                    side,
                    amount,
                    size_before,
                    wallet_before,
                    origin,
                    by_user,
                    state.value,
                    reason,
                ),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def finish(
        self,
        entry_id: int,
        state: EntryState,
        now_ms: int,
        *,
        filled: float = 0.0,
        average_price: float | None = None,
        detail: str = "",
    ) -> None:
        with self._durable():
            self.conn.execute(
                "UPDATE derisk_journal SET state = ?, updated_ms = ?, filled = ?, average_price = ?, "
                "detail = ? WHERE id = ?",
                (state.value, now_ms, filled, average_price, detail[:500], entry_id),
            )

    def get(self, entry_id: int) -> Entry:
        row = self.conn.execute("SELECT * FROM derisk_journal WHERE id = ?", (entry_id,)).fetchone()
        if row is None:
            raise KeyError(entry_id)
        return _entry(row)

    def pending(self) -> list[Entry]:
        """Rows whose request may or may not have reached the exchange."""
        rows = self.conn.execute(
            "SELECT * FROM derisk_journal WHERE state = ? ORDER BY id", (EntryState.SENDING.value,)
        )
        return [_entry(r) for r in rows]

    def entries(self, account: str | None = None, limit: int = 100) -> list[Entry]:
        """The latest rows, newest first."""
        if account is None:
            rows = self.conn.execute("SELECT * FROM derisk_journal ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.conn.execute(
                "SELECT * FROM derisk_journal WHERE account = ? ORDER BY id DESC LIMIT ?", (account, limit)
            )
        return [_entry(r) for r in rows]

    def last_try_ms(self, account: str, symbol: str, position_side: str) -> int | None:
        """When this leg was last acted on (or tried): the cool-down's clock."""
        row = self.conn.execute(
            f"SELECT MAX(created_ms) AS t FROM derisk_journal WHERE account = ? AND symbol = ? "
            f"AND position_side = ? AND state IN ({_marks(TRIED)})",
            (account, symbol, position_side, *_values(TRIED)),
        ).fetchone()
        return None if row is None or row["t"] is None else int(row["t"])

    def acted_since(self, account: str, since_ms: int) -> int:
        row = self.conn.execute(
            f"SELECT COUNT(*) AS n FROM derisk_journal WHERE account = ? AND created_ms >= ? "
            f"AND state IN ({_marks(ACTED)})",
            (account, since_ms, *_values(ACTED)),
        ).fetchone()
        return int(row["n"])

    def failures_since(self, since_ms: int) -> int:
        row = self.conn.execute(
            f"SELECT COUNT(*) AS n FROM derisk_journal WHERE updated_ms >= ? AND state IN ({_marks(FAILED)})",
            (since_ms, *_values(FAILED)),
        ).fetchone()
        return int(row["n"])

    @contextmanager
    def _durable(self) -> Iterator[None]:
        """One transaction, synced to disk on commit.

        The state file runs WAL with ``synchronous=NORMAL``, which may lose the last commits on power
        loss. For a row that must exist before an order leaves that is not enough, so these commits
        alone run with ``FULL`` (then the connection's own level is restored). The daemon is
        single-threaded, so nothing else commits in between.
        """
        conn = self.conn
        if conn.in_transaction:
            # a commit inside someone else's transaction would not be a commit: refuse rather than
            # send an order whose row could still be rolled back
            raise RuntimeError("journal write inside another transaction")
        level = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        conn.execute("PRAGMA synchronous=FULL")
        try:
            with transaction(conn):
                yield
        finally:
            conn.execute(f"PRAGMA synchronous={level}")


def _entry(row: sqlite3.Row) -> Entry:
    return Entry(
        id=row["id"],
        client_id=row["client_id"],
        created_ms=row["created_ms"],
        updated_ms=row["updated_ms"],
        account=row["account"],
        venue=row["venue"],
        symbol=row["symbol"],
        position_side=row["position_side"],
        kind=row["kind"],
        side=row["side"],
        amount=row["amount"],
        size_before=row["size_before"],
        wallet_before=row["wallet_before"],
        origin=row["origin"],
        by_user=row["by_user"],
        state=EntryState(row["state"]),
        filled=row["filled"],
        average_price=row["average_price"],
        detail=row["detail"],
        reason=row["reason"],
    )


def _marks(states: Iterable[EntryState]) -> str:
    return ", ".join("?" for _ in states)


def _values(states: Iterable[EntryState]) -> tuple[str, ...]:
    return tuple(s.value for s in states)
