"""Point a real ccxt / ccxt.pro ``gate`` client at a loopback server (the simulator, or a test fake).

ccxt's gate REST tables are one base per API group (``https://api.gateio.ws/api/v4``): each keeps its
path on the new host. Its WebSocket table is per market type and settle currency, and ccxt.pro's gate
tells a futures socket from a spot one by the URL alone (``fx`` in the host or ``/ws/futures/`` in the
path: without either, its position handler fails on a ``'spot'`` cache). A loopback host has no
``fx``, so the perpetuals' sockets are placed under ``/v4/ws/futures/<settle>``, the path the
simulator serves; spot keeps its own::

    ex = ccxt.pro.gate({"apiKey": KEY, "secret": SECRET, "uid": UID})
    point_at(ex, sim.http_url, sim.ws_url)
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from monitor.venues.binance.urls import rebase

FUTURES_WS_PATH = "/v4/ws/futures/{settle}"


def _rewrite(tree: Any, http_base: str, ws_base: str, market: str | None = None, settle: str = "") -> Any:
    if isinstance(tree, str):
        if not tree.startswith(("ws://", "wss://")):
            return rebase(tree, http_base)
        if market == "swap":
            return ws_base.rstrip("/") + FUTURES_WS_PATH.format(settle=settle)
        if market == "future":
            return ws_base.rstrip("/") + "/v4/ws/futures/delivery/" + settle
        return rebase(tree, ws_base)
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            if market is None and key in ("swap", "future", "option"):
                out[key] = _rewrite(value, http_base, ws_base, key)
            elif market is not None:
                out[key] = _rewrite(value, http_base, ws_base, market, key)
            else:
                out[key] = _rewrite(value, http_base, ws_base)
        return out
    return tree


@cache
def _template() -> dict[str, Any]:
    import ccxt.pro

    api: dict[str, Any] = ccxt.pro.gate().urls["api"]
    return copy.deepcopy(api)


def loopback_urls(
    http_base: str, ws_base: str | None = None, table: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ccxt.pro gate's ``urls['api']`` table (or ``table``) rewritten onto the loopback bases."""
    ws = ws_base or "ws" + http_base[len("http") :]
    rewritten: dict[str, Any] = _rewrite(table if table is not None else _template(), http_base, ws)
    return rewritten


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme). Returns the exchange."""
    exchange.urls["api"] = loopback_urls(http_base, ws_base, exchange.urls["api"])
    return exchange
