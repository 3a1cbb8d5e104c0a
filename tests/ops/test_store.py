"""The state file's schema versions (``monitor.daemon.store.migrate``): applied once, and again if the
transaction that applied them was rolled back. Its WAL checkpoint (``IdleCheckpoint``): run when
the writer is idle, only when something was written and not too often. Whether two connections
share the file (``same_database``: the daemon writes the outbox's rows on its own connection only if
so)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.daemon.store import IdleCheckpoint, migrate, open_db, same_database, transaction

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
    again = statements_run(conn, lambda: migrate(conn, "things", SCHEMA))
    assert not any(s.startswith(("CREATE TABLE things", "INSERT")) for s in again)  # only asked
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


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def wal_frames(path: Path) -> int:
    """Frames in the WAL since it last restarted (asking checkpoints it, so ask once, at the end)."""
    probe = sqlite3.connect(path)
    try:
        return int(probe.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        probe.close()


def commits(conn: sqlite3.Connection, n: int) -> None:
    migrate(conn, "things", SCHEMA)
    for _ in range(n):
        with transaction(conn):
            conn.execute("INSERT INTO things (id) VALUES (NULL)")


@pytest.mark.parametrize("idle", [True, False])
def test_an_idle_checkpoint_lets_the_wal_restart_small(tmp_path: Path, idle: bool) -> None:
    path = tmp_path / "state.sqlite3"
    conn = open_db(path)
    clock = Clock()
    checkpoint = IdleCheckpoint(conn, every_s=5.0, clock=clock)
    commits(conn, 50)  # a page or more each
    clock.now = 5.0
    if idle:
        assert checkpoint()
    commits(conn, 1)
    frames = wal_frames(path)
    if idle:
        assert frames <= 4  # the one commit after the checkpoint
    else:
        assert frames >= 50  # without it the WAL keeps every commit until SQLite's own mark


def test_an_idle_checkpoint_waits_for_a_write_and_for_its_interval(tmp_path: Path) -> None:
    conn = open_db(tmp_path / "state.sqlite3")
    clock = Clock()
    checkpoint = IdleCheckpoint(conn, every_s=5.0, clock=clock)
    clock.now = 60.0
    assert not checkpoint()  # nothing written
    commits(conn, 1)
    assert checkpoint()
    commits(conn, 1)
    clock.now = 64.0
    assert not checkpoint()  # too soon after the last
    clock.now = 65.0
    assert checkpoint()
    assert not checkpoint()  # nothing new since
    commits(conn, 1)
    clock.now = 70.0
    conn.execute("BEGIN")
    assert not checkpoint()  # never inside a caller's transaction
    conn.execute("ROLLBACK")
    assert checkpoint()


def test_the_idle_checkpoint_restarts_the_wal_itself_and_keeps_the_user_version(tmp_path: Path) -> None:
    """The write that restarts the WAL syncs its header: made while idle, not by the next commit."""
    path = tmp_path / "state.sqlite3"
    conn = open_db(path)
    conn.execute("PRAGMA user_version = 7")
    clock = Clock()
    checkpoint = IdleCheckpoint(conn, every_s=5.0, clock=clock)
    commits(conn, 50)
    clock.now = 5.0
    assert checkpoint()
    assert wal_frames(path) <= 2  # only the restarting write: the 50 commits' frames were reused
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 7


def test_two_connections_share_a_database_only_when_they_open_the_same_file(tmp_path: Path) -> None:
    a, b = open_db(tmp_path / "state.sqlite3"), open_db(tmp_path / "state.sqlite3")
    (tmp_path / "link.sqlite3").symlink_to(tmp_path / "state.sqlite3")
    via_link = open_db(tmp_path / "link.sqlite3")
    other = open_db(tmp_path / "other.sqlite3")
    memory, memory2 = open_db(":memory:"), open_db(":memory:")
    assert same_database(a, b) and same_database(a, via_link)
    assert not same_database(a, other)
    assert not same_database(memory, memory2) and not same_database(a, memory)
    assert same_database(memory, memory)
