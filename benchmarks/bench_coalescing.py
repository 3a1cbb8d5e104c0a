"""Marks pushed per symbol, as Bybit (every 100 ms) and OKX (every 200 ms) push them: the daemon with
its mark window on and off.

The synthetic book with 200 symbols (50 accounts x 20 positions, the generator ``bench_pipeline``
serves, so each symbol is held by about five accounts) is loaded into a real ``Daemon`` in this
process through its venue sink, as an adapter delivers it (tier tables, one snapshot per account).
Then every symbol's mark is pushed 10 times a second, one ``MarkPrices`` of one symbol per push
(2,000 a second, spread evenly, each a small random step, stamped with its own exchange time), for
a fixed time after a warm-up. Each mode runs in a fresh process. Reported per mode:

- mark received -> decision, p50 and p99: from the push into the daemon's sink to the end of the
  ``Daemon.handle`` (engine, policy, state commit) whose event holds that price or a newer one of its
  symbol;
- decisions (mark evaluations) per second;
- CPU share of one core: the process's CPU time over the wall time, less what the driver alone costs
  (the same pushes into a sink that drops them, measured in its own process and printed);
- resident memory at the end.

What is not measured: no socket, no JSON decoding, no frame validation or parsing (the venue
adapters' part, per frame; ``bench_pipeline`` measures that path for Binance's all-market frame). The
driver wakes about once a millisecond and pushes what is due, so a few updates arrive back to back,
as several frames in one socket read would. The latency bookkeeping (a deque per symbol) runs inside
the measured process and is counted in its CPU.

Targets (issue): CPU under 15 % of one core, p99 under the window + 10 ms.
Run: ``make bench`` or ``python benchmarks/bench_coalescing.py [--seconds 30] [--window-ms 50]``.

``--venue bybit`` runs Bybit's rules (the scalar path: the solver for cross legs, the fee to close)
and builds each push as Bybit's ticker delta read by the adapter's parser (``merge_ticker``), so the
parse of each frame is in the measured CPU (the JSON decoding still is not).

``--venue okx`` runs OKX's rules (tiers by contracts held, the fee to close in the rate, the closed
form for isolated and cross) at OKX's pace: each symbol's mark every 200 ms (5 a second), each push
built as OKX's ``mark-price`` frame and read by the adapter's parser (``parse_mark_push``). The book's
tiers are restated in contracts of one base unit (``contract_tiers`` of a 1-unit contract), which
costs the same as OKX's own contract sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench_engine_policy import snapshot, unified

from monitor.daemon.engine import MarketInfo
from monitor.daemon.service import Daemon, DaemonOptions
from monitor.events import AccountSnapshotEvent, Event, MarkPrices, TierTable
from monitor.logs import configure
from monitor.model import Tier, Venue
from monitor.policy.settings import PolicyConfig
from monitor.sim.book import build_ledger, synthetic_book
from monitor.sim.ledger import Ledger
from monitor.venues.base import Endpoints, VenueAccount, now_ms

VENUE = Venue.BINANCE_USDM  # the engine's rules; the push pattern is a per-symbol venue's
SYMBOLS = 200
RATE_HZ = 10.0  # updates per symbol per second
WARMUP_S = 3.0
OKX_TAKER = 0.0005  # the accounts' taker fee (VenueAccount's default), in OKX's requirement


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class InProcessVenue:
    """A venue adapter without a network: the benchmark pushes events through the sink it got."""

    def __init__(self, venue: Venue, sink: Callable[[Event], None], markets: list[MarketInfo]) -> None:
        self.venue = venue
        self.sink = sink
        self.markets = markets

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def resync(self, account: str) -> None:
        pass

    async def refresh_tiers(self, account: str | None = None) -> None:
        pass

    def stream_names(self) -> list[str]:
        return []


class TimedDaemon(Daemon):
    """Ends the clock of every push its decision covers: a push of a symbol is decided by the first
    mark decision holding that symbol's price at the push's exchange time or a newer one."""

    pending: dict[str, deque[tuple[int, float, bool]]]  # per symbol: exchange time, pushed, measured
    latencies_s: list[float]

    def handle(self, event: Event) -> list[Any]:
        out = super().handle(event)
        if isinstance(event, MarkPrices):
            done = time.perf_counter()
            lat = self.latencies_s
            for symbol in event.prices:
                stamp = event.stamp(symbol)
                waiting = self.pending[symbol]
                while waiting and waiting[0][0] <= stamp:
                    _, pushed, measured = waiting.popleft()
                    if measured:
                        lat.append(done - pushed)
        return out


def okx_sink(sink: Callable[[MarkPrices], None], ids: dict[str, str]) -> Callable[[MarkPrices], None]:
    """Each push as OKX's mark-price frame, read back by the adapter's parser."""
    from monitor.venues.okx.parse import parse_mark_push

    by_id = {market_id: symbol for symbol, market_id in ids.items()}

    def push(ev: MarkPrices) -> None:
        ((symbol, price),) = ev.prices.items()
        inst = ids[symbol]
        row = {"instType": "SWAP", "instId": inst, "markPx": repr(price), "ts": str(ev.event_ms)}
        frame = {"arg": {"channel": "mark-price", "instId": inst}, "data": [row]}
        marks = parse_mark_push(frame, by_id, ev.received_ms, VENUE.value)
        if marks is not None:
            sink(marks)

    return push


def okx_tiers(ledger: Ledger, market_id: str) -> tuple[Tier, ...]:
    """The symbol's tiers as OKX counts them, in contracts of one base unit."""
    spec = ledger.specs[market_id]
    unit = spec.start_price
    out: list[Tier] = []
    for b in spec.brackets:
        floor = out[-1].cap if out else 0.0
        out.append(Tier(floor, max(floor + 1.0, float(round(b.tier.cap / unit))), b.tier.mmr))
    return tuple(out)


