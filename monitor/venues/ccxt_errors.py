"""ccxt's exception classes -> the project's (``monitor.venues.errors``), for every adapter on ccxt.

ccxt sorts each venue's replies into its classes by error code (authentication, insufficient funds,
invalid order, order not found, 418/429 DDoSProtection, 5xx and timeouts NetworkError). What matters to
the caller is kept: an ``ExchangeError`` is the venue's "no" (``Refused``); a ``NetworkError``, a
``BadResponse`` or any other ``OperationFailed`` leaves the outcome unknown. The mapped error's message
starts with ccxt's class name and keeps its text (the venue's code and words); the ccxt exception
stays reachable as ``__cause__``. A venue adds what its codes need in front (``ErrorMapping``):
which code says "reduce-only rejected", and any code ccxt leaves too coarse.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from ccxt.base import errors as ccxt_errors

from monitor.venues import errors
from monitor.venues.base import RestGate

Mapper = Callable[[ccxt_errors.BaseError, RestGate | None], errors.VenueError]


def by_class(
    exc: ccxt_errors.BaseError, gate: RestGate | None = None, *, reduce_only_code: str = ""
) -> errors.VenueError:
    """The project's error for one of ccxt's, by its class. ``gate`` tells a rate limit's end when
    it is known; an ``InvalidOrder`` whose text holds ``reduce_only_code`` is a rejected reduce-only
    order. A nonce or timestamp out of the venue's window did nothing, and trying again may work."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt_errors.DDoSProtection | ccxt_errors.RateLimitExceeded):
        return errors.RateLimited(message, gate.closed_until() if gate is not None else None)
    if isinstance(exc, ccxt_errors.NetworkError | ccxt_errors.InvalidNonce):
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
        reduce_only = bool(reduce_only_code) and reduce_only_code in str(exc)
        reason = errors.RejectReason.REDUCE_ONLY_REJECTED if reduce_only else errors.RejectReason.INVALID
        return errors.OrderRejected(message, reason)
    if isinstance(exc, ccxt_errors.ExchangeError):
        return errors.Refused(message)
    # OperationFailed and anything newer: no answer that says "not executed"
    return errors.VenueUnavailable(message)


class _Gated(Protocol):
    rest_gate: RestGate


_S = TypeVar("_S", bound=_Gated)
_P = ParamSpec("_P")
_R = TypeVar("_R")


class ErrorMapping:
    """One venue's mapping, and the two ways an adapter applies it: around a block
    (``venue_errors``) and around a method (``raises_venue_errors``, with the adapter's REST gate)."""

    def __init__(self, to_venue_error: Mapper) -> None:
        self.to_venue_error = to_venue_error

    def venue_errors(self, gate: RestGate | None = None) -> AbstractContextManager[None]:
        """Raise the project's error instead of ccxt's inside the block (the ccxt one as its cause)."""
        return _mapped(self.to_venue_error, gate)

    def raises_venue_errors(
        self, method: Callable[Concatenate[_S, _P], Awaitable[_R]]
    ) -> Callable[Concatenate[_S, _P], Coroutine[Any, Any, _R]]:
        """An adapter method that raises the project's errors, never ccxt's."""

        @functools.wraps(method)
        async def mapped(self_: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with _mapped(self.to_venue_error, self_.rest_gate):
                return await method(self_, *args, **kwargs)

        return mapped


@contextmanager
def _mapped(to_venue_error: Mapper, gate: RestGate | None) -> Iterator[None]:
    try:
        yield
    except ccxt_errors.BaseError as exc:
        raise to_venue_error(exc, gate) from exc
