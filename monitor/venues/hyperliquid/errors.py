"""Hyperliquid's error mapping: ccxt's classes by ``monitor.venues.ccxt_errors``, with Hyperliquid's
words where ccxt's class is too coarse.

Hyperliquid refuses an order with HTTP 200: ``"status": "ok"`` and ``{"error": text}`` in the order's
slot of ``statuses`` (ccxt raises on the first one it finds), and a request with ``{"status": "err",
"response": text}``. Its texts, not codes, say why (docs "Error responses"): "Reduce only order would
increase position." is a rejected reduce-only order; "User or API Wallet 0x... does not exist." is an
agent wallet the exchange does not know, which ccxt files under ``InvalidOrder`` although it is the
signing key that was refused.
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

REDUCE_ONLY_REJECTED = "Reduce only order would increase position"
_UNKNOWN_SIGNER = "does not exist"


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's hyperliquid exceptions."""
    text = str(exc)
    if isinstance(exc, ccxt_errors.ExchangeError) and "API Wallet" in text and _UNKNOWN_SIGNER in text:
        return errors.AuthenticationRefused(
            f"{type(exc).__name__}: {exc} (the agent wallet is not approved for this account)"
        )
    return by_class(exc, gate, reduce_only_code=REDUCE_ONLY_REJECTED)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