def bybit_sink(sink: Callable[[MarkPrices], None], ids: dict[str, str]) -> Callable[[MarkPrices], None]:
    """Each push as Bybit's ticker delta, read back by the adapter's parser."""
    from monitor.venues.bybit.parse import merge_ticker

    known: dict[str, float] = {}
    by_id = {market_id: symbol for symbol, market_id in ids.items()}

    def push(ev: MarkPrices) -> None:
        ((symbol, price),) = ev.prices.items()
        frame = {
            "topic": f"tickers.{ids[symbol]}",
            "type": "delta",
            "data": {"symbol": ids[symbol], "markPrice": repr(price)},
            "cs": ev.event_ms,
            "ts": ev.event_ms,
        }
        marks = merge_ticker(known, frame, by_id, ev.received_ms, VENUE.value)
        if marks is not None:
            sink(marks)

    return push


async def drive(
    sink: Callable[[MarkPrices], None],
    marks: dict[str, float],
    seconds: float,
    pending: dict[str, deque[tuple[int, float, bool]]] | None,
    rng: random.Random,
    *,
    measured: bool = False,
) -> tuple[int, float]:
    """Push every symbol's mark ``RATE_HZ`` times a second for ``seconds``, spread evenly: symbol i
    at i/(n*RATE_HZ) s into each period. Returns how many were pushed, and in how many seconds (more
    than ``seconds`` when the machine could not keep the pace: the rate achieved is printed)."""
    symbols = list(marks)
    gap = 1.0 / (len(symbols) * RATE_HZ)
    start = time.perf_counter()
    stamp0 = now_ms()
    sent = 0
    total = int(seconds * RATE_HZ * len(symbols))
    venue = VENUE.value
    while sent < total:
        now = time.perf_counter()
        due = min(total, int((now - start) / gap) + 1)
        while sent < due:
            symbol = symbols[sent % len(symbols)]
            price = marks[symbol] = round(marks[symbol] * (1.0 + rng.gauss(0.0, 0.0002)), 8)
            stamp = stamp0 + int(sent * gap * 1000)
            if pending is not None:
                pending[symbol].append((stamp, time.perf_counter(), measured))
            sink(MarkPrices(venue, {symbol: price}, stamp, now_ms()))
            sent += 1
        await asyncio.sleep(0.001)
    return sent, time.perf_counter() - start


def load(ledger: Ledger) -> tuple[list[MarketInfo], list[Event]]:
    markets = [MarketInfo(unified(ledger, s)) for s in ledger.specs]
    events: list[Event] = []
    for name, acct in ledger.accounts.items():
        for market_id in {leg.symbol for leg in acct.open_legs()}:
            tiers = okx_tiers(ledger, market_id) if VENUE is Venue.OKX else ledger.specs[market_id].tiers
            events.append(TierTable(VENUE.value, name, unified(ledger, market_id), tiers, 0))
        events.append(snapshot(ledger, name))
    return markets, events


