"""How the registry builds a Blofin adapter, without importing ccxt until a daemon needs one."""

from __future__ import annotations

from monitor.model import Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import PRODUCTION, Endpoints, Pacing, Sink, VenueAccount


def make_adapter(
    venue: Venue,
    accounts: tuple[VenueAccount, ...],
    sink: Sink,
    endpoints: Endpoints | None,
    pacing: Pacing = PRODUCTION,
) -> VenueAdapter:
    """A ``BlofinVenue`` (``AdapterFactory``)."""
    from monitor.venues.blofin.venue import BlofinVenue

    return BlofinVenue(
        venue,
        accounts,
        sink,
        endpoints=endpoints,
        rate_limit=pacing.rate_limit,
        close_wait_ms=pacing.close_wait_ms,
        mark_poll_s=pacing.mark_poll_s,
    )
