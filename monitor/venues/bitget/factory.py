"""How the registry builds a Bitget adapter, without importing ccxt until a daemon needs one."""

from __future__ import annotations

from monitor.model import Venue
from monitor.venues.adapter import VenueAdapter
from monitor.venues.base import Endpoints, Sink, VenueAccount


def make_adapter(
    venue: Venue, accounts: tuple[VenueAccount, ...], sink: Sink, endpoints: Endpoints | None
) -> VenueAdapter:
    """A ``BitgetVenue`` (``AdapterFactory``)."""
    from monitor.venues.bitget.venue import BitgetVenue

    return BitgetVenue(venue, accounts, sink, endpoints=endpoints)
