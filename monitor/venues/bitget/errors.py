"""ccxt's bitget exceptions -> the project's (``monitor.venues.errors``), with Bitget's own codes.

ccxt's table leaves some of the codes that matter here unmapped or too coarse: 22002 "No position to
close" (a close of a flat leg, or a hedge close sent with the trade-direction side) arrives as a bare
``ExchangeError``; 40774 (an order shaped for the other position mode) as ``InvalidOrder``; 40085 (a
unified-account key on the classic API) as ``PermissionDenied``. Each gets a clear outcome here; the
rest follows the Binance mapping, which is by ccxt class only.
"""

from __future__ import annotations

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate
from monitor.venues.ccxt_errors import ErrorMapping, by_class

NO_POSITION_TO_CLOSE = '"22002"'
POSITION_MODE_MISMATCH = '"40774"'
UNIFIED_ACCOUNT_KEY = '"40085"'
UTA_NOT_SUPPORTED = (
    "this is a unified trading account (UTA) key, and only classic-account keys are supported yet:"
    " create a classic-account API key, or watch this account another way"
)


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    """The project's error for one of ccxt's bitget exceptions."""
    text = str(exc)
    message = f"{type(exc).__name__}: {text}"
    if UNIFIED_ACCOUNT_KEY in text:
        return errors.AuthenticationRefused(f"{UTA_NOT_SUPPORTED} ({message})")
    if NO_POSITION_TO_CLOSE in text:
        return errors.OrderRejected(
            f"no position to close on that side ({message})", errors.RejectReason.REDUCE_ONLY_REJECTED
        )
    if POSITION_MODE_MISMATCH in text:
        return errors.OrderRejected(
            f"the order's shape does not match the account's position mode ({message})",
            errors.RejectReason.INVALID,
        )
    return by_class(exc, gate)


MAPPING = ErrorMapping(to_venue_error)
venue_errors = MAPPING.venue_errors
raises_venue_errors = MAPPING.raises_venue_errors
