"""Point a real ccxt / ccxt.pro ``hyperliquid`` client at a loopback server (the simulator, or a test
fake).

ccxt's Hyperliquid URLs are templates (``https://api.{hostname}``, ``wss://api.hyperliquid.xyz/ws``):
``loopback_urls`` keeps every path and replaces scheme and host, so ``/info``, ``/exchange`` and
``/ws`` land on the same server. Hyperliquid's errors do not depend on the URL, so no exception
lookup needs patching (unlike Binance's)."""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit


def rebase(url: str, base: str) -> str:
    """``url`` with its scheme and host replaced by ``base``; path and query kept."""
    parts = urlsplit(url.replace("{hostname}", "hyperliquid.xyz"))
    query = f"?{parts.query}" if parts.query else ""
    return base.rstrip("/") + parts.path + query


def _rewrite(tree: Any, http_base: str, ws_base: str) -> Any:
    if isinstance(tree, str):
        return rebase(tree, ws_base if tree.startswith(("ws://", "wss://")) else http_base)
    if isinstance(tree, dict):
        return {k: _rewrite(v, http_base, ws_base) for k, v in tree.items()}
    return tree


def loopback_urls(http_base: str, ws_base: str) -> dict[str, Any]:
    """ccxt.pro ``hyperliquid``'s ``urls['api']`` (REST and ``ws``) rebased onto the given server."""
    import ccxt.pro

    template = copy.deepcopy(ccxt.pro.hyperliquid().urls["api"])
    rebased: dict[str, Any] = _rewrite(template, http_base, ws_base)
    return rebased


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme). Returns the exchange."""
    ws = ws_base or "ws" + http_base[len("http") :]
    exchange.urls["api"] = _rewrite(exchange.urls["api"], http_base, ws)
    return exchange
