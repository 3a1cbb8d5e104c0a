"""Point a real ccxt / ccxt.pro ``bitget`` client at a loopback server (the simulator, or a test fake).

Bitget's REST table is one host per API group (``https://api.{hostname}``) and the WebSocket table
names ``public``/``private`` (classic v2) and ``utaPublic``/``utaPrivate`` (v3): ``point_at`` rewrites
each onto the given base, keeping the paths. ccxt's bitget picks its exception classes from the body's
code alone, so unlike Binance no per-URL patch is needed::

    ex = ccxt.pro.bitget(sim.ccxt_config("main"))
    point_at(ex, sim.http_url, sim.ws_url)
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from monitor.venues.binance.urls import rebase


def _rewrite(tree: Any, http_base: str, ws_base: str) -> Any:
    if isinstance(tree, str):
        return rebase(tree, ws_base if tree.startswith(("ws://", "wss://")) else http_base)
    if isinstance(tree, dict):
        return {k: _rewrite(v, http_base, ws_base) for k, v in tree.items()}
    return tree


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme). Returns the exchange."""
    exchange.urls["api"] = loopback_urls(http_base, ws_base, exchange.urls["api"])
    return exchange


@cache
def _template() -> dict[str, Any]:
    import ccxt.pro

    api: dict[str, Any] = ccxt.pro.bitget().urls["api"]
    return copy.deepcopy(api)


def loopback_urls(
    http_base: str, ws_base: str | None = None, table: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ccxt.pro bitget's ``urls['api']`` table (or ``table``) rewritten onto the loopback bases."""
    ws = ws_base or "ws" + http_base[len("http") :]
    rewritten: dict[str, Any] = _rewrite(table if table is not None else _template(), http_base, ws)
    return rewritten
