"""ccxt's blofin exceptions -> the project's (``monitor.venues.errors``), with BloFin's own codes.

ccxt maps 102022 (a reduce-only order with no position to reduce) to a plain ``InvalidOrder`` and
152011/152013 (a key that refuses the broker id sent) to ``PermissionDenied``, which would read as a
refused key; each gets a clear outcome here. The rest follows the shared mapping, by ccxt class.
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

NO_POSITION = '"102022"'
POSITION_MODE_MISMATCH = '"102089"'
BROKER_REFUSED = ('"152011"', '"152013"')
BROKER_HINT = (
    "the key refuses the broker id the order carried: leave broker_id unset for a key created as a"
    " plain API transaction key, or set the id of the broker the key was created for"
)


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's blofin exceptions."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}"
    if NO_POSITION in text:
        return errors.OrderRejected(
            f"no position to reduce on that side ({message})", errors.RejectReason.REDUCE_ONLY_REJECTED
        )
    if POSITION_MODE_MISMATCH in text:
        return errors.OrderRejected(
            f"the order's positionSide does not match the account's position mode ({message})",
            errors.RejectReason.INVALID,
        )
    if any(code in text for code in BROKER_REFUSED):
        return errors.OrderRejected(f"{BROKER_HINT} ({message})", errors.RejectReason.INVALID)
    return by_class(exc, gate)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
