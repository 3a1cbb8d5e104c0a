"""ccxt's okx exceptions -> the project's (``monitor.venues.errors``), with OKX's per-order codes.

OKX refuses an order with ``code`` "1" and the reason in ``data[].sCode``; ccxt maps the codes it
knows, but 51169 (no position in that direction to reduce: a reduce-only order sent with another
margin mode than the position's, or against a flat side) and 51170 (a reduce-only order in the
position's own direction) arrive as a bare ``ExchangeError`` ("1"). Both are a rejected reduce-only
order here. 51008 and its kin are ccxt's ``InsufficientFunds``; the rest follows the shared mapping.
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

NO_POSITION_IN_DIRECTION = '"sCode": "51169"'
SAME_DIRECTION = '"sCode": "51170"'
NOT_REDUCE_ONLY = "51170"


def _has_code(text: str, quoted: str) -> bool:
    """OKX's bodies are quoted by ccxt with or without a space after the colon."""
    return quoted in text or quoted.replace(": ", ":") in text


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's okx exceptions."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}"
    if _has_code(text, NO_POSITION_IN_DIRECTION):
        return errors.OrderRejected(
            f"no position to reduce in that direction with that margin mode ({message})",
            errors.RejectReason.REDUCE_ONLY_REJECTED,
        )
    if _has_code(text, SAME_DIRECTION):
        return errors.OrderRejected(
            f"a reduce-only order in the position's own direction ({message})",
            errors.RejectReason.REDUCE_ONLY_REJECTED,
        )
    return by_class(exc, gate, reduce_only_code=NOT_REDUCE_ONLY)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
