"""Which message is the pinned status message of each chat, so a restart edits it instead of pinning
another one."""

from __future__ import annotations

import sqlite3
import time

from monitor.daemon.store import migrate

SCHEMA = [
    """CREATE TABLE notify_status_pins (
        chat_id INTEGER PRIMARY KEY,
        message_id INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    )""",
]


class StatusPins:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        migrate(conn, "notify_status_pins", SCHEMA)

    def get(self, chat_id: int) -> int | None:
        row = self._conn.execute(
            "SELECT message_id FROM notify_status_pins WHERE chat_id = ?", (chat_id,)
        ).fetchone()
        return None if row is None else int(row["message_id"])

    def set(self, chat_id: int, message_id: int) -> None:
        self._conn.execute(
            "INSERT INTO notify_status_pins (chat_id, message_id, updated_ms) VALUES (?, ?, ?) "
            "ON CONFLICT(chat_id) DO UPDATE SET message_id = excluded.message_id, "
            "updated_ms = excluded.updated_ms",
            (chat_id, message_id, int(time.time() * 1000)),
        )

    def forget(self, chat_id: int) -> None:
        self._conn.execute("DELETE FROM notify_status_pins WHERE chat_id = ?", (chat_id,))
