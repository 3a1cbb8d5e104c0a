"""The one surface every exchange adapter offers: what the daemon, the gateway and the demo use.

An adapter watches one venue for any number of accounts. It turns the venue's streams and REST bodies
into :mod:`monitor.events` values handed to a sink (the daemon's queue), answers the order gateway's
reads and requests, and raises only the project's errors (:mod:`monitor.venues.errors`): nothing
outside ``venues/`` knows which client library it is built on. The registry
(:mod:`monitor.venues.registry`) builds one from its ``AdapterFactory``.

Structural: ``BinanceVenue`` satisfies it without inheriting from it, and mypy checks that where its
factory (``venues/binance/factory.py``) returns it as a ``VenueAdapter``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from monitor.events import PositionState
from monitor.model import PositionSide, Venue
from monitor.venues.base import Endpoints, OrderResult, Pacing, Sink, VenueAccount
from monitor.venues.markets import MarketRules

if TYPE_CHECKING:  # the engine (numpy) is not needed to read the registry
    from monitor.daemon.engine import MarketInfo

LegKey = tuple[str, PositionSide]
"""A leg of an account: its unified symbol and position side."""


class VenueAdapter(Protocol):
    """Streams, snapshots, market rules, orders and margin transfers of one venue."""

    @property
    def venue(self) -> Venue: ...

    @property
    def markets(self) -> Sequence[MarketInfo]:
        """The venue's contracts (size, settlement) for the maths; known once ``start`` returned."""
        ...

    @property
    def symbols(self) -> Mapping[str, str]:
        """The venue's market id -> unified symbol (``BTCUSDT`` -> ``BTC/USDT:USDT``)."""
        ...

    # --- streams ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Load the markets, take a first snapshot of every account (tiers, positions, balances), then
        open the streams. Raises ``StartError`` naming the account whose step failed."""
        ...

    async def stop(self) -> None: ...

    def stream_names(self) -> list[str]:
        """The streams whose freshness the daemon watches (``StreamHealth.stream``)."""
        ...

    # --- snapshots --------------------------------------------------------------------------------
    async def resync(self, account: str) -> None:
        """A full REST snapshot of the account, handed to the sink."""
        ...

    async def refresh_tiers(self, account: str | None = None) -> None:
        """The tier tables of one account (or all), handed to the sink as ``TierTable`` events."""
        ...

    def expect_positions(self, account: str, legs: Mapping[LegKey, bool]) -> None:
        """Legs the account held before a restart (``True`` = long): a first snapshot lacking one asks
        the venue what closed it."""
        ...

    # --- markets ----------------------------------------------------------------------------------
    def market_rules(self, symbol: str) -> MarketRules | None:
        """The market's lot size, tick and minimums; None for a symbol the venue does not list."""
        ...

    # --- positions, orders, margin ----------------------------------------------------------------
    async def fetch_position(
        self, account: str, symbol: str, position_side: PositionSide
    ) -> PositionState | None:
        """A fresh read of one leg; None when it is flat."""
        ...

    async def create_reduce_only_market(
        self,
        account: str,
        symbol: str,
        side: str,
        amount: float,
        position_side: PositionSide,
        client_order_id: str,
    ) -> OrderResult:
        """One market order that can only reduce the leg (``side``: "buy" or "sell")."""
        ...

    async def fetch_order_by_client_id(
        self, account: str, symbol: str, client_order_id: str
    ) -> OrderResult | None:
        """The order sent with this client id; None when the venue does not know it."""
        ...

    async def add_isolated_margin(
        self, account: str, symbol: str, amount: float, position_side: PositionSide
    ) -> None:
        """Move ``amount`` of the settlement asset into an isolated leg's wallet."""
        ...


class AdapterFactory(Protocol):
    """Builds a venue's adapter: the venue, its accounts, the sink, where to reach it instead of its
    public hosts (None: the public hosts), and how its clients pace themselves."""

    def __call__(
        self,
        venue: Venue,
        accounts: tuple[VenueAccount, ...],
        sink: Sink,
        endpoints: Endpoints | None,
        pacing: Pacing = ...,
    ) -> VenueAdapter: ...
