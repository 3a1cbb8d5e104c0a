"""Gate's error mapping: ccxt's classes by ``monitor.venues.ccxt_errors``, with Gate's labels where
ccxt is too coarse.

ccxt sorts Gate's replies by ``label`` (its body may carry no ``message``): ``INCREASE_POSITION`` (a
reduce-only order that would grow the position) and ``POSITION_EMPTY`` are ``InvalidOrder``,
``INSUFFICIENT_AVAILABLE`` ``InsufficientFunds``, ``INVALID_SIGNATURE``/``INVALID_KEY``/
``REQUEST_EXPIRED`` ``AuthenticationError``, ``TOO_MANY_REQUESTS`` ``RateLimitExceeded``. ccxt 4.5.90 has
no entry for ``REDUCE_EXCEEDED`` (a hedge reduce beyond its side) or ``POSITION_DUAL_MODE`` (an order
shaped for single mode on a hedge account): both arrive as a bare ``ExchangeError`` and are made
order rejections here, as ``POSITION_EMPTY`` (nothing left to close) is.
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

_REDUCE_ONLY_REJECTED = ("INCREASE_POSITION", "REDUCE_EXCEEDED", "POSITION_EMPTY")
_WRONG_MODE = "POSITION_DUAL_MODE"


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's gate exceptions."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}"
    if isinstance(exc, ccxt_errors.ExchangeError) and not isinstance(exc, ccxt_errors.AuthenticationError):
        for label in _REDUCE_ONLY_REJECTED:
            if f'"{label}"' in text:
                return errors.OrderRejected(message, errors.RejectReason.REDUCE_ONLY_REJECTED)
        if f'"{_WRONG_MODE}"' in text:
            return errors.OrderRejected(
                f"the order's shape does not match the account's position mode ({message})",
                errors.RejectReason.INVALID,
            )
    return by_class(exc, gate)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
