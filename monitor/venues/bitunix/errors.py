"""Bitunix's error codes -> the project's errors (``monitor.venues.errors``).

Bitunix answers every error with HTTP 200 and an integer ``code`` in the body (0 = success): the
status says nothing, the code says everything. Codes from the official demos' tables
(``Demo/Golang/error_codes.go``) and the probe reports (shared fixtures, ``bitunix/README.md``).

What each code means for the caller is the only question (``errors.py``): the venue said no and
nothing happened (``Refused`` and its kinds), or the outcome is unknown (``VenueUnavailable``,
``RateLimited``, ``BadResponse``), in which case an order is looked up, never sent again.
"""

from __future__ import annotations

from collections.abc import Callable

from monitor.venues import errors
from monitor.venues.base import RestGate

OK = 0

AUTH_CODES = frozenset({10003, 10004, 10007})
"""api-key empty, IP not whitelisted, "Sign signature error"."""
RATE_LIMIT_CODES = frozenset({10005, 10006})
""""Too many requests, please try again later", "Request too frequently"."""
INVALID_CODES = frozenset({10008, 20015})
"""A parameter value the venue does not take; a symbol it does not trade (unknown or delisted)."""
INSUFFICIENT_BALANCE = 20003
MODE_CHANGE_CODES = frozenset({20006, 20009})
"""Leverage or margin mode with open orders; position mode with open positions."""
POSITION_NOT_EXIST = 30004
REDUCE_ONLY_CODES = frozenset({30018, 30019})
"""A reduce-only order with no position, or in the position's direction: it would have opened one."""
CLIENT_ID_DUPLICATE = 30042
NETWORK_ERROR = 1
NOT_FOUND = 404

RATE_LIMIT_PAUSE_MS = 1_000
"""Bitunix names no retry time; its limits are counted per second (10 req/s, 5 for margin)."""

MAPPED_CODES = (
    AUTH_CODES
    | RATE_LIMIT_CODES
    | INVALID_CODES
    | MODE_CHANGE_CODES
    | REDUCE_ONLY_CODES
    | {INSUFFICIENT_BALANCE, POSITION_NOT_EXIST, CLIENT_ID_DUPLICATE, NETWORK_ERROR, NOT_FOUND}
)


def error_for(
    code: int, msg: str, *, gate: RestGate | None = None, clock: Callable[[], int] | None = None
) -> errors.VenueError:
    """The project's error for a body's non-zero ``code``. A rate limit closes ``gate`` for a second
    (the venue's window), so no request of any account is sent into it meanwhile."""
    text = f"bitunix {code}: {msg}"
    if code in RATE_LIMIT_CODES:
        until: int | None = None
        if gate is not None:
            now = (clock or gate.clock)()
            gate.close(now + RATE_LIMIT_PAUSE_MS, 429, text)
            until = gate.closed_until()
        return errors.RateLimited(text, until)
    if code in AUTH_CODES:
        return errors.AuthenticationRefused(text)
    if code in REDUCE_ONLY_CODES:
        return errors.OrderRejected(text, errors.RejectReason.REDUCE_ONLY_REJECTED)
    if code == INSUFFICIENT_BALANCE:
        return errors.OrderRejected(text, errors.RejectReason.INSUFFICIENT_MARGIN)
    if code in INVALID_CODES or code == POSITION_NOT_EXIST:
        return errors.OrderRejected(text, errors.RejectReason.INVALID)
    if code == CLIENT_ID_DUPLICATE:
        # an order with this client id exists: the earlier send may have gone through, so the
        # caller must look it up, not read this as "nothing happened"
        return errors.VenueUnavailable(text)
    if code == NETWORK_ERROR:
        return errors.VenueUnavailable(text)
    # 404 (an unknown path), the mode-change refusals and any other code: the venue answered no
    return errors.Refused(text)
