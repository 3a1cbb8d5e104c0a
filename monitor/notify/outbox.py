"""The SQLite outbox between the policy and Telegram: nothing is lost, a duplicate says it may be one.

Two tables:

- ``notify_outbox_alerts``: one row per (``enqueue`` call, chat, alert). While a row is ``pending`` it
  has not been turned into text yet, so a newer alert of the same key can still fold it.
- ``notify_outbox_parts``: the rendered message parts of one (batch, chat) once the sender picked it.
  A part is ``pending`` until ``sendMessage`` returns, then ``sent`` (with the Telegram message id), or
  ``failed`` after a request Telegram refused (BadRequest, Forbidden): those are never retried blindly.

Delivery semantics, precisely:

- The daemon writes a decision's alerts here in the transaction that records the decision
  (``enqueue(into=...)``): a crash keeps both or neither, so no alert is ever recorded as said
  without its message.
- A part is marked ``in_flight`` (``begin_send``) before each request and ``sent`` in the first
  statement after ``sendMessage`` returns (an autocommitted UPDATE, no ``await`` in between). A part
  found in flight, or whose send timed out after the request may have reached Telegram, is
  *uncertain*: the Bot API has no idempotency key and no way to ask "did you get it", so there is
  nothing to check. The part stays materialised and is sent again with a visible "resent, may be a
  duplicate" line. That is at-least-once, with every possible second copy flagged, chosen because a
  lost liquidation warning costs more than a duplicate one.
- If the first part of a message certainly did not reach Telegram (connection refused, 502, 429), the
  message is *released*: its parts are deleted and its alerts go back to ``pending``, so alerts that
  arrive during an outage can still fold it and the message is re-rendered on recovery.

Ordering when several messages wait (after an outage, or behind the per-chat pacing): lane first
(critical, danger, the rest), then parts of messages already under way, then the *newest* batch first,
so the current state of every episode arrives before its history. Within one subject (an alert key in
one chat) the order is the order of the decisions: a message never arrives older than one already
sent about its subject. A batch that shares a subject with an older message still under way (a part
to resend, the rest of a split message) waits for it, and that message goes in the batch's lane.

Folding: a pending ``repeated`` alert is folded as soon as a newer alert of the same key is enqueued for
the same chat (or, if its message was out at the time, when the message is released), so at most the
latest repeat of a key survives. When a message is rendered, every older alert still pending about its
subjects is folded too (an opening superseded by the escalation or the close rendered first): sent
after it, it would be a stale level.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.alerts import Alert, AlertKind, Level, Transition
from monitor.daemon import crashpoints
from monitor.daemon.store import migrate, same_database, transaction
from monitor.notify.render import effective_level
from monitor.notify.routing import lane_for

SCHEMA = [
    """CREATE TABLE notify_outbox_batches (
        batch INTEGER PRIMARY KEY AUTOINCREMENT,
        created_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE notify_outbox_alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        alert_key TEXT NOT NULL,
        level INTEGER NOT NULL,
        transition TEXT NOT NULL,
        alert_json TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'rendered', 'folded')),
        created_ms INTEGER NOT NULL,
        folded_by INTEGER
    )""",
    "CREATE INDEX notify_outbox_alerts_state ON notify_outbox_alerts (state, chat_id, alert_key)",
    "CREATE INDEX notify_outbox_alerts_batch ON notify_outbox_alerts (batch, chat_id)",
    """CREATE TABLE notify_outbox_parts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        batch INTEGER NOT NULL,
        chat_id INTEGER NOT NULL,
        lane INTEGER NOT NULL,
        part_index INTEGER NOT NULL,
        part_count INTEGER NOT NULL,
        text TEXT NOT NULL,
        reply_markup TEXT,
        silent INTEGER NOT NULL,
        tokens TEXT NOT NULL DEFAULT '[]',
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
        uncertain INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id INTEGER,
        last_error TEXT,
        created_ms INTEGER NOT NULL,
        sent_ms INTEGER,
        UNIQUE (batch, chat_id, part_index)
    )""",
    "CREATE INDEX notify_outbox_parts_state ON notify_outbox_parts (state, chat_id)",
    # 1 from just before a send until its outcome is recorded: a part found so after a crash may
    # have reached Telegram, and is resent flagged like an ``uncertain`` one
    "ALTER TABLE notify_outbox_parts ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 0",
]


# --- alert (de)serialisation ----------------------------------------------------------------------


def alert_to_json(alert: Alert) -> str:
    return json.dumps(
        {
            "key": alert.key,
            "kind": alert.kind.value,
            "level": int(alert.level),
            "transition": alert.transition.value,
            "venue": alert.venue,
            "account": alert.account,
            "message": alert.message,
            "ts_ms": alert.ts_ms,
            "symbol": alert.symbol,
            "position_side": alert.position_side,
            "margin_mode": alert.margin_mode,
            "episode_id": alert.episode_id,
            "previous_level": None if alert.previous_level is None else int(alert.previous_level),
            "facts": dict(alert.facts),
        },
        separators=(",", ":"),
    )


def alert_from_json(text: str) -> Alert:
    d: dict[str, Any] = json.loads(text)
    prev = d.get("previous_level")
    return Alert(
        key=d["key"],
        kind=AlertKind(d["kind"]),
        level=Level(d["level"]),
        transition=Transition(d["transition"]),
        venue=d["venue"],
        account=d["account"],
        message=d["message"],
        ts_ms=int(d["ts_ms"]),
        symbol=d.get("symbol"),
        position_side=d.get("position_side"),
        margin_mode=d.get("margin_mode"),
        episode_id=d.get("episode_id"),
        previous_level=None if prev is None else Level(prev),
        facts=d.get("facts") or {},
    )


# --- values -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """Alerts of one ``enqueue`` for one chat, not rendered yet."""

    batch: int
    chat_id: int
    lane: int
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class Part:
    """One rendered message part waiting to be (re)sent."""

    id: int
    batch: int
    chat_id: int
    lane: int
    index: int
    count: int
    text: str
    reply_markup: str | None
    silent: bool
    uncertain: bool
    attempts: int
    tokens: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NewPart:
    text: str
    reply_markup: str | None = None


Candidate = Part | PendingBatch


# the newer alerts of a row's chat and key, for a correlated subquery on ``notify_outbox_alerts``
_NEWER = (
    "FROM notify_outbox_alerts AS newer WHERE newer.chat_id = notify_outbox_alerts.chat_id "
    "AND newer.alert_key = notify_outbox_alerts.alert_key AND newer.id > notify_outbox_alerts.id"
)
_FOLD_RELEASED = (
    f"UPDATE notify_outbox_alerts SET state = 'folded', folded_by = (SELECT MAX(newer.id) {_NEWER}) "
    f"WHERE batch = ? AND chat_id = ? AND state = 'pending' AND transition = ? AND EXISTS (SELECT 1 {_NEWER})"
)
"""Folds a released message's repeats that a newer alert of their key superseded while it was out."""

