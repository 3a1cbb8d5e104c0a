"""The SQLite state file: one database, each component owning its own tables.

Why SQLite: the daemon must survive a restart without forgetting open episodes, undelivered alerts or
orders in flight, and a single file with WAL journaling gives atomic writes with no server to run.
Components register their schema with ``migrate`` and keep their SQL next to their logic
(``policy/episode_store.py``, ``notify/outbox.py``, ``actions/journal.py``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path

_savepoints = count()


def open_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating) the state file with the settings every component relies on.

    ``isolation_level=None`` puts transactions under explicit control (``with transaction(conn)``);
    WAL lets a reader (``monitor status``) look while the daemon writes; ``synchronous=NORMAL`` in WAL
    mode loses at most the last transaction on power loss, never corrupts.
    """
    p = Path(path)
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def same_database(a: sqlite3.Connection, b: sqlite3.Connection) -> bool:
    """Whether two connections have the same database file open (two in-memory databases never do)."""
    if a is b:
        return True
    first, second = (_main_file(c) for c in (a, b))
    if not first or not second:
        return False
    try:
        return os.path.samefile(first, second)
    except OSError:
        return first == second


def _main_file(conn: sqlite3.Connection) -> str:
    for row in conn.execute("PRAGMA database_list"):
        if row[1] == "main":
            return str(row[2] or "")
    return ""


class IdleCheckpoint:
    """Copies the WAL into the database file when the caller is idle, not inside a commit.

    Why: under SQLite's automatic checkpoint, the commit that takes the WAL past 1,000 pages copies
    them into the database file before it returns, so every few hundred of the daemon's commits one
    decision paid for it (docs/performance.md). Called when nothing is queued, this checkpoints what
    accumulated since its last run (no more often than ``every_s``), so the WAL restarts small and
    the automatic checkpoint, kept as the backstop for a writer that is never idle, does not fire.

    The write that restarts the WAL syncs its new header (``synchronous=NORMAL`` does that much).
    So when the checkpoint copied everything, that write is made here too: ``user_version``
    rewritten with its own value, which changes nothing else.
    PASSIVE: it never waits for a reader (``monitor status``); what a reader holds is copied next
    time.
    """

    def __init__(
        self, conn: sqlite3.Connection, every_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.conn = conn
        self.every_s = every_s
        self.clock = clock
        self._changes = conn.total_changes
        self._at = clock()

    def __call__(self) -> bool:
        """Checkpoint if anything was written since the last one and ``every_s`` has passed; returns
        whether it did."""
        now = self.clock()
        changes = self.conn.total_changes
        if changes == self._changes or now - self._at < self.every_s or self.conn.in_transaction:
            return False
        busy, frames, copied = self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if not busy and frames > 0 and copied == frames:
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            self.conn.execute(f"PRAGMA user_version = {version}")
        self._changes, self._at = self.conn.total_changes, now
        return True


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All-or-nothing block. Starts ``BEGIN IMMEDIATE`` (so the write lock is taken up front and a
    concurrent writer waits on ``busy_timeout`` instead of failing half-way), or nests as a savepoint
    when the connection is already inside someone else's transaction, so the caller's rollback undoes
    it too."""
    if conn.in_transaction:
        name = f"sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            conn.execute(f"ROLLBACK TO {name}")
            conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(conn: sqlite3.Connection, component: str, statements: list[str]) -> None:
    """Apply ``statements`` once per component version: re-running is a no-op.

    Each component passes its full ordered list of DDL statements; the ones already applied (counted in
    ``schema_versions``) are skipped, so adding a statement at the end is a migration.

    Writers call this before each write: two statements when nothing is to be applied.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    done = int(row["version"]) if row else 0
    if done < len(statements):
        _apply(conn, component, statements, done)


def _apply(conn: sqlite3.Connection, component: str, statements: list[str], done: int) -> None:
    with transaction(conn):
        for stmt in statements[done:]:
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (component, len(statements)),
        )
