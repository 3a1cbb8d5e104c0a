"""Server-side state behind inline buttons: a short random token in ``callback_data``, the rest here.

Why server-side: callback_data is at most 64 bytes and comes back from the client, so it cannot be
trusted to carry an account, a symbol and a size. A token is 16 URL-safe characters (96 random bits),
bound to the chat it was shown in, single-use (consumed atomically) and short-lived, so an old or
forwarded button cannot replay an action.

Kinds:
- ``offer``: a Reduce/Close/Add-margin button under an alert; pressing it asks for a preview.
- ``confirm``: the Confirm/Cancel pair under a preview; carries the live size the preview showed.
- ``ack``: the Ack button under a critical alert; carries the alert keys it acknowledges.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from monitor.daemon.store import migrate, transaction
from monitor.notify.ports import ActionKind, ActionRequest

SCHEMA = [
    """CREATE TABLE notify_pending_actions (
        token TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('offer', 'confirm', 'ack')),
        chat_id INTEGER NOT NULL,
        account TEXT NOT NULL DEFAULT '',
        symbol TEXT NOT NULL DEFAULT '',
        position_side TEXT NOT NULL DEFAULT 'both',
        action TEXT,
        fraction REAL,
        amount REAL,
        size_seen REAL,
        ttl_ms INTEGER NOT NULL,
        keys TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms INTEGER,
        used_by INTEGER
    )""",
    "CREATE INDEX notify_pending_actions_expiry ON notify_pending_actions (expires_ms)",
]

TOKEN_BYTES = 12  # 16 characters of base64url


class TokenKind(StrEnum):
    OFFER = "offer"
    CONFIRM = "confirm"
    ACK = "ack"


class Refusal(StrEnum):
    UNKNOWN = "This button is not known (or was cleaned up)."
    EXPIRED = "This button has expired. Wait for the next alert or use /positions."
    USED = "This button was already used."
    WRONG_CHAT = "This button belongs to another chat."
    WRONG_KIND = "This button cannot do that."


@dataclass(frozen=True, slots=True)
class PendingAction:
    token: str
    kind: TokenKind
    chat_id: int
    account: str
    symbol: str
    position_side: str
    action: ActionKind | None
    fraction: float | None
    amount: float | None
    size_seen: float | None
    keys: tuple[str, ...]

    def request(self) -> ActionRequest:
        if self.action is None:
            raise ValueError("not an action token")
        return ActionRequest(
            account=self.account,
            symbol=self.symbol,
            position_side=self.position_side,
            action=self.action,
            fraction=self.fraction,
            amount=self.amount,
        )


class PendingActions:
    def __init__(self, conn: sqlite3.Connection, *, clock_ms: Callable[[], int] | None = None) -> None:
        self._conn = conn
        self._clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        migrate(conn, "notify_pending_actions", SCHEMA)

    def create(
        self,
        kind: TokenKind,
        chat_id: int,
        *,
        ttl_s: float,
        request: ActionRequest | None = None,
        size_seen: float | None = None,
        keys: Sequence[str] = (),
    ) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock_ms()
        ttl_ms = int(ttl_s * 1000)
        self._conn.execute(
            "INSERT INTO notify_pending_actions (token, kind, chat_id, account, symbol, position_side, "
            "action, fraction, amount, size_seen, ttl_ms, keys, created_ms, expires_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                token,
                kind.value,
                chat_id,
                request.account if request else "",
                request.symbol if request else "",
                request.position_side if request else "both",
                request.action.value if request else None,
                request.fraction if request else None,
                request.amount if request else None,
                size_seen,
                ttl_ms,
                json.dumps(list(keys)),
                now,
                now + ttl_ms,
            ),
        )
        return token

    def restart_clock(self, tokens: Sequence[str]) -> None:
        """Start the tokens' lifetime now: called when the message carrying them was delivered, so a
        message held back by an outage does not arrive with dead buttons."""
        if not tokens:
            return
        now = self._clock_ms()
        with transaction(self._conn) as c:
            c.executemany(
                "UPDATE notify_pending_actions SET expires_ms = ? + ttl_ms "
                "WHERE token = ? AND used_ms IS NULL",
                [(now, t) for t in tokens],
            )

    def give_back(self, token: str) -> None:
        """Undo ``consume`` when the press could not be served (the preview could not be sent), so the
        user can press again while the token lives."""
        self._conn.execute(
            "UPDATE notify_pending_actions SET used_ms = NULL, used_by = NULL WHERE token = ?", (token,)
        )

    def discard(self, tokens: Sequence[str]) -> None:
        if tokens:
            with transaction(self._conn) as c:
                c.executemany("DELETE FROM notify_pending_actions WHERE token = ?", [(t,) for t in tokens])

    def consume(
        self, token: str, *, chat_id: int, user_id: int, kinds: Sequence[TokenKind]
    ) -> PendingAction | Refusal:
        """Use a token once: valid only in its own chat, before expiry, if unused and of one of ``kinds``.
        The check-and-mark is a single UPDATE, so two presses racing cannot both win."""
        now = self._clock_ms()
        with transaction(self._conn) as c:
            row = c.execute("SELECT * FROM notify_pending_actions WHERE token = ?", (token,)).fetchone()
            if row is None:
                return Refusal.UNKNOWN
            if int(row["chat_id"]) != chat_id:
                return Refusal.WRONG_CHAT
            if TokenKind(row["kind"]) not in kinds:
                return Refusal.WRONG_KIND
            if row["used_ms"] is not None:
                return Refusal.USED
            if int(row["expires_ms"]) <= now:
                return Refusal.EXPIRED
            cur = c.execute(
                "UPDATE notify_pending_actions SET used_ms = ?, used_by = ? "
                "WHERE token = ? AND used_ms IS NULL",
                (now, user_id, token),
            )
            if cur.rowcount != 1:
                return Refusal.USED
        return PendingAction(
            token=token,
            kind=TokenKind(row["kind"]),
            chat_id=int(row["chat_id"]),
            account=str(row["account"]),
            symbol=str(row["symbol"]),
            position_side=str(row["position_side"]),
            action=None if row["action"] is None else ActionKind(row["action"]),
            fraction=row["fraction"],
            amount=row["amount"],
            size_seen=row["size_seen"],
            keys=tuple(json.loads(row["keys"])),
        )

    def purge(self, older_than_ms: int) -> int:
        """Delete tokens that expired before ``older_than_ms``."""
        cur = self._conn.execute("DELETE FROM notify_pending_actions WHERE expires_ms < ?", (older_than_ms,))
        return int(cur.rowcount)
