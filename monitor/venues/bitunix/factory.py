"""How the registry builds a Bitunix adapter."""

from __future__ import annotations

from monitor.model import Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import Endpoints, Sink, VenueAccount


def make_adapter(
    venue: Venue, accounts: tuple[VenueAccount, ...], sink: Sink, endpoints: Endpoints | None
) -> VenueAdapter:
    """A ``BitunixVenue`` (``AdapterFactory``)."""
    from monitor.venues.bitunix.venue import BitunixVenue

    return BitunixVenue(venue, accounts, sink, endpoints=endpoints)