async def run(mode: str, window_ms: int, seconds: float, state_dir: str) -> dict[str, Any]:
    configure("console", "warning")
    ledger = build_ledger(synthetic_book(n_symbols=SYMBOLS))
    if VENUE is Venue.OKX:
        # the exchange's liquidation prices in the snapshots by OKX's rule, as OKX reports them:
        # otherwise every position would disagree with its own exchange and be tracked as a deviation
        for s in ledger.specs:
            charged = tuple(Tier(t.floor, t.cap, t.mmr + OKX_TAKER) for t in okx_tiers(ledger, s))
            ledger.contract_tiers[s] = (1.0, charged)
    marks = {unified(ledger, s): p for s, p in ledger.marks.items()}
    held = {unified(ledger, leg.symbol) for a in ledger.accounts.values() for leg in a.open_legs()}
    rng = random.Random(7)
    if mode == "driver":
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await drive(lambda ev: None, marks, seconds, None, rng)  # pushes are built, then dropped
        return {"cpu_pct": (time.process_time() - cpu0) / (time.perf_counter() - wall0) * 100}
    markets, events = load(ledger)
    events = [replace(e, venue=VENUE.value) if isinstance(e, AccountSnapshotEvent) else e for e in events]
    venues: list[InProcessVenue] = []

    def factory(
        venue: Venue, accts: Any, sink: Callable[[Event], None], endpoints: Endpoints | None
    ) -> InProcessVenue:
        venues.append(InProcessVenue(venue, sink, markets))
        return venues[-1]

    accounts = tuple(VenueAccount(name, "key", "secret", OKX_TAKER) for name in ledger.accounts)
    options = DaemonOptions(
        state_file=str(Path(state_dir) / f"bench-{mode}.sqlite3"),
        policy=PolicyConfig(cross_positions_use_account_ratio=False),
        venues={VENUE: accounts},
        resync_seconds=3600,
        mark_window_ms=window_ms if mode == "on" else 0,
    )
    daemon = TimedDaemon(options, [], adapter_factory=factory)
    daemon.pending = {s: deque() for s in marks}
    daemon.latencies_s = []
    await daemon.start()
    (venue,) = venues
    for event in events:
        venue.sink(event)
    await daemon.drain()
    push: Callable[[MarkPrices], None] = venue.sink
    if VENUE is Venue.BYBIT:
        push = bybit_sink(venue.sink, {unified(ledger, s): s for s in ledger.specs})
    elif VENUE is Venue.OKX:
        push = okx_sink(venue.sink, {unified(ledger, s): f"{s}-SWAP" for s in ledger.specs})
    await drive(push, marks, WARMUP_S, daemon.pending, rng)
    decisions0 = daemon.stats.events["MarkPrices"]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    pushed, drove = await drive(push, marks, seconds, daemon.pending, rng, measured=True)
    await asyncio.sleep(max(0.2, 2 * window_ms / 1000))  # the last window ends
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    decisions = daemon.stats.events["MarkPrices"] - decisions0
    lat = sorted(daemon.latencies_s)
    alerts = sum(daemon.stats.alerts.values())
    rss = rss_mb()
    await daemon.stop()

    def pct(q: float) -> float:
        return lat[min(len(lat) - 1, int(len(lat) * q))] * 1000 if lat else float("nan")

    return {
        "cpu_pct": cpu / wall * 100,
        "pushed": pushed,
        "decided": len(lat),
        "decisions_per_s": decisions / wall,
        "pushed_per_s": pushed / drove,
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "max_ms": lat[-1] * 1000 if lat else float("nan"),
        "rss_mb": rss,
        "held": len(held),
        "alerts": alerts,
    }


def in_subprocess(mode: str, window_ms: int, seconds: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--only", mode, "--window-ms", str(window_ms), "--seconds", str(seconds)]
    cmd += ["--venue", VENUE.value]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main(seconds: float, window_ms: int) -> None:
    driver = in_subprocess("driver", window_ms, seconds)["cpu_pct"]
    rate = SYMBOLS * RATE_HZ
    print(
        f"daemon: 50 accounts x 20 positions over {SYMBOLS} symbols, {VENUE.value} rules;"
        " marks pushed per symbol"
    )
    print(
        f"  {RATE_HZ:.0f}/s per symbol = {rate:.0f} updates/s,"
        f" for {seconds:.0f} s after {WARMUP_S:.0f} s of warm-up"
    )
    print(f"  the driver alone: {driver:.1f} % of one core (subtracted below)")
    for mode, label in (("off", "window off (0 ms)"), ("on", f"window {window_ms} ms")):
        r = in_subprocess(mode, window_ms, seconds)
        if mode == "off":
            print(f"  ({r['held']} of the {SYMBOLS} symbols are held)")
        print(f"{label}:")
        print(
            f"  mark received -> decision: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms,"
            f" max {r['max_ms']:.2f} ms  ({r['decided']} of {r['pushed']} pushes timed)"
        )
        print(
            f"  pushed {r['pushed_per_s']:.0f}/s; decisions: {r['decisions_per_s']:.0f}/s;"
            f" alerts: {r['alerts']}"
        )
        print(
            f"  CPU: {r['cpu_pct'] - driver:.1f} % of one core"
            f" ({r['cpu_pct']:.1f} % with the driver)  (target < 15 %)"
        )
        print(f"  resident memory: {r['rss_mb']:.0f} MB")
    print(f"  (target p99 with the window: < {window_ms + 10} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--window-ms", type=int, default=50)
    parser.add_argument("--only", choices=("off", "on", "driver"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--venue", choices=(Venue.BINANCE_USDM.value, Venue.BYBIT.value, Venue.OKX.value), default=VENUE.value
    )
    args = parser.parse_args()
    VENUE = Venue(args.venue)
    if VENUE is Venue.OKX:
        RATE_HZ = 5.0  # OKX pushes a changed mark every 200 ms
    if args.only:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(asyncio.run(run(args.only, args.window_ms, args.seconds, tmp))))
        os._exit(0)
    main(args.seconds, args.window_ms)
