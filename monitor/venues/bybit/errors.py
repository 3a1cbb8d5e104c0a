"""ccxt's exception classes -> the project's (``monitor.venues.errors``), for Bybit.

ccxt sorts Bybit's ``retCode``s into its classes (10003/10004 ``AuthenticationError``, 10002
``InvalidNonce``, 10006 ``RateLimitExceeded``, 110001 ``OrderNotFound``, 110007/110044
``InsufficientFunds``, 110017 ``InvalidOrder``). An ``ExchangeError`` is the venue's "no"
(``Refused``); a network failure or a bad body leaves the outcome unknown. The mapped message keeps
ccxt's class name and the venue's code and words; the ccxt exception stays the ``__cause__``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate

_REDUCE_ONLY_REJECTED = "110017"  # "Reduce-only rule not satisfied"


def to_venue_error(exc: ccxt_errors.BaseError, gate: RestGate | None = None) -> errors.VenueError:
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt_errors.DDoSProtection | ccxt_errors.RateLimitExceeded):
        return errors.RateLimited(message, gate.closed_until() if gate is not None else None)
    if isinstance(exc, ccxt_errors.InvalidNonce):
        # a clock out of the receive window: nothing was done, and trying again may work
        return errors.VenueUnavailable(message)
    if isinstance(exc, ccxt_errors.NetworkError):
        return errors.VenueUnavailable(message)
    if isinstance(exc, ccxt_errors.BadResponse):
        return errors.BadResponse(message)
    if isinstance(exc, ccxt_errors.AuthenticationError | ccxt_errors.PermissionDenied):
        return errors.AuthenticationRefused(message)
    if isinstance(exc, ccxt_errors.OrderNotFound):
        return errors.OrderNotFound(message)
    if isinstance(exc, ccxt_errors.InsufficientFunds):
        return errors.OrderRejected(message, errors.RejectReason.INSUFFICIENT_MARGIN)
    if isinstance(exc, ccxt_errors.InvalidOrder):
        reduce_only = _REDUCE_ONLY_REJECTED in str(exc)
        reason = errors.RejectReason.REDUCE_ONLY_REJECTED if reduce_only else errors.RejectReason.INVALID
        return errors.OrderRejected(message, reason)
    if isinstance(exc, ccxt_errors.ExchangeError):
        return errors.Refused(message)
    return errors.VenueUnavailable(message)


@contextmanager
def venue_errors(gate: RestGate | None = None) -> Iterator[None]:
    """Raise the project's error instead of ccxt's inside the block (the ccxt one as its cause)."""
    try:
        yield
    except ccxt_errors.BaseError as exc:
        raise to_venue_error(exc, gate) from exc


class _Gated(Protocol):
    rest_gate: RestGate


_S = TypeVar("_S", bound=_Gated)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def raises_venue_errors(
    method: Callable[Concatenate[_S, _P], Awaitable[_R]],
) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
    @functools.wraps(method)
    async def mapped(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with venue_errors(self.rest_gate):
            return await method(self, *args, **kwargs)

    return mapped
