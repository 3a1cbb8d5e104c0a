"""How the registry builds a Bitunix adapter."""

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
    """A ``BitunixVenue`` (``AdapterFactory``). ``pacing`` is not used: the client keeps under
    Bitunix's published limits by itself (the simulator's dialect enforces them too), and it has no
    linger on close."""
    from monitor.venues.bitunix.venue import BitunixVenue

    return BitunixVenue(venue, accounts, sink, endpoints=endpoints)
