"""Point a real ccxt Binance client at a loopback server (the simulator, or a test fake).

``point_at`` rewrites every URL in ``exchange.urls['api']`` (REST: ``fapiPublic``, ``fapiPrivateV3``,
``sapi``, ``public``...; ccxt.pro: the ``ws`` table) to the same path on the given base, and teaches
the instance which market a loopback URL belongs to. ccxt maps Binance error codes to exception
classes per market type, chosen by URL prefix (``https://fapi.binance.com/`` -> linear); on any other
host the lookup falls back to the shared table, so -2019 would surface as a bare ``ExchangeError``
instead of ``InsufficientFunds``. The patch classifies by path instead (``/fapi/`` linear, ``/dapi/``
inverse, ``/api/`` and ``/sapi/`` spot, ``/papi/`` portfolio margin, ``/eapi/`` options)::

    ex = ccxt.pro.binanceusdm(sim.ccxt_config("main"))
    point_at(ex, sim.http_url, sim.ws_url)
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any
from urllib.parse import urlsplit

_MARKET_BY_PREFIX = (
    ("/fapi/", "linear"),
    ("/futures/", "linear"),
    ("/dapi/", "inverse"),
    ("/papi/", "portfolioMargin"),
    ("/eapi/", "option"),
    ("/sapi/", "spot"),
    ("/api/", "spot"),
)


def rebase(url: str, base: str) -> str:
    """``url`` with its scheme, host and port replaced by ``base``; path and query kept."""
    parts = urlsplit(url)
    query = f"?{parts.query}" if parts.query else ""
    return base.rstrip("/") + parts.path + query


def _rewrite(tree: Any, http_base: str, ws_base: str) -> Any:
    if isinstance(tree, str):
        return rebase(tree, ws_base if tree.startswith(("ws://", "wss://")) else http_base)
    if isinstance(tree, dict):
        return {k: _rewrite(v, http_base, ws_base) for k, v in tree.items()}
    return tree


def market_type_of(url: str) -> str | None:
    path = urlsplit(url).path
    for prefix, market_type in _MARKET_BY_PREFIX:
        if path.startswith(prefix):
            return market_type
    return None


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme) and patch the instance's ``get_exceptions_by_url``. Returns the exchange."""
    ws = ws_base or "ws" + http_base[len("http") :]
    exchange.urls["api"] = _rewrite(exchange.urls["api"], http_base, ws)
    original = exchange.get_exceptions_by_url
    bases = (http_base.rstrip("/") + "/", ws.rstrip("/") + "/")

    def get_exceptions_by_url(url: str | None, exact_or_broad: str) -> dict[str, Any]:
        if url and url.startswith(bases):
            market_type = market_type_of(url)
            if market_type is None:
                return {}
            table = exchange.safe_dict(exchange.exceptions, market_type, {})
            result: dict[str, Any] = exchange.safe_dict(table, exact_or_broad, {})
            return result
        fallback: dict[str, Any] = original(url, exact_or_broad)
        return fallback

    exchange.get_exceptions_by_url = get_exceptions_by_url
    return exchange


@cache
def _template() -> dict[str, Any]:
    import ccxt.pro

    api: dict[str, Any] = ccxt.pro.binanceusdm().urls["api"]
    return copy.deepcopy(api)


def loopback_urls(http_base: str, ws_base: str | None = None) -> dict[str, Any]:
    """ccxt.pro binanceusdm's ``urls['api']`` table rewritten onto the loopback bases."""
    ws = ws_base or "ws" + http_base[len("http") :]
    rewritten: dict[str, Any] = _rewrite(_template(), http_base, ws)
    return rewritten
