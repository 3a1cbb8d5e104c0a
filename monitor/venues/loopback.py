"""Point a real ccxt / ccxt.pro client at a loopback server (the simulator, or a test fake).

ccxt keeps a venue's hosts in ``exchange.urls['api']``: a tree of REST bases per API group and a
``ws`` table, some of them templates (``https://api.{hostname}``). ``point_at`` rewrites every URL in
that tree onto the given base, keeping each path and query, so every group lands on the one server.
Venues whose error classes depend on the URL need more (``venues/binance/urls.py``)::

    ex = ccxt.pro.bybit(config)
    point_at(ex, sim.http_url, sim.ws_url)
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any
from urllib.parse import urlsplit


def rebase(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base``; path and query kept (a ``{hostname}``
    template is filled with a placeholder first, so it parses)."""
    parts = urlsplit(url.replace("{hostname}", "example.com"))
    query = f"?{parts.query}" if parts.query else ""
    return base.rstrip("/") + parts.path + query


def rewrite(tree: Any, http_base: str, ws_base: str) -> Any:
    """Every URL in ``tree`` (strings in nested dicts) rebased: WebSocket URLs onto ``ws_base``, the
    rest onto ``http_base``."""
    if isinstance(tree, str):
        return rebase(tree, ws_base if tree.startswith(("ws://", "wss://")) else http_base)
    if isinstance(tree, dict):
        return {k: rewrite(v, http_base, ws_base) for k, v in tree.items()}
    return tree


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme). Returns the exchange."""
    ws = ws_base or "ws" + http_base[len("http") :]
    exchange.urls["api"] = rewrite(exchange.urls["api"], http_base, ws)
    return exchange


@cache
def _template(exchange_id: str) -> dict[str, Any]:
    import ccxt.pro

    api: dict[str, Any] = getattr(ccxt.pro, exchange_id)().urls["api"]
    return copy.deepcopy(api)


def loopback_urls(exchange_id: str, http_base: str, ws_base: str | None = None) -> dict[str, Any]:
    """ccxt.pro ``exchange_id``'s ``urls['api']`` table rewritten onto the loopback bases: what a
    client's config needs to reach the simulator from its first request."""
    ws = ws_base or "ws" + http_base[len("http") :]
    rewritten: dict[str, Any] = rewrite(_template(exchange_id), http_base, ws)
    return rewritten
