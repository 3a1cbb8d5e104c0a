"""Bybit's error mapping: ccxt's classes by ``monitor.venues.ccxt_errors``, with Bybit's code for a
rejected reduce-only order.

ccxt sorts Bybit's ``retCode``s into its classes (10003/10004 ``AuthenticationError``, 10002
``InvalidNonce``, 10006 ``RateLimitExceeded``, 110001 ``OrderNotFound``, 110007/110044
``InsufficientFunds``, 110017 ``InvalidOrder``: "Reduce-only rule not satisfied").
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

_REDUCE_ONLY_REJECTED = "110017"


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's bybit exceptions."""
    return by_class(exc, gate, reduce_only_code=_REDUCE_ONLY_REJECTED)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
