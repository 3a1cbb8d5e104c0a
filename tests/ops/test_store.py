"""The state file's schema versions (``monitor.store.migrate``): applied once, remembered by the
connection only once they cannot be rolled back."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.store import migrate, open_db, transaction

SCHEMA = ["CREATE TABLE things (id INTEGER PRIMARY KEY)"]


def statements_run(conn: object, fn: object) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)  # type: ignore[attr-defined]
    fn()  # type: ignore[operator]
    conn.set_trace_callback(None)  # type: ignore[attr-defined]
    return seen


def test_a_version_applied_is_not_asked_for_again_and_a_new_one_is_applied(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.sqlite3")
    assert statements_run(conn, lambda: migrate(conn, "things", SCHEMA))  # created
    assert statements_run(conn, lambda: migrate(conn, "things", SCHEMA)) == []  # remembered
    grown = [*SCHEMA, "CREATE TABLE more (id INTEGER PRIMARY KEY)"]
    migrate(conn, "things", grown)
    conn.execute("INSERT INTO more (id) VALUES (1)")
    other = open_db(tmp_path / "state.sqlite3")  # another connection asks the file
    ran = statements_run(other, lambda: migrate(other, "things", grown))
    assert ran and not any(s.startswith("CREATE TABLE more") for s in ran)


def test_a_version_applied_inside_a_rolled_back_transaction_is_applied_again(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.sqlite3")
    with pytest.raises(RuntimeError), transaction(conn):
        migrate(conn, "things", SCHEMA)
        raise RuntimeError("the caller's step failed")
    migrate(conn, "things", SCHEMA)
    conn.execute("INSERT INTO things (id) VALUES (1)")  # the table exists
