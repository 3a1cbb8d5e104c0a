"""What a dialect is: how one venue's API is spoken over the simulator's venue-neutral core.

The core (``ledger``, ``market``, ``scenarios``, ``faults``, ``listenkeys``) keeps the books, moves the
prices, liquidates and refuses with ``rejections.Rejected``. A dialect serves the venue's REST routes
and WebSocket framing over it, checks the venue's signing, maps each refusal to the venue's error
reply and names the books its symbols trade in. ``SimExchange(dialect=...)`` takes one by its venue
name (``DIALECTS`` in ``monitor.sim.dialects``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from monitor.sim.ledger import Account, LedgerEvent
from monitor.sim.specs import SymbolSpec

if TYPE_CHECKING:
    from monitor.sim.book import Book
    from monitor.sim.exchange import SimExchange
    from monitor.sim.scenarios import Scenario

JSON = dict[str, Any]


class Dialect(ABC):
    """One venue's wire, as the simulator speaks it. Stateless: one instance serves any number of
    simulators."""

    #: the venue's name in the registry and the config (``binanceusdm``)
    name: str
    #: how people call it (``Binance USD-M``)
    title: str
    #: the ccxt class that talks to it (``binanceusdm``)
    ccxt_id: str

    def passphrase(self, account: Account) -> str:
        """The account's third credential, for venues that ask for one (Bitget); "" otherwise."""
        return ""

    def market_id(self, spec: SymbolSpec) -> str:
        """The venue's id of a simulated market (what its adapter's ``symbols`` is keyed by): the
        ledger's symbol for most venues; OKX's ``BASE-USDT-SWAP``, Gate's ``BASE_USDT``, Hyperliquid's
        coin."""
        return spec.symbol

    def address(self, account: Account) -> str:
        """The account's public address, for venues that know an account by one (Hyperliquid);
        "" otherwise."""
        return ""

    @abstractmethod
    def make_book(self, name: str) -> Book:
        """A starting book by name (``demo``, ``small``, ``synthetic``) on this venue's symbols."""

    def make_scenario(self, name: str) -> Scenario:
        """A scenario by name (``scenarios.SCENARIOS``), scripted for this venue's books where the
        script names symbols (``demo``)."""
        from monitor.sim.scenarios import make_scenario

        return make_scenario(name)

    @abstractmethod
    def install(self, app: web.Application, sim: SimExchange) -> None:
        """Add the venue's REST and WebSocket routes to the simulator's server."""

    @abstractmethod
    def rest_api(self, sim: SimExchange) -> Any:
        """The REST side (kept on ``sim.rest``: ``requests``, ``request_times``, ``routes``)."""

    @abstractmethod
    def mark_update(self, symbol: str, mark: float, now_ms: int) -> JSON:
        """One symbol's mark-price payload on the market stream."""

    def marks_published(self, sim: SimExchange, now_ms: int) -> None:
        """The marks were published at ``now_ms`` (a tick, or ``publish_marks``; not while the feed is
        stalled), with or without a stream subscribed: a venue whose marks are polled over REST
        (BloFin) serves these until the next publication. Nothing to do for a streaming venue."""
        return

    @abstractmethod
    def user_frame(self, event: LedgerEvent, specs: Mapping[str, SymbolSpec]) -> JSON:
        """The user-stream frame of one ledger event."""

    def user_frames(
        self, event: LedgerEvent, specs: Mapping[str, SymbolSpec], sim: SimExchange
    ) -> list[JSON]:
        """Every user-stream frame of one ledger event, in order: one for most venues; a venue whose
        topics split an event (Bybit's position and wallet) overrides this."""
        return [self.user_frame(event, specs)]

    @abstractmethod
    def listen_key_expired(self, listen_key: str, now_ms: int) -> JSON:
        """The frame that tells a user stream its key is gone."""

    @abstractmethod
    def ccxt_config(self, sim: SimExchange, account: str, **options: Any) -> dict[str, Any]:
        """Constructor config for the venue's ccxt class, aimed at ``sim``."""

    @abstractmethod
    def describe(self, sim: SimExchange) -> list[str]:
        """The lines ``monitor sim`` prints about where and how to connect."""
