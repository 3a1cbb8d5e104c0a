"""Mark updates that arrive faster than they are worth evaluating, merged into one.

Binance sends one all-market frame a second; Bybit pushes each symbol's ticker every 100 ms and OKX each
instrument's mark every 200 ms. Evaluated one by one, 200 held symbols at 10 updates a second would be
2,000 decisions a second, each re-evaluating the accounts holding one symbol. The daemon instead
evaluates a venue's marks at most once per window (``[service] mark_window_ms``) and merges what
arrives in between into one ``MarkPrices`` (``service.Daemon`` says when a window opens and closes).

Merging keeps the engine's rule (``engine.MarkTimes``): of two prices of a symbol, the one with the
newer exchange time wins, and between equal times the later arrival. An older price that arrives
after a newer one is dropped here, as the engine would drop it.
"""

from __future__ import annotations

from monitor.events import MarkPrices


def hold_for_ms(last_evaluated_ms: int | None, now_ms: int, window_ms: int) -> int:
    """How long a venue's marks arriving at ``now_ms`` wait before they are evaluated: 0 when the
    venue's marks were last evaluated a whole window ago or never (the first mark after a quiet spell
    is not held), else until a window after that evaluation. Never more than one window, even when
    the clock stepped back."""
    if last_evaluated_ms is None:
        return 0
    return max(0, min(last_evaluated_ms + window_ms - now_ms, window_ms))


class HeldMarks:
    """A venue's marks received and not yet evaluated, merged newest-first per symbol.

    The first update is kept as it came and returned as is when nothing joined it; the merged
    mappings are built only when a second one arrives. ``received_ms`` stays the first arrival's:
    the engine and the staleness check read it as when the symbols' marks were received, and a held
    mark must not look fresher than it is (it is at most one window older than the newest)."""

    __slots__ = ("_first", "_prices", "_stamps", "merged", "venue")

    def __init__(self, first: MarkPrices) -> None:
        self.venue = first.venue
        self.merged = 1  # updates taken, the first included
        self._first = first
        self._prices: dict[str, float] | None = None
        self._stamps: dict[str, int] = {}

    def add(self, ev: MarkPrices) -> None:
        """Take a later update of the same venue: each of its prices replaces the held one of its
        symbol unless that one is newer by the exchange's time."""
        prices = self._prices
        stamps = self._stamps
        if prices is None:
            first = self._first
            prices = self._prices = dict(first.prices)
            stamps.update(
                dict.fromkeys(first.prices, first.event_ms) if first.stamps is None else first.stamps
            )
        self.merged += 1
        if ev.stamps is None:
            stamp = ev.event_ms
            for symbol, price in ev.prices.items():
                if stamps.get(symbol, stamp) <= stamp:
                    prices[symbol] = price
                    stamps[symbol] = stamp
        else:
            for symbol, price in ev.prices.items():
                own = ev.stamps[symbol]
                if stamps.get(symbol, own) <= own:
                    prices[symbol] = price
                    stamps[symbol] = own

    def event(self) -> MarkPrices:
        """The merged update: the newest price of every symbol held, each with its exchange time."""
        if self._prices is None:
            return self._first
        stamps = self._stamps
        oldest = min(stamps.values())
        uniform = oldest == max(stamps.values())
        return MarkPrices(
            self.venue, self._prices, oldest, self._first.received_ms, None if uniform else stamps
        )
