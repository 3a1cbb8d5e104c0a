"""A transaction helper for the notifier's tables (the state file may be shared with other components)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import count

_savepoints = count()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All-or-nothing block. Starts ``BEGIN IMMEDIATE`` (so the write lock is taken up front and a
    concurrent writer waits on ``busy_timeout`` instead of failing half-way), or nests as a savepoint
    when the connection is already inside someone else's transaction."""
    if conn.in_transaction:
        name = f"notify_sp{next(_savepoints)}"
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
