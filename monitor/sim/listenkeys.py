"""Listen keys for user-data streams, with Binance's lifetime rules.

One active key per account. ``POST`` returns the active key and extends it, or creates one; ``PUT``
extends the active key (``-1125`` if there is none, or if the one named is not it); ``DELETE`` closes
it. A key lives ``ttl_ms`` (60 minutes) after its last extension. An expired key is gone: the next
``POST`` issues a new one. Times are wall-clock milliseconds, passed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from monitor.sim.rejections import Reason, Rejected

DEFAULT_TTL_MS = 60 * 60 * 1000


@dataclass(slots=True)
class ListenKey:
    key: str
    account: str
    expires_ms: int


class ListenKeys:
    def __init__(self, *, ttl_ms: int = DEFAULT_TTL_MS, seed: int = 0) -> None:
        self.ttl_ms = ttl_ms
        self._seed = seed
        self._count = 0
        self._by_key: dict[str, ListenKey] = {}
        self._by_account: dict[str, ListenKey] = {}

    def create(self, account: str, now_ms: int) -> str:
        active = self._by_account.get(account)
        if active is not None:
            active.expires_ms = now_ms + self.ttl_ms
            return active.key
        self._count += 1
        digest = hashlib.sha256(f"listen/{self._seed}/{account}/{self._count}".encode()).digest()
        key = (hashlib.sha256(digest).hexdigest() + digest.hex())[:64]
        entry = ListenKey(key, account, now_ms + self.ttl_ms)
        self._by_key[key] = entry
        self._by_account[account] = entry
        return key

    def keepalive(self, account: str, now_ms: int, key: str | None = None) -> str:
        active = self._by_account.get(account)
        if active is None or (key is not None and key != active.key):
            raise Rejected(Reason.UNKNOWN_LISTEN_KEY, "listenKey")
        active.expires_ms = now_ms + self.ttl_ms
        return active.key

    def close(self, account: str, key: str | None = None) -> str | None:
        active = self._by_account.get(account)
        if active is None or (key is not None and key != active.key):
            return None
        self._drop(active)
        return active.key

    def expire(self, account: str) -> str | None:
        """Forget the account's key now (the caller announces it on the stream)."""
        active = self._by_account.get(account)
        if active is None:
            return None
        self._drop(active)
        return active.key

    def due(self, now_ms: int) -> list[ListenKey]:
        """Keys whose lifetime has run out, removed."""
        gone = [k for k in self._by_key.values() if k.expires_ms <= now_ms]
        for k in gone:
            self._drop(k)
        return gone

    def account_of(self, key: str) -> str | None:
        entry = self._by_key.get(key)
        return entry.account if entry else None

    def active(self, account: str) -> str | None:
        entry = self._by_account.get(account)
        return entry.key if entry else None

    def _drop(self, entry: ListenKey) -> None:
        self._by_key.pop(entry.key, None)
        if self._by_account.get(entry.account) is entry:
            del self._by_account[entry.account]