_FOLD_SUPERSEDED = (
    "UPDATE notify_outbox_alerts SET state = 'folded', folded_by = (SELECT MAX(newer.id) "
    "FROM notify_outbox_alerts AS newer WHERE newer.batch = :batch AND newer.chat_id = :chat "
    "AND newer.alert_key = notify_outbox_alerts.alert_key AND newer.state = 'rendered') "
    "WHERE chat_id = :chat AND state = 'pending' AND batch < :batch AND alert_key IN "
    "(SELECT alert_key FROM notify_outbox_alerts WHERE batch = :batch AND chat_id = :chat "
    "AND state = 'rendered')"
)
"""Folds the older alerts still waiting about the subjects of a message being rendered: sent after it,
they would leave the chat's last word about their subject older than one already said."""

_UNDER_WAY_SUBJECTS = (
    "SELECT DISTINCT a.chat_id, a.batch, a.alert_key FROM notify_outbox_alerts AS a "
    "JOIN notify_outbox_parts AS p ON p.batch = a.batch AND p.chat_id = a.chat_id "
    "WHERE p.state = 'pending' AND a.state = 'rendered'"
)
"""The subjects of every message rendered and not yet wholly sent, per chat and batch."""


class Outbox:
    """Persistent queue of Telegram messages. Synchronous on purpose: every call is one short SQLite
    transaction, and a state change must be durable before the caller's next ``await``."""

    def __init__(self, conn: sqlite3.Connection, *, clock_ms: Callable[[], int] | None = None) -> None:
        self._conn = conn
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self._shared: tuple[sqlite3.Connection, bool] | None = None
        migrate(conn, "notify_outbox", SCHEMA)

    # --- producer side ---

    def enqueue(
        self, routed: Mapping[int, Sequence[Alert]], *, into: sqlite3.Connection | None = None
    ) -> int | None:
        """Persist one evaluation's alerts, already routed per chat; fold stale repeats. Returns the batch
        id, or None when no chat gets anything.

        ``into``: write on that connection instead, inside the transaction its caller has open (the
        daemon's decision, so that the decision and its messages commit together). It must be a
        connection to this outbox's database (``shares_database``)."""
        if not any(routed.values()):
            return None
        now = self._clock_ms()
        with transaction(into or self._conn) as c:
            batch = c.execute("INSERT INTO notify_outbox_batches (created_ms) VALUES (?)", (now,)).lastrowid
            assert batch is not None
            for chat_id, alerts in routed.items():
                for alert in alerts:
                    row = c.execute(
                        "INSERT INTO notify_outbox_alerts (batch, chat_id, alert_key, level, transition, "
                        "alert_json, state, created_ms) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
                        (
                            batch,
                            chat_id,
                            alert.key,
                            int(effective_level(alert)),
                            alert.transition.value,
                            alert_to_json(alert),
                            now,
                        ),
                    ).lastrowid
                    c.execute(
                        "UPDATE notify_outbox_alerts SET state = 'folded', folded_by = ? "
                        "WHERE chat_id = ? AND alert_key = ? AND transition = ? AND state = 'pending' "
                        "AND id < ?",
                        (row, chat_id, alert.key, Transition.REPEATED.value, row),
                    )
        return int(batch)

    def shares_database(self, conn: sqlite3.Connection) -> bool:
        """Whether ``conn`` is open on this outbox's database file (so ``enqueue(into=conn)`` works)."""
        if conn is self._conn:
            return True
        if self._shared is None or self._shared[0] is not conn:
            self._shared = (conn, same_database(conn, self._conn))
        return self._shared[1]

    # --- sender side ---

    def next_candidate(self, exclude_chats: Collection[int] = ()) -> Candidate | None:
        """The most urgent thing to send to a chat not in ``exclude_chats`` (see the module docstring).

        A batch that shares a subject with an older message still under way in its chat waits for that
        message, which is sent in the waiting batch's lane if that is more urgent than its own: a
        subject's messages leave in the order they were decided."""
        parts = [
            _part(r)
            for r in self._conn.execute("SELECT * FROM notify_outbox_parts WHERE state = 'pending'")
            if r["chat_id"] not in exclude_chats
        ]
        lanes: dict[tuple[int, int], int] = {}
        for p in parts:
            lanes[(p.chat_id, p.batch)] = min(p.lane, lanes.get((p.chat_id, p.batch), p.lane))
        under_way: dict[tuple[int, int], set[str]] = {}
        if parts:
            for r in self._conn.execute(_UNDER_WAY_SUBJECTS):
                under_way.setdefault((int(r["chat_id"]), int(r["batch"])), set()).add(str(r["alert_key"]))
        waiting: dict[tuple[int, int], tuple[int, set[str]]] = {}
        for r in self._conn.execute(
            "SELECT chat_id, batch, alert_key, level FROM notify_outbox_alerts WHERE state = 'pending'"
        ):
            if r["chat_id"] in exclude_chats:
                continue
            message = (int(r["chat_id"]), int(r["batch"]))
            level, subjects = waiting.get(message, (0, set()))
            subjects.add(str(r["alert_key"]))
            waiting[message] = (max(level, int(r["level"])), subjects)
        best_key: tuple[int, int, int, int] | None = None
        best: Part | tuple[int, int, int] | None = None
        for (chat_id, batch), (level, subjects) in waiting.items():
            lane = lane_for(Level(level))
            blockers = [
                m
                for m, under in under_way.items()
                if m[0] == chat_id and m[1] < batch and m in lanes and not under.isdisjoint(subjects)
            ]
            for m in blockers:
                lanes[m] = min(lanes[m], lane)
            if blockers:
                continue
            key = (lane, 1, -batch, 0)
            if best_key is None or key < best_key:
                best_key, best = key, (batch, chat_id, lane)
        for p in parts:
            key = (lanes[(p.chat_id, p.batch)], 0, -p.batch, p.index)
            if best_key is None or key < best_key:
                best_key, best = key, p
        if best is None or isinstance(best, Part):
            return best
        batch, chat_id, lane = best
        rows = self._conn.execute(
            "SELECT alert_json FROM notify_outbox_alerts "
            "WHERE batch = ? AND chat_id = ? AND state = 'pending' ORDER BY id",
            (batch, chat_id),
        ).fetchall()
        return PendingBatch(batch, chat_id, lane, tuple(alert_from_json(r["alert_json"]) for r in rows))

    def materialize(
        self, batch: PendingBatch, parts: Sequence[NewPart], *, silent: bool, tokens: Sequence[str] = ()
    ) -> Part:
        """Freeze a batch's text: store its parts and mark its alerts rendered. Returns the first part."""
        if not parts:
            raise ValueError("a message needs at least one part")
        now = self._clock_ms()
        with transaction(self._conn) as c:
            for i, p in enumerate(parts):
                c.execute(
                    "INSERT INTO notify_outbox_parts (batch, chat_id, lane, part_index, part_count, text, "
                    "reply_markup, silent, tokens, state, created_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (
                        batch.batch,
                        batch.chat_id,
                        batch.lane,
                        i,
                        len(parts),
                        p.text,
                        p.reply_markup,
                        int(silent),
                        json.dumps(list(tokens) if i == len(parts) - 1 else []),
                        now,
                    ),
                )
            c.execute(
                "UPDATE notify_outbox_alerts SET state = 'rendered' "
                "WHERE batch = ? AND chat_id = ? AND state = 'pending'",
                (batch.batch, batch.chat_id),
            )
            # what this message says about its subjects supersedes anything older still waiting
            c.execute(_FOLD_SUPERSEDED, {"batch": batch.batch, "chat": batch.chat_id})
        row = self._conn.execute(
            "SELECT * FROM notify_outbox_parts WHERE batch = ? AND chat_id = ? AND part_index = 0",
            (batch.batch, batch.chat_id),
        ).fetchone()
        crashpoints.reached(crashpoints.RENDERED)
        return _part(row)

    def begin_send(self, part_id: int) -> None:
        """Record that a send of the part starts now, before the request leaves: if the process dies
        before its outcome is recorded, the part may have reached Telegram, and its next send says so.
        An earlier attempt that ended the same way (a crash, an error nothing recorded) is kept as
        ``uncertain``."""
        self._conn.execute(
            "UPDATE notify_outbox_parts SET uncertain = MAX(uncertain, in_flight), in_flight = 1 "
            "WHERE id = ?",
            (part_id,),
        )
        crashpoints.reached(crashpoints.IN_FLIGHT)

    def mark_sent(self, part_id: int, message_id: int) -> None:
        crashpoints.reached(crashpoints.ANSWERED)
        self._conn.execute(
            "UPDATE notify_outbox_parts SET state = 'sent', message_id = ?, sent_ms = ?, in_flight = 0, "
            "attempts = attempts + 1 WHERE id = ?",
            (message_id, self._clock_ms(), part_id),
        )

    def mark_failed(self, part_id: int, error: str) -> None:
        self._conn.execute(
            "UPDATE notify_outbox_parts SET state = 'failed', last_error = ?, in_flight = 0, "
            "attempts = attempts + 1 WHERE id = ?",
            (error[:500], part_id),
        )

    def mark_uncertain(self, part_id: int, error: str) -> None:
        """The request may have reached Telegram: keep the part, resend it flagged as a possible duplicate."""
        self._conn.execute(
            "UPDATE notify_outbox_parts SET uncertain = 1, in_flight = 0, last_error = ?, "
            "attempts = attempts + 1 WHERE id = ?",
            (error[:500], part_id),
        )

    def release(self, part: Part, error: str) -> tuple[str, ...]:
        """The part certainly did not reach Telegram. If nothing of its message has been (or may have
        been) delivered, un-render the message so its alerts can still be folded and re-rendered; return
        the button tokens that went with it. Otherwise keep the part pending for a retry."""
        with transaction(self._conn) as c:
            # this attempt certainly failed; an earlier one, or another part's, may have arrived
            delivered = c.execute(
                "SELECT COUNT(*) FROM notify_outbox_parts WHERE batch = ? AND chat_id = ? "
                "AND (state != 'pending' OR uncertain = 1 OR (in_flight = 1 AND id != ?))",
                (part.batch, part.chat_id, part.id),
            ).fetchone()[0]
            if delivered:
                c.execute(
                    "UPDATE notify_outbox_parts SET attempts = attempts + 1, in_flight = 0, last_error = ? "
                    "WHERE id = ?",
                    (error[:500], part.id),
                )
                return ()
            tokens: list[str] = []
            for r in c.execute(
                "SELECT tokens FROM notify_outbox_parts WHERE batch = ? AND chat_id = ?",
                (part.batch, part.chat_id),
            ):
                tokens.extend(json.loads(r["tokens"]))
            c.execute(
                "DELETE FROM notify_outbox_parts WHERE batch = ? AND chat_id = ?", (part.batch, part.chat_id)
            )
            c.execute(
                "UPDATE notify_outbox_alerts SET state = 'pending' "
                "WHERE batch = ? AND chat_id = ? AND state = 'rendered'",
                (part.batch, part.chat_id),
            )
            # a newer alert of the same key enqueued while this message was out could not fold its
            # repeats then (they were rendered): fold them now, as ``enqueue`` would have
            c.execute(_FOLD_RELEASED, (part.batch, part.chat_id, Transition.REPEATED.value))
        return tuple(tokens)

    # --- inspection and housekeeping ---

    def pending_count(self) -> int:
        """Messages (parts, or batches not rendered yet) still to deliver."""
        parts = self._conn.execute(
            "SELECT COUNT(*) FROM notify_outbox_parts WHERE state = 'pending'"
        ).fetchone()[0]
        batches = self._conn.execute(
            "SELECT COUNT(*) FROM (SELECT 1 FROM notify_outbox_alerts WHERE state = 'pending' "
            "GROUP BY batch, chat_id)"
        ).fetchone()[0]
        return int(parts) + int(batches)

    def counts(self) -> dict[str, int]:
        """Row counts by table and state, e.g. ``{"parts.sent": 3, "alerts.folded": 2}``."""
        out: dict[str, int] = {}
        for table, name in (("notify_outbox_parts", "parts"), ("notify_outbox_alerts", "alerts")):
            for r in self._conn.execute(f"SELECT state, COUNT(*) AS n FROM {table} GROUP BY state"):
                out[f"{name}.{r['state']}"] = int(r["n"])
        return out

    def purge(self, older_than_ms: int) -> None:
        """Forget delivered, failed and folded rows created before ``older_than_ms``."""
        with transaction(self._conn) as c:
            c.execute(
                "DELETE FROM notify_outbox_parts WHERE state IN ('sent', 'failed') AND created_ms < ?",
                (older_than_ms,),
            )
            c.execute(
                "DELETE FROM notify_outbox_alerts WHERE state IN ('rendered', 'folded') AND created_ms < ? "
                "AND NOT EXISTS (SELECT 1 FROM notify_outbox_parts p "
                "WHERE p.batch = notify_outbox_alerts.batch AND p.chat_id = notify_outbox_alerts.chat_id "
                "AND p.state = 'pending')",
                (older_than_ms,),
            )
            c.execute(
                "DELETE FROM notify_outbox_batches WHERE created_ms < ? AND NOT EXISTS "
                "(SELECT 1 FROM notify_outbox_alerts a WHERE a.batch = notify_outbox_batches.batch)",
                (older_than_ms,),
            )


def _part(r: sqlite3.Row) -> Part:
    return Part(
        id=int(r["id"]),
        batch=int(r["batch"]),
        chat_id=int(r["chat_id"]),
        lane=int(r["lane"]),
        index=int(r["part_index"]),
        count=int(r["part_count"]),
        text=str(r["text"]),
        reply_markup=r["reply_markup"],
        silent=bool(r["silent"]),
        uncertain=bool(r["uncertain"] or r["in_flight"]),
        attempts=int(r["attempts"]),
        tokens=tuple(json.loads(r["tokens"])),
    )
