"""Point a real ccxt / ccxt.pro ``blofin`` client at a loopback server (the simulator, or a test fake).

ccxt's blofin keeps one REST base (``urls['api']['rest']``) and the swap WebSockets under
``urls['api']['ws']['swap']``: ``point_at`` rewrites each onto the given base, keeping the paths::

    ex = ccxt.pro.blofin(sim.ccxt_config("main"))  # already aimed at sim
    point_at(ex, sim.http_url, sim.ws_url)
"""

from __future__ import annotations

from typing import Any


def loopback_urls(
    http_base: str, ws_base: str | None = None, table: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ccxt.pro blofin's ``urls['api']`` table rewritten onto the loopback bases (``table`` keeps
    anything else it holds)."""
    ws = ws_base or "ws" + http_base[len("http") :]
    out = dict(table or {})
    out["rest"] = http_base.rstrip("/")
    out["ws"] = {"swap": {"public": f"{ws.rstrip('/')}/ws/public", "private": f"{ws.rstrip('/')}/ws/private"}}
    return out


def point_at(exchange: Any, http_base: str, ws_base: str | None = None) -> Any:
    """Rewrite ``exchange.urls['api']`` onto ``http_base`` / ``ws_base`` (default: ``http_base`` with a
    ``ws`` scheme). Returns the exchange."""
    exchange.urls["api"] = loopback_urls(http_base, ws_base, exchange.urls["api"])
    return exchange
