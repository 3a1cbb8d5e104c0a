"""The policy state in SQLite, so that a restart neither forgets nor repeats.

``load`` rebuilds the exact ``PolicyState`` last saved: open episodes with their level, episode id,
repeat clock and acknowledgement, pending confirmation streaks, known positions (so the first tick
after a restart announces nothing already known), mutes, event ids already alerted, and the episode
sequence. ``save(conn, old, new)`` writes only what differs between two states, in one transaction,
so the shell can save after every step or batch steps and save the difference since its last save.

A track's facts (its numbers as of the latest evaluation, ``monitor.policy.facts.live_facts``) are
written whenever the rest of the track changes, not on every tick; after a restart a timer repeat
may quote numbers a little older than the last tick, until the next tick refreshes them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

from monitor.alerts import AlertKind, Level
from monitor.daemon.store import migrate, transaction
from monitor.model import MarginMode, PositionSide, Side
from monitor.policy.facts import live_facts
from monitor.policy.state import (
    Evaluation,
    Facts,
    KnownPosition,
    MuteScope,
    PolicyState,
    PositionKey,
    Subject,
    Track,
    materialised,
)

COMPONENT = "policy"

SCHEMA = [
    """CREATE TABLE policy_tracks (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        level INTEGER NOT NULL,
        episode_id TEXT,
        opened_ms INTEGER NOT NULL,
        changed_ms INTEGER NOT NULL,
        last_alert_ms INTEGER NOT NULL,
        acked_ms INTEGER,
        streak TEXT NOT NULL,
        venue TEXT NOT NULL,
        account TEXT NOT NULL,
        symbol TEXT,
        position_side TEXT,
        margin_mode TEXT,
        side TEXT,
        stream TEXT,
        facts TEXT NOT NULL
    )""",
    "CREATE INDEX policy_tracks_episode ON policy_tracks (episode_id)",
    """CREATE TABLE policy_accounts (
        account TEXT PRIMARY KEY
    )""",
    """CREATE TABLE policy_positions (
        account TEXT NOT NULL REFERENCES policy_accounts (account) ON DELETE CASCADE,
        symbol TEXT NOT NULL,
        position_side TEXT NOT NULL,
        side TEXT NOT NULL,
        margin_mode TEXT NOT NULL,
        PRIMARY KEY (account, symbol, position_side)
    )""",
    # ``scope`` is the JSON of [account, symbol] with null wildcards: SQLite primary keys treat NULLs as
    # distinct, so nullable columns could not keep one row per scope.
    """CREATE TABLE policy_mutes (
        scope TEXT PRIMARY KEY,
        account TEXT,
        symbol TEXT,
        until_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE policy_seen_events (
        event_id TEXT PRIMARY KEY,
        seen_ms INTEGER NOT NULL
    )""",
    """CREATE TABLE policy_meta (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    )""",
]


def ensure_schema(conn: sqlite3.Connection) -> None:
    migrate(conn, COMPONENT, SCHEMA)


def load(conn: sqlite3.Connection) -> PolicyState:
    """The state last saved (an empty state on a new file)."""
    ensure_schema(conn)
    tracks = {row["key"]: _track(row) for row in conn.execute("SELECT * FROM policy_tracks")}
    positions: dict[str, dict[PositionKey, KnownPosition]] = {
        row["account"]: {} for row in conn.execute("SELECT account FROM policy_accounts")
    }
    for row in conn.execute("SELECT * FROM policy_positions"):
        key = (row["symbol"], PositionSide(row["position_side"]))
        positions[row["account"]][key] = KnownPosition(Side(row["side"]), MarginMode(row["margin_mode"]))
    mutes: dict[MuteScope, int] = {
        (row["account"], row["symbol"]): int(row["until_ms"])
        for row in conn.execute("SELECT account, symbol, until_ms FROM policy_mutes")
    }
    seen = {
        row["event_id"]: int(row["seen_ms"])
        for row in conn.execute("SELECT event_id, seen_ms FROM policy_seen_events")
    }
    row = conn.execute("SELECT value FROM policy_meta WHERE name = 'seq'").fetchone()
    seq = int(row["value"]) if row else 0
    return PolicyState(tracks=tracks, positions=positions, mutes=mutes, seen_events=seen, seq=seq)


def save(conn: sqlite3.Connection, old: PolicyState, new: PolicyState) -> bool:
    """Write the difference from ``old`` (what the file holds) to ``new``, atomically. Returns whether
    anything was written.

    The difference is planned before any SQL runs, so a step that only refreshed the numbers of open
    episodes (facts are not a change, see the module docstring) costs no transaction at all. Joins the
    caller's transaction if one is open on ``conn``, so the policy's writes can commit together with,
    say, the outbox rows of the alerts the same step produced (``plan`` and ``write`` are the two
    halves, for a caller that decides whether it needs a transaction at all).
    """
    changes = plan(old, new)
    if not changes:
        return False
    write(conn, changes)
    return True


def plan(old: PolicyState, new: PolicyState) -> Plan:
    """The statements that take the file from ``old`` to ``new``; empty when nothing is to be written."""
    if old is new:
        return []
    changes = [
        *_plan_tracks(old.tracks, new.tracks, new.latest),
        *_plan_positions(old.positions, new.positions),
        *_plan_mutes(old.mutes, new.mutes),
        *_plan_seen(old.seen_events, new.seen_events),
    ]
    if old.seq != new.seq:
        changes.append((_UPSERT_SEQ, [(new.seq,)]))
    return changes


def write(conn: sqlite3.Connection, changes: Plan) -> None:
    """Run a ``plan``'s statements in one transaction (a savepoint inside the caller's, if open)."""
    ensure_schema(conn)
    with transaction(conn):
        for sql, rows in changes:
            conn.executemany(sql, rows)


Plan = list[tuple[str, list[tuple[Any, ...]]]]

_UPSERT_SEQ = (
    "INSERT INTO policy_meta (name, value) VALUES ('seq', ?) "
    "ON CONFLICT(name) DO UPDATE SET value = excluded.value"
)


def _plan_tracks(
    old: Mapping[str, Track], new: Mapping[str, Track], latest: Mapping[str, Evaluation]
) -> Plan:
    """Untouched tracks are the same objects in both states, so the identity test skips them and
    equality runs only for the few a step replaced."""
    if old is new:
        return []
    plan: Plan = []
    gone = [(key,) for key in old if key not in new]
    if gone:
        plan.append(("DELETE FROM policy_tracks WHERE key = ?", gone))
    changed = [
        _track_row(t, live_facts(latest, t))
        for key, t in new.items()
        if (prev := old.get(key)) is not t and prev != t
    ]
    if changed:
        plan.append(
            (
                "INSERT OR REPLACE INTO policy_tracks (key, kind, level, episode_id, opened_ms, changed_ms, "
                "last_alert_ms, acked_ms, streak, venue, account, symbol, position_side, margin_mode, side, "
                "stream, facts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                changed,
            )
        )
    return plan


def _track_row(t: Track, facts: Facts) -> tuple[Any, ...]:
    s = t.subject
    return (
        t.key,
        t.kind.value,
        int(t.level),
        t.episode_id,
        t.opened_ms,
        t.changed_ms,
        t.last_alert_ms,
        t.acked_ms,
        ",".join(str(n) for n in t.streak),
        s.venue,
        s.account,
        s.symbol,
        s.position_side,
        s.margin_mode,
        s.side,
        s.stream,
        json.dumps(dict(materialised(facts)), separators=(",", ":")),
    )


def _track(row: sqlite3.Row) -> Track:
    a, b, c = (int(n) for n in row["streak"].split(","))
    facts: Facts = json.loads(row["facts"])
    return Track(
        key=row["key"],
        kind=AlertKind(row["kind"]),
        subject=Subject(
            venue=row["venue"],
            account=row["account"],
            symbol=row["symbol"],
            position_side=row["position_side"],
            margin_mode=row["margin_mode"],
            side=row["side"],
            stream=row["stream"],
        ),
        level=Level(row["level"]),
        episode_id=row["episode_id"],
        opened_ms=row["opened_ms"],
        changed_ms=row["changed_ms"],
        last_alert_ms=row["last_alert_ms"],
        acked_ms=row["acked_ms"],
        streak=(a, b, c),
        facts=facts,
    )


def _plan_positions(
    old: Mapping[str, Mapping[PositionKey, KnownPosition]],
    new: Mapping[str, Mapping[PositionKey, KnownPosition]],
) -> Plan:
    if old is new:
        return []
    plan: Plan = []
    gone = [(account,) for account in old if account not in new]
    if gone:
        plan.append(("DELETE FROM policy_accounts WHERE account = ?", gone))
    added: list[tuple[Any, ...]] = []
    removed: list[tuple[Any, ...]] = []
    upserts: list[tuple[Any, ...]] = []
    for account, positions in new.items():
        before = old.get(account)
        if before is positions:
            continue
        if before is None:
            added.append((account,))
            before = {}
        removed += [(account, k[0], k[1].value) for k in before if k not in positions]
        upserts += [
            (account, k[0], k[1].value, p.side.value, p.margin_mode.value)
            for k, p in positions.items()
            if before.get(k) != p
        ]
    if added:
        plan.append(("INSERT OR IGNORE INTO policy_accounts (account) VALUES (?)", added))
    if removed:
        plan.append(
            ("DELETE FROM policy_positions WHERE account = ? AND symbol = ? AND position_side = ?", removed)
        )
    if upserts:
        plan.append(
            (
                "INSERT OR REPLACE INTO policy_positions (account, symbol, position_side, side, margin_mode) "
                "VALUES (?, ?, ?, ?, ?)",
                upserts,
            )
        )
    return plan


def _plan_mutes(old: Mapping[MuteScope, int], new: Mapping[MuteScope, int]) -> Plan:
    if old is new:
        return []
    plan: Plan = []
    gone = [(json.dumps(list(scope)),) for scope in old if scope not in new]
    if gone:
        plan.append(("DELETE FROM policy_mutes WHERE scope = ?", gone))
    upserts = [
        (json.dumps(list(scope)), scope[0], scope[1], until)
        for scope, until in new.items()
        if old.get(scope) != until
    ]
    if upserts:
        plan.append(
            (
                "INSERT OR REPLACE INTO policy_mutes (scope, account, symbol, until_ms) VALUES (?, ?, ?, ?)",
                upserts,
            )
        )
    return plan


def _plan_seen(old: Mapping[str, int], new: Mapping[str, int]) -> Plan:
    if old is new:
        return []
    plan: Plan = []
    gone = [(k,) for k in old if k not in new]
    if gone:
        plan.append(("DELETE FROM policy_seen_events WHERE event_id = ?", gone))
    added = [(k, v) for k, v in new.items() if old.get(k) != v]
    if added:
        plan.append(("INSERT OR REPLACE INTO policy_seen_events (event_id, seen_ms) VALUES (?, ?)", added))
    return plan
