"""The project's own errors at the venue boundary.

Every adapter raises these, whatever its client library raises underneath (the Binance adapter maps
ccxt's exception classes at its edge, ``venues/binance/errors.py``), so the gateway and the start-up
report decide what an error means without knowing the library. An adapter written on plain websockets
and HTTP raises the same classes.

The tree is shaped by the one question a caller asks: did the venue answer "no" (the request had no
effect: ``Refused``), or is the outcome unknown (no answer, or one that cannot be read:
``VenueUnavailable``, ``BadResponse``)? An order whose outcome is unknown is looked up, never resent.

Messages keep the venue's own words (its error code and text) and the client's class name; callers
scrub them before they reach a log or a chat (signed URLs).
"""

from __future__ import annotations

from enum import StrEnum


class VenueError(Exception):
    """Anything a venue adapter reports as failed."""


class Refused(VenueError):
    """The venue answered and said no: the request was not executed."""


class AuthenticationRefused(Refused):
    """The venue refused the API key or its signature (a wrong, revoked or unpermitted key)."""


class RejectReason(StrEnum):
    """Why an order (or a margin transfer) was turned down, where the venue says so."""

    INSUFFICIENT_MARGIN = "insufficient_margin"
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"  # it would have opened or grown a position
    INVALID = "invalid"  # size, price or parameters the venue does not take
    OTHER = "other"


class OrderRejected(Refused):
    """The venue turned an order or a margin transfer down; ``reason`` says why where it can."""

    def __init__(self, message: str, reason: RejectReason = RejectReason.OTHER) -> None:
        super().__init__(message)
        self.reason = reason


class OrderNotFound(Refused):
    """The venue does not know the order asked about."""


class VenueUnavailable(VenueError):
    """No answer, or "try again later" (network down, timeout, 5xx, maintenance): the request may or
    may not have been executed."""


class RateLimited(VenueUnavailable):
    """The venue refuses requests from this IP for a while (HTTP 429, or a 418 ban): ``until_ms`` is
    when they may go again (our clock), None when the venue did not say."""

    def __init__(self, message: str, until_ms: int | None = None) -> None:
        super().__init__(message)
        self.until_ms = until_ms


class BadResponse(VenueError):
    """The venue answered something that cannot be read: the request may have been executed."""
