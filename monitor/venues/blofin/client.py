"""ccxt.pro's ``blofin`` with the guards every ccxt adapter shares (``venues/ccxt_client.py``) and
three of BloFin's own needs:

- **A nonce that never repeats.** BloFin refuses a nonce its key used in the last 60 s (152407);
  ccxt signs with the millisecond as the nonce, so two requests of one key in the same millisecond
  (a resync beside an order) would have the second refused. Each request here carries the
  millisecond and a counter of this client's own.
- **The broker id.** ccxt puts its own ``brokerId`` on every order, and a key created as a plain
  "API Transaction" key refuses any (152011). ``broker_id`` is sent instead: ``None`` (the default)
  sends none.
- **The raw tap.** The ``positions``, ``account`` and ``orders`` pushes are read raw (``on_frame``):
  ccxt's position cache keeps closed legs, its ``marginRatio`` is a figure of its own, and an order's
  ``orderCategory`` (a liquidation's) is not in its order; ccxt need not parse those frames at all
  (``skips_ccxt``). Nor an ``event: error`` frame, which ccxt raises from its socket loop instead of
  failing the call waiting on it: the adapter reads it and ends the subscription itself.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import Any

import ccxt.pro as ccxtpro

from monitor.venues.ccxt_client import TappedClient

_READ_RAW = ("positions", "account", "orders")


class TappedBlofin(TappedClient, ccxtpro.blofin):  # type: ignore[misc]
    broker_id: str | None = None

    def __init__(self, config: Any = None) -> None:
        super().__init__(config or {})
        self._nonces = itertools.count()

    def nonce_for(self, timestamp: str) -> str:
        """A nonce this client never used: the request's millisecond and a running count."""
        return f"{timestamp}-{next(self._nonces)}"

    def sign(self, path: str, api: Any = "public", method: str = "GET", params: Any = None) -> Any:
        """ccxt's request, re-signed with a nonce of ``nonce_for`` (same prehash, same headers)."""
        signed = super().sign(path, api, method, params if params is not None else {})
        sent = signed.get("headers") or {}
        if "ACCESS-SIGN" not in sent:
            return signed
        url: str = signed["url"]
        request = url[len(self.urls["api"]["rest"]) :]
        timestamp = sent["ACCESS-TIMESTAMP"]
        nonce = self.nonce_for(timestamp)
        auth = request + method + timestamp + nonce + (signed.get("body") or "")
        digest = self.hmac(self.encode(auth), self.encode(self.secret), hashlib.sha256)
        sent["ACCESS-NONCE"] = nonce
        sent["ACCESS-SIGN"] = self.string_to_base64(digest)
        return signed

    def create_order_request(
        self, symbol: Any, type: Any, side: Any, amount: Any, price: Any = None, params: Any = None
    ) -> Any:
        request = super().create_order_request(symbol, type, side, amount, price, params or {})
        if self.broker_id is None:
            request.pop("brokerId", None)
        else:
            request["brokerId"] = self.broker_id
        return request

    def skips_ccxt(self, message: Any) -> bool:
        if isinstance(message, dict) and message.get("event") == "error":
            return True  # ccxt would raise it from its socket loop: the adapter reads it
        if not isinstance(message, dict) or "data" not in message:
            return False
        arg = message.get("arg")
        return isinstance(arg, dict) and arg.get("channel") in _READ_RAW
