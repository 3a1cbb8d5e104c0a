"""The SQLite state file: one database, each component owning its own tables.

Why SQLite: the daemon must survive a restart without forgetting open episodes, undelivered alerts or
orders in flight, and a single file with WAL journaling gives atomic writes with no server to run.
Components register their schema with ``migrate`` and keep their SQL next to their logic
(``policy/episode_store.py``, ``notify/outbox.py``, ``actions/journal.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count
from pathlib import Path
from typing import Any

_savepoints = count()


class StateConnection(sqlite3.Connection):
    """A connection that remembers which schema versions it has seen applied (see ``migrate``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.migrated: set[tuple[str, int]] = set()


def open_db(path: str | Path) -> sqlite3.Connection:
    """Open (creating) the state file with the settings every component relies on.

    ``isolation_level=None`` puts transactions under explicit control (``with transaction(conn)``);
    WAL lets a reader (``monitor status``) look while the daemon writes; ``synchronous=NORMAL`` in WAL
    mode loses at most the last transaction on power loss, never corrupts.
    """
    p = Path(path)
    if str(p) != ":memory:":
        p.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(p), isolation_level=None, check_same_thread=False, factory=StateConnection)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


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

    Writers call this before each write. A connection from ``open_db`` remembers the versions it
    has seen applied (outside a transaction of the caller's, whose rollback could undo them): two
    statements against the file cost a tick's commit about a quarter of its time.
    """
    seen: set[tuple[str, int]] | None = getattr(conn, "migrated", None)
    if seen is not None and (component, len(statements)) in seen:
        return
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    row = conn.execute("SELECT version FROM schema_versions WHERE component = ?", (component,)).fetchone()
    done = int(row["version"]) if row else 0
    if done < len(statements):
        _apply(conn, component, statements, done)
    if seen is not None and not conn.in_transaction:
        seen.add((component, len(statements)))


def _apply(conn: sqlite3.Connection, component: str, statements: list[str], done: int) -> None:
    with transaction(conn):
        for stmt in statements[done:]:
            conn.execute(stmt)
        conn.execute(
            "INSERT INTO schema_versions (component, version) VALUES (?, ?) "
            "ON CONFLICT(component) DO UPDATE SET version = excluded.version",
            (component, len(statements)),
        )
